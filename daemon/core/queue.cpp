#include "queue.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace sysvmq::core {

Queue::Queue(int slot, const Perm& perm, std::uint64_t qbytes, TimePoint now)
    : slot_(slot), perm_(perm), qbytes_(qbytes), ctime_(now) {}

Queue::Queue(int slot, const Fields& f, std::list<Message> messages)
    : slot_(slot),
      perm_(f.perm),
      qbytes_(f.qbytes),
      stime_(f.stime),
      rtime_(f.rtime),
      ctime_(f.ctime),
      lspid_(f.lspid),
      lrpid_(f.lrpid),
      messages_(std::move(messages)) {
  for (const Message& m : messages_) cbytes_ += m.text.size();
}

proto::MsqidDs Queue::stat(const Caller& reader) const {
  proto::MsqidDs ds;
  ds.key = perm_.key;
  // Ids as the reader's user namespace names them (ipc64_perm is filled with
  // from_kuid_munged/from_kgid_munged).
  ds.uid = id_inside(reader.ids.uid, perm_.uid);
  ds.gid = id_inside(reader.ids.gid, perm_.gid);
  ds.cuid = id_inside(reader.ids.uid, perm_.cuid);
  ds.cgid = id_inside(reader.ids.gid, perm_.cgid);
  ds.mode = perm_.mode;
  ds.seq = perm_.seq;
  ds.stime = to_time_t(stime_);
  ds.rtime = to_time_t(rtime_);
  ds.ctime = to_time_t(ctime_);
  ds.cbytes = cbytes_;
  ds.qnum = messages_.size();
  ds.qbytes = qbytes_;
  ds.lspid = pid_as_seen_by(lspid_, reader);
  ds.lrpid = pid_as_seen_by(lrpid_, reader);
  return ds;
}

Outcome<> Queue::msgsnd(const Caller& who, Message&& msg, int msgflg, TimePoint now,
                        NamespaceState& ns) {
  if (!has_access(who, perm_, kWrite)) return Errc::eacces;
  if (fits(msg.text.size())) {
    // Rule 2.6: a newcomer that fits goes ahead of parked senders.
    const Errc e = deliver(who, std::move(msg), now, ns);
    if (e != Errc::ok) return e;
    return {};
  }
  if (msgflg & proto::kIpcNowait) return Errc::eagain;
  const WaiterId id = ns.park(slot_);
  senders_.push_back(ParkedSender{id, who, std::move(msg)});
  return Parked{id};
}

bool Queue::hand_off(Message& msg, TimePoint now, NamespaceState& ns) {
  const std::size_t length = msg.text.size();
  // Rule 2.7: the first matching receiver in parking order takes it; one whose limit is
  // too small is answered E2BIG and the scan goes on.
  for (auto it = receivers_.begin(); it != receivers_.end();) {
    if (!it->selector.matches(msg.mtype)) {
      ++it;
      continue;
    }
    if (!it->can_take(length)) {
      ns.complete(it->id, Errc::e2big);
      it = receivers_.erase(it);
      continue;
    }
    Received r{msg.mtype, std::move(msg.text)};
    if (r.text.size() > it->msgsz) r.text.resize(it->msgsz);  // MSG_NOERROR (Rule 3.10)
    rtime_ = now;
    lrpid_ = it->caller.process;  // the process id, never a thread id (Rule 6.4)
    ns.complete(it->id, std::move(r));
    receivers_.erase(it);
    return true;
  }
  return false;
}

Errc Queue::deliver(const Caller& sender, Message&& msg, TimePoint now, NamespaceState& ns) {
  if (!hand_off(msg, now, ns)) {
    // Not Linux: the daemon-wide quota answers ENOMEM, never "full" (Rule 2.13).
    if (!ns.quota_allows(msg.text.size())) return Errc::enomem;
    enqueue(std::move(msg), ns);
  }
  stime_ = now;  // Rule 2.8: queued or handed over alike
  lspid_ = sender.process;
  return Errc::ok;
}

void Queue::enqueue(Message&& msg, NamespaceState& ns) {
  const std::size_t length = msg.text.size();
  cbytes_ += length;
  ns.usage().queued_bytes += length;
  ns.usage().queued_messages += 1;
  messages_.push_back(std::move(msg));
}

