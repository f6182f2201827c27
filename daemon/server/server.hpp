// server.hpp: the daemon's one io thread — accepts connections, owns the Registry, feeds
// frames to the dispatcher, routes parked calls' answers to their sessions, and stops
// gracefully. The socket and (later) the shared-memory rings feed the same dispatch.
// Not here: flags, config, logging setup (daemon/main.cpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "daemon/core/registry.hpp"
#include "daemon/server/peer_credentials.hpp"
#include "daemon/server/session.hpp"
#include "daemon/server/snapshot_store.hpp"
#include "proto/codec.hpp"

namespace sysvmq::server {

struct ServerOptions {
  proto::Limits limits;
  std::uint32_t max_frame_bytes = proto::kDefaultMaxFrameBytes;
  std::uint32_t max_connections = 4096;
  std::uint32_t max_connections_per_uid = 1024;   // 0: only the total counts
  std::uint32_t max_parked_per_connection = 64;   // 0: no cap
  // A started frame must be complete within this (0: no deadline); never applies to a
  // connection idle between frames or waiting for a parked call.
  std::chrono::milliseconds frame_deadline{10000};
  std::size_t max_output_bytes = 4u << 20;  // per session, before reading pauses
  CredentialPolicy credentials;
  bool fast_path = true;            // answer RING_SETUP (PROTOCOL.md "Rings")
  std::uint64_t ring_bytes = 64 * 1024;  // per ring, a power of two
};

// Each limit's refusals are counted here (shown by ADMIN stats) and logged once per
// session (or, for refused connections, once until a connection is accepted again).
struct ServerCounters {
  std::uint64_t connections_total = 0;
  std::uint64_t accept_failures = 0;  // failed accept() calls, e.g. EMFILE (each retried)
  // max_connections, and connections whose peer could not be read for lack of descriptors
  std::uint64_t connections_refused = 0;
  std::uint64_t connections_refused_per_uid = 0;  // max_connections_per_uid
  std::uint64_t queues_refused_per_uid = 0;       // max_queues_per_uid (ENOSPC)
  std::uint64_t sends_refused_quota = 0;          // max_queued_bytes (ENOMEM)
  std::uint64_t parks_refused = 0;                // max_parked_per_connection (ENOMEM)
  std::uint64_t frames_too_large = 0;             // max_frame_bytes: connection closed
  std::uint64_t frame_deadline_closes = 0;        // frame_deadline_ms
  std::uint64_t output_pauses = 0;                // max_output_bytes: reading paused
  std::uint64_t requests_total = 0;
  std::uint64_t sessions_closed_bad_input = 0;
  std::uint64_t messages_restored = 0;
  std::uint64_t rings_set_up = 0;
  std::uint64_t sends_on_credit = 0;
  std::uint64_t credit_revocations = 0;
  std::uint64_t receives_on_lease = 0;
  std::uint64_t lease_revocations = 0;
};

// What the daemon did with its state directory (ADMIN stats "snapshots").
struct SnapshotInfo {
  std::string state_dir;                 // "" when snapshots are off
  std::chrono::seconds interval{0};      // 0: only at a graceful stop
  std::uint64_t loaded_queues = 0;       // from the snapshot found at start
  std::uint64_t loaded_messages = 0;
  std::int64_t loaded_taken_at = 0;      // 0 when none was loaded
  std::string refused;                   // why the one found at start was refused
  std::string kept_aside;                // where it went
};

class Server {
 public:
  // Takes ownership of `listen_fd`, a bound and listening AF_UNIX stream socket.
  Server(boost::asio::io_context& io, int listen_fd, const ServerOptions& options);
  ~Server();

  void start();
  // SIGTERM/SIGINT: stop accepting; every parked call is answered kStatusShuttingDown
  // (it never entered or left a queue); sessions close once their replies are written.
  void stop();

  // ---- snapshots (core/snapshot.hpp, snapshot_store.hpp) ----
  // Before start(): the queues of the snapshot found at start.
  void load(core::SavedRegistry&& saved) { registry_.load(std::move(saved)); }
  // Every `interval`, when any call ran since the last one, the queues are encoded on
  // this thread and handed to `writer`'s thread. `info` is what stats report.
  void enable_snapshots(SnapshotWriter* writer, SnapshotInfo info);
  // After stop(): sessions still open when the stop's deadline passed are closed, so the
  // messages in their unwritten replies are back in their queues before the final
  // snapshot.
  void close_remaining_sessions();
  const SnapshotInfo& snapshot_info() const { return snapshot_info_; }
  const SnapshotWriter* snapshot_writer() const { return snapshot_writer_; }

  // ---- used by Session ----
  void on_frame(Session& s, const proto::FrameHeader& h, std::span<const std::byte> body,
                Channel channel);
  void on_session_closed(Session& s, std::deque<std::pair<int, core::Message>> unsent);
  // The connection is closing: whatever send credit it still holds goes back; what it
  // claimed of its lent messages is settled, the rest is simply queued again.
  void release_credit(Session& s);
  void release_lease(Session& s);
  void cancel_parked(Session& s);

  // ADMIN set_limits (stats.cpp): Rule 1.11, later calls only; logged with `by`.
  void set_limits(const proto::Limits& limits, const core::Caller& by);

