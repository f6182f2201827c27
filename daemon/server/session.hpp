// session.hpp: one client connection — non-blocking reads into a FrameDecoder, frames
// handed to the Server, replies written in order, back-pressure, and a clean close that
// withdraws the connection's parked calls.
// Not here: what a request means (dispatcher.cpp), accepting (server.cpp).
// Touched only on the daemon's io thread.
#pragma once

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "daemon/core/outcome.hpp"
#include "daemon/core/queue.hpp"
#include "daemon/server/peer_credentials.hpp"
#include "daemon/server/ring_channel.hpp"
#include "proto/codec.hpp"

namespace sysvmq::server {

class Server;

// Which of a connection's two transports a request came by; its reply goes back the
// same way (a reply too big for the completion ring goes by the socket).
enum class Channel : std::uint8_t { socket, ring };

// Where a reply goes.
struct ReplyTo {
  std::uint64_t request_id = 0;
  Channel channel = Channel::socket;
};

// A request's header and the channel it came by.
struct Incoming {
  std::uint64_t request_id = 0;
  std::uint16_t opcode = 0;
  std::uint16_t flags = 0;
  Channel channel = Channel::socket;
  operator ReplyTo() const { return ReplyTo{request_id, channel}; }  // NOLINT: by design
};

// The daemon's own record of the send credit a connection holds (PROTOCOL.md "Send
// credit"): promised on `msqid` and neither spent by a published entry nor revoked. The
// shared word is the client's view; this is what is believed.
struct CreditLedger {
  int msqid = -1;
  core::Reservation held;
};

// The daemon's record of a connection's lease (PROTOCOL.md "Lent messages"): the queue
// and selector, and the frame size of every lent entry not yet settled, in order.
struct LeaseLedger {
  int msqid = -1;
  std::int64_t msgtyp = 0;
  std::deque<std::uint32_t> lent_sizes;
  std::uint64_t settled_head = 0;  // lending-ring index up to which claims are settled
  bool active() const { return msqid >= 0; }
};

// A call parked in the core on behalf of this connection.
struct ParkedCall {
  core::WaiterId waiter;
  proto::Opcode opcode;
  Channel channel;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

  Session(Server& server, Socket socket, std::uint64_t id, PeerCredentials peer,
          std::uint32_t max_frame_bytes, std::size_t max_output_bytes,
          std::chrono::milliseconds frame_deadline);

  // The limits a session logs at most once (a client that hits one in a loop writes one
  // line; the counters in ServerCounters count every time).
  enum class LimitLogged : std::uint8_t {
    queues = 1 << 0,   // max_queues_per_uid
    quota = 1 << 1,    // max_queued_bytes
    parked = 1 << 2,   // max_parked_per_connection
    output = 1 << 3,   // max_output_bytes
  };
  // True the first time `which` is hit on this session: log it then.
  bool log_limit_once(LimitLogged which) {
    const auto bit = static_cast<std::uint8_t>(which);
    if (limits_logged_ & bit) return false;
    limits_logged_ |= bit;
    return true;
  }

  void start();

  // Queue a reply. `restore_msqid` >= 0 marks a msgrcv reply whose message goes back to
  // that queue if the connection dies before any byte of the reply was written (8.3).
  void send(ReplyTo to, proto::Reply reply, int restore_msqid = -1);

  // Read whatever the socket holds now and run every complete frame. Used by the read
  // handler and by Server::settle_pending_input (SEMANTICS.md 8.2). Entries already in
  // the submission ring run first: they were published before the socket's bytes.
  void drain_input();

  // ---- the fast path (PROTOCOL.md "Rings") ----
  // Takes the connection's rings and answers RING_SETUP with the region's descriptor.
  void attach_ring(std::unique_ptr<RingChannel> ring, ReplyTo to);
  bool has_ring() const { return ring_ != nullptr; }
  // Runs every frame published in the submission ring and writes whatever completions
  // were waiting for room; true when it found any work. `all_published`: everything
  // published so far, whatever the read budget and back-pressure say (revoking credit
  // must apply every entry paid with it).
  bool service_ring(bool all_published = false);
  RingChannel* ring() { return ring_.get(); }
  CreditLedger& credit() { return credit_; }
  LeaseLedger& lease() { return lease_; }
  bool ring_has_input() const { return ring_ && ring_->has_input(); }
  void set_ring_daemon_idle(bool idle) {
    if (ring_) ring_->set_daemon_idle(idle);
  }