Reservation Queue::grantable(const Caller& who, const Reservation& cap,
                             const NamespaceState& ns) const {
  if (!senders_.empty() || !has_access(who, perm_, kWrite)) return {};
  const std::uint64_t used_bytes = cbytes_ + reserved_.bytes;
  const std::uint64_t used_count = messages_.size() + reserved_.count;
  if (used_bytes >= qbytes_ || used_count >= qbytes_) return {};
  Reservation r{std::min(cap.count, (qbytes_ - used_count) / 2),
                std::min(cap.bytes, (qbytes_ - used_bytes) / 2)};
  const std::uint64_t quota = ns.limits().max_queued_bytes;
  if (quota != 0) {
    const std::uint64_t taken = ns.usage().queued_bytes + ns.usage().reserved_bytes;
    r.bytes = taken >= quota ? 0 : std::min(r.bytes, (quota - taken) / 2);
  }
  if (r.count == 0) return {};
  return r;
}

void Queue::reserve(const Reservation& r, NamespaceState& ns) {
  reserved_.count += r.count;
  reserved_.bytes += r.bytes;
  ns.usage().reserved_bytes += r.bytes;
}

void Queue::unreserve(const Reservation& r, TimePoint now, NamespaceState& ns) {
  const Reservation back{std::min(r.count, reserved_.count), std::min(r.bytes, reserved_.bytes)};
  reserved_.count -= back.count;
  reserved_.bytes -= back.bytes;
  ns.usage().reserved_bytes -= std::min(ns.usage().reserved_bytes, back.bytes);
  if (!back.empty()) wake_senders(now, ns);
}

void Queue::deliver_reserved(const Caller& sender, Message&& msg, TimePoint now,
                             NamespaceState& ns) {
  const std::uint64_t length = msg.text.size();
  reserved_.count -= std::min<std::uint64_t>(1, reserved_.count);
  reserved_.bytes -= std::min(length, reserved_.bytes);
  ns.usage().reserved_bytes -= std::min(ns.usage().reserved_bytes, length);
  // The room (and the quota) were set aside when the credit was given.
  if (!hand_off(msg, now, ns)) enqueue(std::move(msg), ns);
  stime_ = now;
  lspid_ = sender.process;
}

void Queue::restore(Message&& msg, TimePoint now, NamespaceState& ns) {
  end_lease();  // a message at the head goes before anything lent (the server ended it)
  if (hand_off(msg, now, ns)) return;  // keeps Rule 3.8's invariant
  cbytes_ += msg.text.size();
  ns.usage().queued_bytes += msg.text.size();
  ns.usage().queued_messages += 1;
  messages_.push_front(std::move(msg));
}

void Queue::wake_senders(TimePoint now, NamespaceState& ns) {
  for (auto it = senders_.begin(); it != senders_.end();) {
    if (!fits(it->message.text.size())) {
      ++it;  // keeps its place (Rule 2.10, daemon rule)
      continue;
    }
    // A woken sender runs the loop of Rule 2.1 step 6 again: permission first.
    const Errc e = has_access(it->caller, perm_, kWrite)
                       ? deliver(it->caller, std::move(it->message), now, ns)
                       : Errc::eacces;
    ns.complete(it->id, e);
    it = senders_.erase(it);
  }
}

Received Queue::take(std::list<Message>::iterator it, const Caller& who, std::uint64_t msgsz,
                     TimePoint now, NamespaceState& ns) {
  const std::size_t length = it->text.size();
  Received r{it->mtype, std::move(it->text)};
  messages_.erase(it);
  if (r.text.size() > msgsz) r.text.resize(msgsz);  // MSG_NOERROR: the rest is discarded
  cbytes_ -= length;
  ns.usage().queued_bytes -= length;
  ns.usage().queued_messages -= 1;
  rtime_ = now;  // Rule 3.4
  lrpid_ = who.process;
  wake_senders(now, ns);  // a message left through msgrcv (Rule 2.10)
  return r;
}

