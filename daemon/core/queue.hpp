// queue.hpp: one message queue — its messages in send order, its msqid_ds fields, its
// parked senders and receivers, and the SysV rules that move messages between them.
// Not here: ids, keys and the checks that precede the id lookup (registry.hpp).
// Touched only on the daemon's io thread.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <vector>

#include "daemon/core/caller.hpp"
#include "daemon/core/clock.hpp"
#include "daemon/core/message.hpp"
#include "daemon/core/namespace_state.hpp"
#include "daemon/core/outcome.hpp"
#include "daemon/core/permissions.hpp"
#include "daemon/core/waiters.hpp"
#include "proto/sysv.hpp"

namespace sysvmq::core {

// Room set aside in a queue for messages a sender may send without asking first (the
// fast path's send credit, PROTOCOL.md "Send credit"). Counted by the fit rule like
// queued messages, so whatever was promised always fits when it arrives.
struct Reservation {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  bool empty() const { return count == 0 && bytes == 0; }
};

struct MsgrcvArgs {
  int msqid = 0;
  std::int64_t msgsz = 0;   // signed, as the kernel tests it (Rule 3.1 step 1)
  std::int64_t msgtyp = 0;  // a position under MSG_COPY (Rule 3.5)
  int msgflg = 0;
};

class Queue {
 public:
  // Everything msqid_ds shows of a queue except what its messages imply (msg_qnum,
  // msg_cbytes): what a snapshot keeps besides the messages (snapshot.hpp).
  struct Fields {
    Perm perm;
    std::uint64_t qbytes = 0;
    TimePoint stime{};
    TimePoint rtime{};
    TimePoint ctime{};
    ProcessRef lspid;
    ProcessRef lrpid;
  };

  // Rule 1.5: a new queue's fields.
  Queue(int slot, const Perm& perm, std::uint64_t qbytes, TimePoint now);
  // A queue as a snapshot kept it: no parked calls, no reservation, no lease. The caller
  // accounts for the messages in the namespace's Usage.
  Queue(int slot, const Fields& fields, std::list<Message> messages);

  int slot() const { return slot_; }
  int id() const { return static_cast<int>(perm_.seq) * proto::kIpcmni + slot_; }
  const Perm& perm() const { return perm_; }
  std::uint64_t qnum() const { return messages_.size(); }
  std::uint64_t cbytes() const { return cbytes_; }
  std::size_t parked_senders() const { return senders_.size(); }
  std::size_t parked_receivers() const { return receivers_.size(); }
  const std::list<Message>& messages() const { return messages_; }
  Fields fields() const { return Fields{perm_, qbytes_, stime_, rtime_, ctime_, lspid_, lrpid_}; }

  // msqid_ds as `reader` sees it (pids per Rule 6.5).
  proto::MsqidDs stat(const Caller& reader) const;

  // msgsnd from Rule 2.1 step 6 on: EACCES, fit (Rule 2.3), hand-off or enqueue
  // (Rule 2.7), EAGAIN, or park.
  Outcome<> msgsnd(const Caller& who, Message&& msg, int msgflg, TimePoint now,
                   NamespaceState& ns);

  // msgrcv from Rule 3.1 step 4 on, MSG_COPY included.
  Outcome<Received> msgrcv(const Caller& who, const MsgrcvArgs& args, TimePoint now,
                           NamespaceState& ns);

  // ---- send credit ----
  const Reservation& reserved() const { return reserved_; }
  // What may be promised to `who` now: nothing without write permission or while a
  // sender is parked (it comes first); otherwise at most half the room left, capped at
  // `cap`.
  Reservation grantable(const Caller& who, const Reservation& cap, const NamespaceState& ns) const;
  void reserve(const Reservation& r, NamespaceState& ns);
  // Gives back room no message will use; parked senders that now fit complete.
  void unreserve(const Reservation& r, TimePoint now, NamespaceState& ns);
  // A message sent on credit: its room was reserved, permission checked when it was
  // promised. Handed to a parked receiver or queued, with msg_stime / msg_lspid.
  void deliver_reserved(const Caller& sender, Message&& msg, TimePoint now, NamespaceState& ns);
  // True when `size` more bytes would fit but for the reservations: only then must
  // credit be revoked for a sender that asks.
  bool blocked_by_reservations(std::size_t size) const {
    return !reserved_.empty() && !fits(size) &&
           cbytes_ + size <= qbytes_ && messages_.size() + 1 <= qbytes_;
  }

