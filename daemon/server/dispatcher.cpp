// dispatcher.cpp: the Server's request handlers — proto in, core call, proto out.
// One handle_* per SysV call; the core decides everything, this file only translates.
#include <spdlog/spdlog.h>

#include "daemon/server/server.hpp"
#include "daemon/server/stats.hpp"

namespace sysvmq::server {

namespace {
std::int32_t status_of(core::Errc e) { return static_cast<std::int32_t>(e); }

std::shared_ptr<spdlog::logger> log() {
  static auto l = spdlog::get("server") ? spdlog::get("server") : spdlog::default_logger();
  return l;
}
}  // namespace

void Server::dispatch(Session& s, const Incoming& h, proto::Request&& req) {
  if (!s.hello_done()) {
    if (auto* hello = std::get_if<proto::HelloRequest>(&req)) {
      handle_hello(s, h, *hello);
    } else {
      ++counters_.sessions_closed_bad_input;
      s.close("bad frame: first request is not HELLO", true);
    }
    return;
  }
  std::visit(
      [&](auto&& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, proto::HelloRequest>) {
          ++counters_.sessions_closed_bad_input;
          s.close("bad frame: second HELLO", true);
        } else if constexpr (std::is_same_v<T, proto::MsggetRequest>) {
          handle_msgget(s, h, r);
        } else if constexpr (std::is_same_v<T, proto::MsgsndRequest>) {
          handle_msgsnd(s, h, std::move(r));
        } else if constexpr (std::is_same_v<T, proto::MsgrcvRequest>) {
          handle_msgrcv(s, h, r);
        } else if constexpr (std::is_same_v<T, proto::MsgctlRequest>) {
          handle_msgctl(s, h, r);
        } else if constexpr (std::is_same_v<T, proto::CancelRequest>) {
          handle_cancel(s, h);
        } else if constexpr (std::is_same_v<T, proto::AdminRequest>) {
          handle_admin(s, h, r);
        } else if constexpr (std::is_same_v<T, proto::RingSetupRequest>) {
          handle_ring_setup(s, h);
        } else if constexpr (std::is_same_v<T, proto::DoorbellRequest>) {
          // The client published entries while every ring was marked idle; the poller
          // runs them (this session's were run before this frame already).
          wake_ring_poller();
        }
      },
      std::move(req));
}

void Server::handle_hello(Session& s, const Incoming& h, const proto::HelloRequest& r) {
  if (r.magic != proto::kMagic) {
    ++counters_.sessions_closed_bad_input;
    s.close("bad frame: HELLO with wrong magic", true);
    return;
  }
  proto::HelloReply reply;
  reply.msgmax = registry_.limits().msgmax;
  reply.msgmnb = registry_.limits().msgmnb;
  reply.msgmni = registry_.limits().msgmni;
  reply.max_frame_bytes = options_.max_frame_bytes;
  if (r.version != proto::kVersion) {
    reply.status = status_of(core::Errc::einval);
    s.send(h, reply);
    s.close_after_writes();
    return;
  }
  s.set_hello_done();
  s.send(h, reply);
}

void Server::handle_msgget(Session& s, const Incoming& h, const proto::MsggetRequest& r) {
  const core::Caller& who = caller_for(s, h.flags);
  auto out = registry_.msgget(who, r.key, r.msgflg, now_coarse());
  const std::uint32_t per_uid = registry_.limits().max_queues_per_uid;
  if (out.error() == core::Errc::enospc && per_uid != 0 &&
      registry_.queues_created_by(who.uid) >= per_uid) {
    ++counters_.queues_refused_per_uid;
    if (s.log_limit_once(Session::LimitLogged::queues))
      log()->warn("session {}: msgget refused, uid {} created {} queues, the limit "
                  "(max_queues_per_uid); answered ENOSPC ({})",
                  s.id(), who.uid, per_uid, s.describe());
  }
  s.send(h, proto::MsggetReply{status_of(out.error()), out.ok() ? out.value() : -1});
}

void Server::handle_msgsnd(Session& s, const Incoming& h, proto::MsgsndRequest&& r) {
  core::MsgsndArgs args;
  args.msqid = r.msqid;
  args.mtype = r.mtype;
  args.msgsz = r.msgsz;
  args.msgflg = r.msgflg;
  args.text = std::move(r.text);
  args.text_fault = r.text_state == proto::TextState::fault;
  args.text_too_large = r.text_state == proto::TextState::omitted;
  const bool args_too_large = args.text_too_large;  // its ENOMEM is not the quota's

  if (h.flags & proto::kFlagOnCredit) {
    // Complete since it was published: applied, never answered. The ledger, not the
    // shared word, says whether it was paid for.
    auto& ledger = s.credit();
    const auto size = static_cast<std::uint64_t>(std::max<std::int64_t>(r.msgsz, 0));
    if (h.channel != Channel::ring || ledger.msqid != r.msqid || ledger.held.count < 1 ||
        ledger.held.bytes < size) {
      ++counters_.sessions_closed_bad_input;
      s.close("MSGSND on credit the connection does not hold", true);
      return;
    }
    ledger.held.count -= 1;
    ledger.held.bytes -= size;
    if (ledger.held.empty()) forget_credited(s);
    const auto e = registry_.msgsnd_reserved(s.peer().caller, std::move(args), now_coarse());
    if (e == core::Errc::einval) {
      ++counters_.sessions_closed_bad_input;
      s.close("MSGSND on credit with a message no msgsnd could send", true);
    }
    ++counters_.sends_on_credit;
    return;
  }

  // A sender that would fit but for the room promised to credit holders is not kept
  // waiting for them: the promise is taken back first.
  if (registry_.blocked_by_reservations(r.msqid, args.text.size())) revoke_credit_on(r.msqid);
  if (registry_.quota_blocked_by_reservations(args.text.size())) revoke_all_credit();
  auto out = registry_.msgsnd(caller_for(s, h.flags), std::move(args), now_coarse());
  if (out.parked()) {
    if (park(s, h, out.waiter(), r.msqid, r.msgflg, r.msgsz))
      revoke_credit_on(r.msqid);  // a parked sender comes before any promise
    return;
  }
  if (out.error() == core::Errc::enomem && !args_too_large) {
    ++counters_.sends_refused_quota;
    if (s.log_limit_once(Session::LimitLogged::quota))
      log()->warn(
          "session {}: msgsnd refused, {} queued bytes is the limit (max_queued_bytes); "
          "answered ENOMEM ({})",
          s.id(), registry_.limits().max_queued_bytes, s.describe());
  }
  if (out.ok() && h.channel == Channel::ring) maybe_grant(s, r.msqid);
  // A leased queue's receiver is lent the new message by the ring poller.
  if (out.ok() && !leased_.empty()) wake_ring_poller();
  s.send(h, proto::MsgsndReply{status_of(out.error())});
}