Outcome<Received> Queue::msgrcv(const Caller& who, const MsgrcvArgs& args, TimePoint now,
                                NamespaceState& ns) {
  // Rule 3.1 step 4: read permission, even on an empty queue with IPC_NOWAIT.
  if (!has_access(who, perm_, kRead)) return Errc::eacces;
  const auto msgsz = static_cast<std::uint64_t>(args.msgsz);  // >= 0, checked by Registry
  const bool noerror = (args.msgflg & proto::kMsgNoerror) != 0;

  if (args.msgflg & proto::kMsgCopy) {
    // Rule 3.5: msgtyp is a position counting every message; the message stays.
    if (args.msgtyp < 0 || static_cast<std::uint64_t>(args.msgtyp) >= messages_.size())
      return Errc::enomsg;
    const Message& m = *std::next(messages_.begin(), static_cast<std::ptrdiff_t>(args.msgtyp));
    if (m.text.size() > msgsz && !noerror) return Errc::e2big;
    // The kernel copies into a buffer of min(msgsz, msgmax) bytes and refuses a message
    // that does not fit it: "no truncated copy exists" (Rule 3.5).
    const std::uint64_t room =
        std::min<std::uint64_t>(msgsz, static_cast<std::uint64_t>(ns.limits().msgmax));
    if (m.text.size() > room) return Errc::einval;
    return Received{m.mtype, m.text};
  }

  // The server ended any lease before this receive (leased() documents why); never
  // leave a lent iterator to a message this call may take.
  end_lease();
  const Selector sel = Selector::from(args.msgtyp, args.msgflg);
  auto it = sel.find(messages_.begin(), messages_.end());
  if (it != messages_.end()) {
    // msgop(2): "If the message text has length greater than msgsz and MSG_NOERROR is
    // not specified, then the message isn't removed from the queue, and the system call
    // fails returning -1 with errno set to E2BIG."
    if (it->text.size() > msgsz && !noerror) return Errc::e2big;
    return take(it, who, msgsz, now, ns);
  }
  if (args.msgflg & proto::kIpcNowait) return Errc::enomsg;
  const WaiterId id = ns.park(slot_);
  receivers_.push_back(ParkedReceiver{id, who, sel, msgsz, noerror});
  return Parked{id};
}

void Queue::begin_lease(std::int64_t msgtyp) {
  lease_ = true;
  lease_msgtyp_ = msgtyp;
  lent_.clear();
}

std::vector<const Message*> Queue::lend_more(std::size_t max_count, std::uint64_t max_bytes) {
  std::vector<const Message*> out;
  if (!lease_) return out;
  const Selector sel = Selector::from(lease_msgtyp_, 0);
  auto it = lent_.empty() ? messages_.begin() : std::next(lent_.back());
  for (; it != messages_.end() && out.size() < max_count; ++it) {
    if (!sel.matches(it->mtype)) continue;
    if (it->text.size() > max_bytes) break;  // in order or not at all
    max_bytes -= it->text.size();
    lent_.push_back(it);
    out.push_back(&*it);
  }
  return out;
}

void Queue::settle_lent(std::size_t n, const Caller& lessee, TimePoint now, NamespaceState& ns) {
  if (n == 0) return;
  for (std::size_t i = 0; i < n && !lent_.empty(); ++i) {
    const auto it = lent_.front();
    lent_.pop_front();
    cbytes_ -= it->text.size();
    ns.usage().queued_bytes -= it->text.size();
    ns.usage().queued_messages -= 1;
    messages_.erase(it);
  }
  rtime_ = now;  // Rule 3.4, once for the batch: the same second
  lrpid_ = lessee.process;
  wake_senders(now, ns);
}

void Queue::ipc_set(const proto::MsqidSet& set, TimePoint now, NamespaceState& ns) {
  perm_.uid = set.uid;
  perm_.gid = set.gid;
  perm_.mode = set.mode & proto::kModeMask;
  qbytes_ = set.qbytes;
  ctime_ = now;
  // Rule 3.12: parked receivers re-check read permission; survivors keep their order.
  for (auto it = receivers_.begin(); it != receivers_.end();) {
    if (has_access(it->caller, perm_, kRead)) {
      ++it;
      continue;
    }
    ns.complete(it->id, Errc::eacces);
    it = receivers_.erase(it);
  }
  wake_senders(now, ns);  // Rule 2.10: after every successful IPC_SET
}

void Queue::remove(NamespaceState& ns) {
  end_lease();
  for (const auto& r : receivers_) ns.complete(r.id, Errc::eidrm);
  for (const auto& s : senders_) ns.complete(s.id, Errc::eidrm);
  receivers_.clear();
  senders_.clear();
  ns.usage().reserved_bytes -= std::min(ns.usage().reserved_bytes, reserved_.bytes);
  reserved_ = {};
  ns.usage().queued_bytes -= cbytes_;
  ns.usage().queued_messages -= messages_.size();
  cbytes_ = 0;
  messages_.clear();
}

bool Queue::cancel(WaiterId id) {
  auto by_id = [id](const auto& w) { return w.id == id; };
  if (auto it = std::find_if(receivers_.begin(), receivers_.end(), by_id); it != receivers_.end()) {
    receivers_.erase(it);
    return true;
  }
  if (auto it = std::find_if(senders_.begin(), senders_.end(), by_id); it != senders_.end()) {
    senders_.erase(it);
    return true;
  }
  return false;
}

}  // namespace sysvmq::core
