#include "registry.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <utility>

namespace sysvmq::core {

namespace {
std::int32_t cap_int(std::uint64_t v) {
  return static_cast<std::int32_t>(std::min<std::uint64_t>(v, INT_MAX));
}
}  // namespace

Registry::Registry(const proto::Limits& limits) : ns_(limits), slots_(proto::kIpcmni) {}

Registry::~Registry() = default;

Queue* Registry::lookup(int msqid) {
  if (msqid < 0) return nullptr;
  Queue* q = slots_[static_cast<std::size_t>(msqid & proto::kSlotMask)].get();
  // A live slot with another sequence is a dead id: EINVAL, never EIDRM (Rule 1.9).
  if (q == nullptr || static_cast<std::uint32_t>(msqid >> proto::kIpcmniShift) != q->perm().seq)
    return nullptr;
  return q;
}

const Queue* Registry::find(int msqid) const {
  return const_cast<Registry*>(this)->lookup(msqid);
}

std::vector<const Queue*> Registry::queues() const {
  std::vector<const Queue*> out;
  out.reserve(static_cast<std::size_t>(in_use_));
  for (int i = 0; i <= max_idx_; ++i)
    if (slots_[static_cast<std::size_t>(i)]) out.push_back(slots_[static_cast<std::size_t>(i)].get());
  return out;
}

// ipc_idr_alloc() of current kernels (Rule 1.8): the lowest free slot at or after the
// cyclic cursor, below max(in_use * 3/2, 64), wrapping once to 0.
int Registry::allocate_slot() {
  const int ceiling = std::min(std::max(in_use_ * 3 / 2, proto::kMinCycle), proto::kIpcmni);
  auto first_free = [&](int from) {
    for (int i = from; i < ceiling; ++i)
      if (!slots_[static_cast<std::size_t>(i)]) return i;
    return -1;
  };
  int idx = first_free(next_cursor_);
  if (idx < 0 && next_cursor_ > 0) idx = first_free(0);
  if (idx < 0) return -1;
  next_cursor_ = idx + 1;
  // The sequence advances whenever the new slot is not above the previous one.
  if (idx <= last_idx_) {
    if (++seq_ >= static_cast<std::uint32_t>(proto::kSeqMax)) seq_ = 0;
  }
  last_idx_ = idx;
  return idx;
}

Outcome<int> Registry::create(const Caller& who, std::int32_t key, int msgflg, TimePoint now) {
  // Rule 1.5: at msgmni queues (never more than IPCMNI), creation fails with ENOSPC.
  if (in_use_ >= std::min(ns_.limits().msgmni, proto::kIpcmni)) return Errc::enospc;
  // Not in Linux: limits.max_queues_per_uid. msgget(2): "ENOSPC A message queue has to be
  // created but the system limit for the maximum number of message queues (MSGMNI)
  // would be exceeded." The same answer for the same kind of refusal.
  const std::uint32_t per_uid = ns_.limits().max_queues_per_uid;
  if (per_uid != 0 && queues_created_by(who.uid) >= per_uid) return Errc::enospc;
  const int idx = allocate_slot();
  if (idx < 0) return Errc::enospc;
  Perm perm;
  perm.key = key;
  perm.uid = perm.cuid = who.uid;
  perm.gid = perm.cgid = who.gid;
  perm.mode = static_cast<std::uint32_t>(msgflg) & proto::kModeMask;
  perm.seq = seq_;
  const auto qbytes = static_cast<std::uint64_t>(std::max(ns_.limits().msgmnb, 0));
  auto& slot = slots_[static_cast<std::size_t>(idx)];
  slot = std::make_unique<Queue>(idx, perm, qbytes, now);
  ++in_use_;
  ++by_cuid_[who.uid];
  max_idx_ = std::max(max_idx_, idx);
  if (key != proto::kIpcPrivate) by_key_[key] = idx;
  return slot->id();
}

void Registry::erase(Queue& q) {
  q.remove(ns_);
  if (q.perm().key != proto::kIpcPrivate) by_key_.erase(q.perm().key);  // Rule 1.6
  // cuid never changes (IPC_SET sets uid, not cuid): the creator's count goes down.
  if (auto it = by_cuid_.find(q.perm().cuid); it != by_cuid_.end() && --it->second == 0)
    by_cuid_.erase(it);
  const int idx = q.slot();
  slots_[static_cast<std::size_t>(idx)].reset();
  --in_use_;
  if (idx == max_idx_) {
    while (max_idx_ >= 0 && !slots_[static_cast<std::size_t>(max_idx_)]) --max_idx_;
  }
}

Outcome<int> Registry::msgget(const Caller& who, std::int32_t key, int msgflg, TimePoint now) {
  // Rule 1.2: IPC_PRIVATE always creates, with or without IPC_CREAT.
  if (key == proto::kIpcPrivate) return create(who, key, msgflg, now);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    if (!(msgflg & proto::kIpcCreat)) return Errc::enoent;  // Rule 1.4
    return create(who, key, msgflg, now);
  }
  const Queue& q = *slots_[static_cast<std::size_t>(it->second)];
  // Rule 1.3: EEXIST is decided before permissions.
  if ((msgflg & proto::kIpcCreat) && (msgflg & proto::kIpcExcl)) return Errc::eexist;
  if (!has_access(who, q.perm(), requested_by_msgget(msgflg))) return Errc::eacces;
  return q.id();
}

