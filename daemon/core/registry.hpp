// registry.hpp: one namespace of SysV message queues — keys to ids (slot + sequence),
// msgget, msgsnd, msgrcv, msgctl, the limits, and the parked calls' answers.
// This is the core's front door: the server calls only this. Plain C++: no sockets,
// no clock, no logs; identity and time arrive as arguments.
// Touched only on the daemon's io thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "daemon/core/caller.hpp"
#include "daemon/core/clock.hpp"
#include "daemon/core/message.hpp"
#include "daemon/core/namespace_state.hpp"
#include "daemon/core/outcome.hpp"
#include "daemon/core/queue.hpp"
#include "proto/limits.hpp"
#include "proto/sysv.hpp"

namespace sysvmq::core {

struct MsgsndArgs {
  int msqid = 0;
  std::int64_t mtype = 0;
  std::int64_t msgsz = 0;  // as the caller passed it; text.size() == msgsz when valid
  int msgflg = 0;
  Bytes text;
  // The client could not read the caller's text (EFAULT, Rule 2.1 step 4; SEMANTICS 8.5).
  bool text_fault = false;
  // The text was not sent because no frame could carry it: ENOMEM, msgsnd's "no memory"
  // of Rule 2.1 step 4 (only reachable when msgmax exceeds the frame limit).
  bool text_too_large = false;
};

struct MsgctlArgs {
  int msqid = 0;
  int cmd = 0;
  std::optional<proto::MsqidSet> set;  // IPC_SET's input
  // The client could not read IPC_SET's buffer (EFAULT, Rule 4.4 step 1).
  bool buf_fault = false;
};

struct MsgctlResult {
  int ret = 0;                        // msgctl's return value
  std::optional<proto::MsqidDs> ds;   // IPC_STAT, MSG_STAT, MSG_STAT_ANY
  std::optional<proto::MsgInfo> info; // IPC_INFO, MSG_INFO
};

// A queue as a snapshot holds it (snapshot.hpp).
struct SavedQueue {
  int slot = 0;
  Queue::Fields fields;
  std::list<Message> messages;  // in queue order
};

// What a restart must bring back: the queues, and the id allocator's cursors so that
// saved ids stay valid and the ids handed out next are the ones a daemon that never
// stopped would have handed out (Rule 1.8).
struct SavedRegistry {
  int last_idx = -1;
  int next_cursor = 0;
  std::uint32_t seq = 0;
  std::vector<SavedQueue> queues;  // in slot order; slots and keys unique
};

class Registry {
 public:
  explicit Registry(const proto::Limits& limits = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const proto::Limits& limits() const { return ns_.limits(); }
  // Rule 1.11: new limits apply to later calls only; existing queues keep their qbytes.
  void set_limits(const proto::Limits& limits) { ns_.set_limits(limits); }

  Outcome<int> msgget(const Caller& who, std::int32_t key, int msgflg, TimePoint now);
  Outcome<> msgsnd(const Caller& who, MsgsndArgs args, TimePoint now);
  Outcome<Received> msgrcv(const Caller& who, const MsgrcvArgs& args, TimePoint now);
  Outcome<MsgctlResult> msgctl(const Caller& who, const MsgctlArgs& args, TimePoint now);

  // ---- send credit (the fast path; PROTOCOL.md "Send credit") ----
  // What `who` may be promised on msqid now (Queue::grantable); nothing for a dead id.
  Reservation grantable(const Caller& who, int msqid, const Reservation& cap) const;
  void reserve(int msqid, const Reservation& r);
  void unreserve(int msqid, const Reservation& r, TimePoint now);
  // A message sent on credit that the server's ledger covers. EINVAL for one no honest
  // client sends (bad mtype, size, or text); EIDRM when msqid is gone.
  Errc msgsnd_reserved(const Caller& who, MsgsndArgs args, TimePoint now);
  // Queue::blocked_by_reservations for msqid; false for a dead id.
  bool blocked_by_reservations(int msqid, std::size_t size) const;
  // True when the daemon-wide byte quota would take `size` more bytes but for the room
  // promised to send credit (on any queue).
  bool quota_blocked_by_reservations(std::size_t size) const {
    return !ns_.quota_allows(size) && ns_.usage().reserved_bytes != 0 &&
           ns_.usage().queued_bytes + size <= ns_.limits().max_queued_bytes;
  }

  // ---- lending (Queue's lending, by id; a dead id does nothing) ----
  // Whether `who`, judged without capabilities, may read msqid: only such a receiver is
  // lent messages (a thread may drop a capability between calls).
  bool may_read_without_caps(const Caller& who, int msqid) const;
  // What a grant of `requested` (kRead, kWrite) to `who` on msqid depends on in the
  // caller's identity (access_basis); `identity` for a dead id.
  AccessBasis access_basis(const Caller& who, int msqid, int requested) const;
  bool begin_lease(int msqid, std::int64_t msgtyp);
  std::vector<const Message*> lend_more(int msqid, std::size_t max_count, std::uint64_t max_bytes);
  void settle_lent(int msqid, std::size_t n, const Caller& lessee, TimePoint now);
  void end_lease(int msqid);

  // ---- snapshots (snapshot.hpp) ----
  // The id allocator's cursors, with no queues (those come from queues()).
  SavedRegistry id_cursors() const { return SavedRegistry{last_idx_, next_cursor_, seq_, {}}; }
  // Takes a snapshot's queues and cursors. Only into a registry with no queue yet, and
  // only what decode_snapshot accepted: std::invalid_argument otherwise.
  void load(SavedRegistry&& saved);

  // Withdraw a parked call (the client was interrupted or went away). True if it was
  // still parked: its answer is then EINTR. False if it had already been answered.
  bool cancel(WaiterId id);

  // SEMANTICS.md 8.3: a received message could not be written to its receiver, which is
  // gone. Back to its queue (Queue::restore) if msqid still names it; dropped otherwise.
  void restore(int msqid, Message&& msg, TimePoint now);

  // Answers for parked calls that completed during the calls above, in order.
  std::vector<Completion> take_completions() { return ns_.take_completions(); }

  // Introspection for the server's admin answers and for tests.
  std::size_t queue_count() const { return in_use_; }
  // Queues whose creator (cuid) is `uid` (limits.max_queues_per_uid counts these).
  std::uint32_t queues_created_by(std::uint32_t uid) const {
    auto it = by_cuid_.find(uid);
    return it == by_cuid_.end() ? 0 : it->second;
  }
  std::size_t parked_count() const { return ns_.parked_count(); }
  const Usage& usage() const { return ns_.usage(); }
  const Queue* find(int msqid) const;           // nullptr unless msqid names a live queue
  std::vector<const Queue*> queues() const;     // in slot order

 private:
  Queue* lookup(int msqid);  // Rule 1.9
  Outcome<int> create(const Caller& who, std::int32_t key, int msgflg, TimePoint now);
  int allocate_slot();
  void erase(Queue& q);
  Outcome<MsgctlResult> ipc_set(const Caller& who, const MsgctlArgs& args, TimePoint now);
  Outcome<MsgctlResult> ipc_rmid(const Caller& who, int msqid);
  MsgctlResult info(int cmd) const;

  NamespaceState ns_;
  std::vector<std::unique_ptr<Queue>> slots_;    // kIpcmni entries, nullptr when free
  std::unordered_map<std::int32_t, int> by_key_;  // key -> slot, keyed queues only
  std::unordered_map<std::uint32_t, std::uint32_t> by_cuid_;  // cuid -> live queues (> 0)
  int in_use_ = 0;
  int max_idx_ = -1;      // highest slot in use, -1 when none
  int last_idx_ = -1;     // ids->last_idx: the previous slot handed out
  int next_cursor_ = 0;   // the IDR's cyclic cursor (idr_next)
  std::uint32_t seq_ = 0; // ids->seq
};

}  // namespace sysvmq::core