  // ---- introspection (admin answers, tests) ----
  const core::Registry& registry() const { return registry_; }
  const ServerOptions& options() const { return options_; }
  const ServerCounters& counters() const { return counters_; }
  ServerCounters& counters() { return counters_; }  // sessions count their limits
  std::size_t session_count() const { return sessions_.size(); }
  std::size_t ring_session_count() const { return ring_sessions_.size(); }
  std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  struct Route {
    std::weak_ptr<Session> session;
    ReplyTo reply_to;
    proto::Opcode opcode;
    int msqid;
    int msgflg;
    std::int64_t msgsz;
  };

  void accept_next();
  void arm_snapshot_timer();
  void take_periodic_snapshot();
  std::uint64_t activity() const {
    return counters_.requests_total + counters_.receives_on_lease + counters_.messages_restored;
  }
  // max_connections, max_connections_per_uid: true when `socket` was refused (told
  // EAGAIN, closed, counted, logged once per episode).
  bool refuse_if_over_limits(Session::Socket& socket);
  void dispatch(Session& s, const Incoming& h, proto::Request&& req);
  void handle_hello(Session& s, const Incoming& h, const proto::HelloRequest& r);
  void handle_msgget(Session& s, const Incoming& h, const proto::MsggetRequest& r);
  void handle_msgsnd(Session& s, const Incoming& h, proto::MsgsndRequest&& r);
  void handle_msgrcv(Session& s, const Incoming& h, const proto::MsgrcvRequest& r);
  void handle_msgctl(Session& s, const Incoming& h, const proto::MsgctlRequest& r);
  void handle_cancel(Session& s, const Incoming& h);
  void handle_admin(Session& s, const Incoming& h, const proto::AdminRequest& r);
  void handle_ring_setup(Session& s, const Incoming& h);
  // Records a call the core parked; false when max_parked_per_connection refused it
  // (then it was withdrawn and answered ENOMEM).
  bool park(Session& s, const Incoming& h, core::WaiterId w, int msqid, int msgflg,
            std::int64_t msgsz);

  // The ring poller (PROTOCOL.md "Waiting"): while rings are busy the daemon's thread
  // keeps polling them between socket events; after kRingActiveWindow without work it
  // marks every ring idle and sleeps until a DOORBELL.
  void wake_ring_poller();
  void poll_rings();

  // Send credit (PROTOCOL.md "Send credit"). Before the daemon acts on any call it runs
  // every entry published in a ring that holds credit, so no completed send is missing
  // from what the call sees. Credit is revoked before anything that would make a promised
  // send wrong or unfair: removal, IPC_SET, new limits, a sender that would fit but for
  // the promise, a stop.
  void settle_credited(Session& current);
  void maybe_grant(Session& s, int msqid);
  void revoke_credit(Session& s);
  void revoke_credit_on(int msqid);
  void revoke_all_credit();
  void forget_credited(const Session& s);  // its ledger is empty

  // Lending (PROTOCOL.md "Lent messages"). Claims are settled before the daemon acts on
  // any call (like credit); a lease is revoked before any other receive on its queue,
  // IPC_SET, IPC_RMID, a restore, a stop.
  void settle_leases();
  bool settle_claims(Session& s);  // true when any claim was settled
  bool settle_claims_to(Session& s, std::uint64_t head);
  bool refill_lease(Session& s);   // true when anything was lent
  void maybe_lease(Session& s, int msqid, std::int64_t msgtyp);
  void revoke_lease(Session& s);
  void revoke_lease_on(int msqid);
  void deliver_completions();
  void settle_pending_input(Session& current);
  const core::Caller& caller_for(Session& s, std::uint16_t flags) const;

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  ServerOptions options_;
  core::Registry registry_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions_;
  std::unordered_map<std::uint32_t, std::uint32_t> connections_by_uid_;  // open, > 0
  bool total_refusal_logged_ = false;             // since the last accepted connection
  std::unordered_set<std::uint32_t> uid_refusal_logged_;  // likewise, per uid
  std::unordered_map<core::WaiterId, Route> routes_;
  std::vector<std::shared_ptr<Session>> ring_sessions_;
  std::vector<std::shared_ptr<Session>> credited_;  // sessions whose ledger is not empty
  std::vector<std::shared_ptr<Session>> leased_;    // sessions holding a lease
  bool settling_credit_ = false;
  int revoking_ = 0;  // revocations in progress: no credit is granted meanwhile
  bool ring_poll_posted_ = false;
  bool rings_idle_ = true;  // every ring's daemon_idle word says 1
  std::chrono::steady_clock::time_point ring_active_until_;
  ServerCounters counters_;
  SnapshotWriter* snapshot_writer_ = nullptr;
  SnapshotInfo snapshot_info_;
  boost::asio::steady_timer snapshot_timer_;
  std::uint64_t activity_at_last_snapshot_ = 0;
  std::uint64_t next_session_id_ = 1;
  bool stopping_ = false;
  bool accept_failing_ = false;  // since the last failed accept, none has succeeded
  bool settling_ = false;
  std::chrono::steady_clock::time_point started_;
  // A descriptor held back (/dev/null) so that a connection accepted into the last free
  // one can still have its /proc read: closed for that, then taken again.
  int reserve_fd_ = -1;
  bool starved_logged_ = false;  // "dropped for lack of descriptors" said this episode
};

// Seconds since the Epoch for msg_stime / msg_rtime / msg_ctime (Rule 6.1).
core::TimePoint now_coarse();

}  // namespace sysvmq::server