Outcome<> Registry::msgsnd(const Caller& who, MsgsndArgs args, TimePoint now) {
  // Rule 2.1, steps 2 to 5 (step 1, reading mtype, is the client's).
  if (args.msgsz < 0 || args.msgsz > ns_.limits().msgmax || args.msqid < 0) return Errc::einval;
  if (args.mtype < 1) return Errc::einval;
  if (args.text_fault) return Errc::efault;
  if (args.text_too_large) return Errc::enomem;
  if (static_cast<std::uint64_t>(args.msgsz) != args.text.size()) return Errc::efault;
  Queue* q = lookup(args.msqid);
  if (q == nullptr) return Errc::einval;
  return q->msgsnd(who, Message{args.mtype, std::move(args.text)}, args.msgflg, now, ns_);
}

Reservation Registry::grantable(const Caller& who, int msqid, const Reservation& cap) const {
  const Queue* q = find(msqid);
  return q == nullptr ? Reservation{} : q->grantable(who, cap, ns_);
}

void Registry::reserve(int msqid, const Reservation& r) {
  if (Queue* q = lookup(msqid)) q->reserve(r, ns_);
}

void Registry::unreserve(int msqid, const Reservation& r, TimePoint now) {
  if (Queue* q = lookup(msqid)) q->unreserve(r, now, ns_);
}

Errc Registry::msgsnd_reserved(const Caller& who, MsgsndArgs args, TimePoint now) {
  // The client checked all of Rule 2.1 before it spent credit; anything else is a lie.
  if (args.msgsz < 0 || args.msgsz > ns_.limits().msgmax || args.mtype < 1 || args.text_fault ||
      args.text_too_large || static_cast<std::uint64_t>(args.msgsz) != args.text.size())
    return Errc::einval;
  Queue* q = lookup(args.msqid);
  if (q == nullptr) return Errc::eidrm;
  q->deliver_reserved(who, Message{args.mtype, std::move(args.text)}, now, ns_);
  return Errc::ok;
}

bool Registry::blocked_by_reservations(int msqid, std::size_t size) const {
  const Queue* q = find(msqid);
  return q != nullptr && q->blocked_by_reservations(size);
}

bool Registry::may_read_without_caps(const Caller& who, int msqid) const {
  const Queue* q = find(msqid);
  if (q == nullptr) return false;
  Caller plain = who;
  plain.caps = Capabilities{};
  return has_access(plain, q->perm(), kRead);
}

AccessBasis Registry::access_basis(const Caller& who, int msqid, int requested) const {
  const Queue* q = find(msqid);
  return q == nullptr ? AccessBasis::identity : core::access_basis(who, q->perm(), requested);
}

bool Registry::begin_lease(int msqid, std::int64_t msgtyp) {
  Queue* q = lookup(msqid);
  if (q == nullptr) return false;
  q->begin_lease(msgtyp);
  return true;
}

std::vector<const Message*> Registry::lend_more(int msqid, std::size_t max_count,
                                                std::uint64_t max_bytes) {
  Queue* q = lookup(msqid);
  return q == nullptr ? std::vector<const Message*>{} : q->lend_more(max_count, max_bytes);
}

void Registry::settle_lent(int msqid, std::size_t n, const Caller& lessee, TimePoint now) {
  if (Queue* q = lookup(msqid)) q->settle_lent(n, lessee, now, ns_);
}

void Registry::end_lease(int msqid) {
  if (Queue* q = lookup(msqid)) q->end_lease();
}

Outcome<Received> Registry::msgrcv(const Caller& who, const MsgrcvArgs& args, TimePoint now) {
  // Rule 3.1, steps 1 to 3.
  if (args.msqid < 0 || args.msgsz < 0) return Errc::einval;
  if ((args.msgflg & proto::kMsgCopy) &&
      ((args.msgflg & proto::kMsgExcept) || !(args.msgflg & proto::kIpcNowait)))
    return Errc::einval;
  Queue* q = lookup(args.msqid);
  if (q == nullptr) return Errc::einval;
  return q->msgrcv(who, args, now, ns_);
}

MsgctlResult Registry::info(int cmd) const {
  // Rule 4.9: IPC_INFO reports compile-time constants where MSG_INFO reports usage.
  const auto& l = ns_.limits();
  proto::MsgInfo mi;
  mi.msgmax = l.msgmax;
  mi.msgmnb = l.msgmnb;
  mi.msgmni = l.msgmni;
  mi.msgssz = proto::kMsgssz;
  mi.msgseg = static_cast<std::uint16_t>(proto::kMsgseg);
  if (cmd == proto::kMsgInfo) {
    mi.msgpool = in_use_;
    mi.msgmap = cap_int(ns_.usage().queued_messages);
    mi.msgtql = cap_int(ns_.usage().queued_bytes);
  } else {
    mi.msgpool = proto::kMsgpool;
    mi.msgmap = proto::kMsgmap;
    mi.msgtql = proto::kMsgtql;
  }
  // Rule 4.6: the highest slot index in use, or 0 when there is none.
  return MsgctlResult{std::max(max_idx_, 0), std::nullopt, mi};
}