  // Close with one log line: cancels parked calls, restores unsent messages. A `fault`
  // (bad input from the client) is logged as a warning, an ordinary close at debug.
  void close(const std::string& reason, bool fault = false);
  // Graceful stop: stop reading, close once every queued reply is written.
  void close_after_writes();

  bool closed() const { return closed_; }
  bool hello_done() const { return hello_done_; }
  void set_hello_done() { hello_done_ = true; }
  std::uint64_t id() const { return id_; }
  const PeerCredentials& peer() const { return peer_; }
  std::unordered_map<std::uint64_t, ParkedCall>& parked() { return parked_; }
  std::string describe() const;  // "uid=1000 pid=4242", for log lines

  // The peer's identity with `caps` instead of its verified capabilities (a subset, per
  // call: Rule 5.4.6). Kept between calls: a thread sends the same set call after call,
  // so the message path copies no Caller.
  const core::Caller& narrowed_caller(core::Capabilities caps) {
    if (!narrowed_ || narrowed_->caps != caps) {
      narrowed_ = peer_.caller;
      narrowed_->caps = caps;
    }
    return *narrowed_;
  }

 private:
  struct Outgoing {
    std::uint64_t request_id;
    proto::Reply reply;
    int restore_msqid;
    bool with_ring_fd = false;  // the RING_SETUP reply: the memfd rides on its first byte
  };

  void arm_read();
  // max_output_bytes: true (and reading stops) while the replies not yet written exceed
  // it; counted and logged once when it first happens.
  bool output_full();
  // Reading stopped on output_full() and the client has since read enough: run the frames
  // already buffered, then read again. Posted, never run inside a send.
  void resume_input();
  void maybe_resume();
  // Reading while paused (a ring client's DOORBELLs): bytes kept, nothing run.
  void read_while_paused();
  // The frame deadline (PROTOCOL.md "Limits"): armed only while part of a frame is
  // buffered, so an idle connection or one waiting for a parked call never has it.
  void watch_partial_frame(bool frame_completed);
  void on_frame_deadline(boost::system::error_code ec);
  void flush();
  // Writes as many ring replies as fit; wakes the client if it sleeps.
  void flush_ring();
  bool run_socket_frames();  // true when it ran any frame
  void run_ring_frames();
  std::size_t write_with_fd(const std::byte* data, std::size_t n, boost::system::error_code& ec);
  void arm_write();
  void maybe_finish_close();

  Server& server_;
  Socket socket_;
  std::uint64_t id_;
  PeerCredentials peer_;
  proto::FrameDecoder decoder_;
  std::size_t max_output_bytes_;
  std::chrono::milliseconds frame_deadline_;
  boost::asio::steady_timer frame_timer_;
  bool frame_timer_armed_ = false;
  std::chrono::steady_clock::time_point partial_since_;  // when the buffered part began
  bool input_paused_ = false;     // output_full() stopped reading or running frames
  bool resume_posted_ = false;
  std::uint8_t limits_logged_ = 0;  // LimitLogged bits

  std::deque<Outgoing> out_;         // replies not yet started
  proto::Bytes writing_;             // the reply being written
  // The reply writing_ encodes while it carries a received message: until its last byte
  // is written no client has it, so a close before then puts the message back (8.3).
  std::optional<Outgoing> writing_from_;
  std::size_t written_ = 0;          // bytes of writing_ already sent
  std::size_t queued_bytes_ = 0;     // approximate bytes in out_ (back-pressure)
  std::unordered_map<std::uint64_t, ParkedCall> parked_;  // request_id -> call
  bool writing_with_fd_ = false;     // writing_ is the RING_SETUP reply, fd not yet sent

  std::unique_ptr<RingChannel> ring_;
  proto::FrameDecoder ring_decoder_;
  std::deque<Outgoing> ring_out_;    // ring replies waiting for room in the completion ring
  // Replies carrying a received message, written to the completion ring and perhaps not
  // read yet, each with the ring index just past it. The client moves its head past a
  // frame before its msgrcv can return, so at a close whatever lies beyond the head was
  // never seen and goes back (8.3), as on the socket.
  std::deque<std::pair<std::uint64_t, Outgoing>> ring_unread_;
  std::optional<core::Caller> narrowed_;                  // see narrowed_caller()

  bool hello_done_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool closing_after_writes_ = false;
  bool closed_ = false;
  bool draining_ = false;
  bool servicing_ring_ = false;
  bool running_all_published_ = false;  // service_ring(true): every entry runs now
  bool credit_only_ = false;  // closing: run only entries already paid for with credit
  CreditLedger credit_;
  LeaseLedger lease_;
};

}  // namespace sysvmq::server