  // ---- lending (the fast path's receive side; PROTOCOL.md "Lent messages") ----
  // One receiver at a time may hold a lease: the first matching messages (msgtyp 0: any;
  // > 0: that mtype) are lent to it in queue order, and it takes them without asking.
  // Lent messages stay queued — counted, visible to IPC_STAT and MSG_COPY — until the
  // server settles the receiver's claims. While a lease is held the server keeps every
  // other receive, IPC_SET, IPC_RMID and restore away from the queue (it ends the lease
  // first): only then is "the first matching message" the first lent one.
  bool leased() const { return lease_; }
  void begin_lease(std::int64_t msgtyp);
  // Lends up to `max_count` further messages of at most `max_bytes` text in all.
  std::vector<const Message*> lend_more(std::size_t max_count, std::uint64_t max_bytes);
  std::size_t lent_count() const { return lent_.size(); }
  // The first `n` lent messages were taken by `lessee`: they leave as by msgrcv (Rule 3.4
  // bookkeeping), and parked senders that now fit complete.
  void settle_lent(std::size_t n, const Caller& lessee, TimePoint now, NamespaceState& ns);
  // Ends the lease; the unclaimed lent messages are simply queued messages again.
  void end_lease() {
    lease_ = false;
    lent_.clear();
  }

  // IPC_SET step 6 and 7 (Rule 4.4): the caller has passed every check.
  void ipc_set(const proto::MsqidSet& set, TimePoint now, NamespaceState& ns);

  // IPC_RMID (Rule 4.5): every parked call ends with EIDRM; messages are discarded.
  void remove(NamespaceState& ns);

  // Drop a parked call without an answer. True if it was parked here.
  bool cancel(WaiterId id);

  // Take back a received message whose receiver vanished before the answer reached it
  // (SEMANTICS.md 8.3): a parked receiver that matches gets it, else it goes back to the
  // head of the queue with msg_qnum / msg_cbytes restored (msg_rtime / msg_lrpid keep the
  // failed receive: documented difference). It may exceed msg_qbytes, as after a lowering
  // IPC_SET, and no quota applies: the bytes were already accounted for before.
  void restore(Message&& msg, TimePoint now, NamespaceState& ns);

 private:
  // Rule 2.3: bytes *and* message count are capped by msg_qbytes — with the room
  // promised to send credit counted as taken.
  bool fits(std::size_t size) const {
    return cbytes_ + reserved_.bytes + size <= qbytes_ &&
           messages_.size() + reserved_.count + 1 <= qbytes_;
  }
  // Appends a message no parked receiver took.
  void enqueue(Message&& msg, NamespaceState& ns);
  // The message fits: hand it to a parked receiver or queue it (Rule 2.7), then stamp
  // msg_stime / msg_lspid (Rule 2.8). ENOMEM when the daemon's byte quota refuses it.
  Errc deliver(const Caller& sender, Message&& msg, TimePoint now, NamespaceState& ns);
  // Rule 2.7's scan of parked receivers; true if one took the message.
  bool hand_off(Message& msg, TimePoint now, NamespaceState& ns);
  // Rule 2.10's daemon rule: complete, in FIFO order, every parked sender that fits.
  void wake_senders(TimePoint now, NamespaceState& ns);
  Received take(std::list<Message>::iterator it, const Caller& who, std::uint64_t msgsz,
                TimePoint now, NamespaceState& ns);

  int slot_;
  Perm perm_;
  std::uint64_t qbytes_;
  std::uint64_t cbytes_ = 0;
  TimePoint stime_{};
  TimePoint rtime_{};
  TimePoint ctime_;
  ProcessRef lspid_;
  ProcessRef lrpid_;
  std::list<Message> messages_;
  Reservation reserved_;
  bool lease_ = false;
  std::int64_t lease_msgtyp_ = 0;
  std::deque<std::list<Message>::iterator> lent_;  // lent, unclaimed, in queue order
  std::list<ParkedSender> senders_;
  std::list<ParkedReceiver> receivers_;
};

}  // namespace sysvmq::core