Outcome<MsgctlResult> Registry::ipc_set(const Caller& who, const MsgctlArgs& args, TimePoint now) {
  // Rule 4.4, in its order.
  if (args.buf_fault || !args.set) return Errc::efault;
  Queue* q = lookup(args.msqid);
  if (q == nullptr) return Errc::einval;
  if (!is_owner_or_admin(who, q->perm())) return Errc::eperm;
  // The test is on the value passed, changed or not (measured).
  if (args.set->qbytes > static_cast<std::uint64_t>(std::max(ns_.limits().msgmnb, 0)) &&
      !who.caps.has(Capability::sys_resource))
    return Errc::eperm;
  // Step 5: the ids are the caller's namespace's; one that names nobody the daemon knows
  // (or (uid_t)-1) fails uid_valid()/gid_valid().
  proto::MsqidSet set = *args.set;
  set.uid = id_outside(who.ids.uid, set.uid);
  set.gid = id_outside(who.ids.gid, set.gid);
  if (set.uid == kInvalidId || set.gid == kInvalidId) return Errc::einval;
  q->ipc_set(set, now, ns_);
  return MsgctlResult{};
}

Outcome<MsgctlResult> Registry::ipc_rmid(const Caller& who, int msqid) {
  Queue* q = lookup(msqid);
  if (q == nullptr) return Errc::einval;
  if (!is_owner_or_admin(who, q->perm())) return Errc::eperm;  // Rule 4.5
  erase(*q);
  return MsgctlResult{};
}

Outcome<MsgctlResult> Registry::msgctl(const Caller& who, const MsgctlArgs& args, TimePoint now) {
  // Rule 4.1: before anything else, for every command.
  if (args.msqid < 0 || args.cmd < 0) return Errc::einval;
  switch (args.cmd) {
    case proto::kIpcInfo:
    case proto::kMsgInfo:
      return info(args.cmd);
    case proto::kIpcStat: {
      Queue* q = lookup(args.msqid);
      if (q == nullptr) return Errc::einval;
      if (!has_access(who, q->perm(), kRead)) return Errc::eacces;  // Rule 4.2
      return MsgctlResult{0, q->stat(who), std::nullopt};
    }
    case proto::kMsgStat:
    case proto::kMsgStatAny: {
      // Rule 4.3: the argument names a slot; only its low 15 bits count.
      Queue* q = slots_[static_cast<std::size_t>(args.msqid & proto::kSlotMask)].get();
      if (q == nullptr) return Errc::einval;
      if (args.cmd == proto::kMsgStat && !has_access(who, q->perm(), kRead)) return Errc::eacces;
      return MsgctlResult{q->id(), q->stat(who), std::nullopt};
    }
    case proto::kIpcSet:
      return ipc_set(who, args, now);
    case proto::kIpcRmid:
      return ipc_rmid(who, args.msqid);
    default:
      return Errc::einval;  // unknown, and IPC_64-flagged on x86_64 (Rule 4.1)
  }
}

bool Registry::cancel(WaiterId id) {
  const int slot = ns_.slot_of(id);
  if (slot < 0) return false;
  ns_.forget(id);
  Queue* q = slots_[static_cast<std::size_t>(slot)].get();
  return q != nullptr && q->cancel(id);
}

void Registry::load(SavedRegistry&& saved) {
  if (in_use_ != 0) throw std::invalid_argument("snapshot: the registry already has queues");
  for (SavedQueue& sq : saved.queues) {
    if (sq.slot < 0 || sq.slot >= proto::kIpcmni || slots_[static_cast<std::size_t>(sq.slot)])
      throw std::invalid_argument("snapshot: slot " + std::to_string(sq.slot) + " twice or out of range");
    const std::int32_t key = sq.fields.perm.key;
    if (key != proto::kIpcPrivate && !by_key_.emplace(key, sq.slot).second)
      throw std::invalid_argument("snapshot: key " + std::to_string(key) + " twice");
    auto q = std::make_unique<Queue>(sq.slot, sq.fields, std::move(sq.messages));
    ns_.usage().queued_bytes += q->cbytes();
    ns_.usage().queued_messages += q->qnum();
    ++by_cuid_[sq.fields.perm.cuid];
    max_idx_ = std::max(max_idx_, sq.slot);
    ++in_use_;
    slots_[static_cast<std::size_t>(sq.slot)] = std::move(q);
  }
  last_idx_ = saved.last_idx;
  next_cursor_ = saved.next_cursor;
  seq_ = saved.seq;
}

void Registry::restore(int msqid, Message&& msg, TimePoint now) {
  if (Queue* q = lookup(msqid)) q->restore(std::move(msg), now, ns_);
}

}  // namespace sysvmq::core