void Server::handle_msgrcv(Session& s, const Incoming& h, const proto::MsgrcvRequest& r) {
  // Whoever asks, the lease ends first: this receiver may be owed a lent message.
  const bool copy = (r.msgflg & proto::kMsgCopy) != 0;
  if (!copy) revoke_lease_on(r.msqid);
  if (s.closed()) return;
  core::MsgrcvArgs args{r.msqid, r.msgsz, r.msgtyp, r.msgflg};
  auto out = registry_.msgrcv(caller_for(s, h.flags), args, now_coarse());
  if (out.parked()) {
    park(s, h, out.waiter(), r.msqid, r.msgflg, r.msgsz);
    return;
  }
  if (!out.ok()) {
    s.send(h, proto::MsgrcvReply{status_of(out.error()), 0, {}});
    return;
  }
  core::Received got = std::move(out).value();
  // A receiver on the fast path that took a message is lent the next ones it would
  // take (plain selectors only: msgtyp 0 or an exact type).
  if (!copy && h.channel == Channel::ring && r.msgtyp >= 0 && !(r.msgflg & proto::kMsgExcept))
    maybe_lease(s, r.msqid, r.msgtyp);
  // A MSG_COPY never took the message; a truncated one cannot be put back whole (8.3).
  const bool noerror = (r.msgflg & proto::kMsgNoerror) != 0;
  const bool whole = !noerror || static_cast<std::int64_t>(got.text.size()) < r.msgsz;
  const int restore = (!copy && whole) ? r.msqid : -1;
  s.send(h, proto::MsgrcvReply{0, got.mtype, std::move(got.text)}, restore);
}

void Server::handle_msgctl(Session& s, const Incoming& h, const proto::MsgctlRequest& r) {
  if (r.cmd == proto::kIpcRmid || r.cmd == proto::kIpcSet) {
    settle_pending_input(s);
    // What was sent on credit lands before the queue goes or changes; no credit survives
    // a change of permissions or of msg_qbytes, and no lease either.
    revoke_credit_on(r.msqid);
    revoke_lease_on(r.msqid);
  }
  if (s.closed()) return;
  core::MsgctlArgs args;
  args.msqid = r.msqid;
  args.cmd = r.cmd;
  if (r.buf_state == proto::BufState::set) args.set = r.set;
  args.buf_fault = r.buf_state == proto::BufState::fault;
  auto out = registry_.msgctl(caller_for(s, h.flags), args, now_coarse());
  proto::MsgctlReply reply;
  reply.status = status_of(out.error());
  if (out.ok()) {
    reply.ret = out.value().ret;
    reply.ds = out.value().ds;
    reply.info = out.value().info;
  }
  s.send(h, std::move(reply));
}

void Server::handle_cancel(Session& s, const Incoming& h) {
  // PROTOCOL.md: CANCEL has no reply of its own; the named call gets exactly one.
  auto it = s.parked().find(h.request_id);
  if (it == s.parked().end()) return;  // already answered (or unknown): nothing to do
  const ParkedCall call = it->second;
  s.parked().erase(it);
  routes_.erase(call.waiter);
  if (!registry_.cancel(call.waiter)) return;
  const auto eintr = status_of(core::Errc::eintr);
  // The answer goes where the call came from, whichever way the CANCEL came.
  const ReplyTo to{h.request_id, call.channel};
  if (call.opcode == proto::Opcode::msgsnd) {
    s.send(to, proto::MsgsndReply{eintr});
  } else {
    s.send(to, proto::MsgrcvReply{eintr, 0, {}});
  }
}

void Server::handle_ring_setup(Session& s, const Incoming& h) {
  // Over the socket only: the reply carries a descriptor.
  if (!options_.fast_path || s.has_ring() || h.channel != Channel::socket) {
    s.send(h, proto::RingSetupReply{status_of(s.has_ring() ? core::Errc::einval : core::Errc::enosys)});
    return;
  }
  std::string why;
  auto ring = RingChannel::create(options_.ring_bytes, why);
  if (!ring) {
    spdlog::warn("session {}: no fast path ({}); it stays on the socket", s.id(), why);
    s.send(h, proto::RingSetupReply{status_of(core::Errc::enosys)});
    return;
  }
  ring->set_daemon_idle(rings_idle_);
  ++counters_.rings_set_up;
  s.attach_ring(std::move(ring), h);
  if (!s.closed()) ring_sessions_.push_back(s.shared_from_this());
}

void Server::handle_admin(Session& s, const Incoming& h, const proto::AdminRequest& r) {
  s.send(h, answer_admin(*this, caller_for(s, h.flags), r.json));
}

}  // namespace sysvmq::server
