// calls.cpp: the requests of calls.hpp and their answers.
#include "client/src/calls.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

#include "client/src/connection.hpp"
#include "client/src/user_memory.hpp"

namespace sysvmq::detail {
namespace {

// A reply's status as an errno: 0, a known SysV answer, or EPROTO for anything a
// correct daemon never sends.
int status_errno(std::int32_t status) {
  if (status == proto::kStatusOk) return 0;
  return proto::is_known_errc(status) ? status : EPROTO;
}

template <class R>
const R* reply_as(const proto::Reply& reply) {
  return std::get_if<R>(&reply);
}

}  // namespace

int do_msgget(Connection& c, key_t key, int msgflg, int& msqid) {
  proto::Reply reply;
  if (int err = c.call(proto::MsggetRequest{key, msgflg}, false, reply)) return err;
  const auto* r = reply_as<proto::MsggetReply>(reply);
  if (r == nullptr) return EPROTO;
  if (int err = status_errno(r->status)) return err;
  msqid = r->msqid;
  return 0;
}

namespace {

// Sends a prepared msgsnd: on credit when this connection holds enough, else as a call.
int send_msgsnd(Connection& c, const proto::Request& request) {
  const auto& req = std::get<proto::MsgsndRequest>(request);
  if (c.on_fast_path() && c.send_on_credit(req) == 0) return 0;
  proto::Reply reply;
  // msgop(2): "If IPC_NOWAIT is specified in msgflg, then the call instead fails" —
  // such a call never parks, so a signal cannot interrupt it.
  if (int err = c.call(request, (req.msgflg & proto::kIpcNowait) == 0, reply)) return err;
  const auto* r = reply_as<proto::MsgsndReply>(reply);
  if (r == nullptr) return EPROTO;
  return status_errno(r->status);
}

// A msgsnd request without its mtype and text; `text_fits` says whether a text of
// `msgsz` bytes goes in the frame (else the daemon answers EINVAL above msgmax, or
// ENOMEM: a size_t above SSIZE_MAX becomes negative and is EINVAL, Rule 2.1 step 2).
proto::Request msgsnd_request(const Connection& c, int msqid, std::size_t msgsz, int msgflg,
                              bool& text_fits) {
  proto::Request request{std::in_place_type<proto::MsgsndRequest>};
  auto& req = std::get<proto::MsgsndRequest>(request);
  req.msqid = msqid;
  req.msgflg = msgflg;
  req.msgsz = static_cast<std::int64_t>(msgsz);
  const std::size_t max_text = c.hello().max_frame_bytes - proto::kMsgsndFixedBytes;
  text_fits = req.msgsz >= 0 && msgsz <= max_text;
  if (!text_fits) req.text_state = proto::TextState::omitted;
  return request;
}

}  // namespace

int do_msgsnd(Connection& c, int msqid, long mtype, const void* text, std::size_t msgsz,
              int msgflg) {
  if (!c.connected()) {
    if (int err = c.ensure()) return err;
  }
  bool text_fits = false;
  proto::Request request = msgsnd_request(c, msqid, msgsz, msgflg, text_fits);
  auto& req = std::get<proto::MsgsndRequest>(request);
  req.mtype = mtype;
  if (text_fits && msgsz != 0) {
    req.text.resize(msgsz);
    std::memcpy(req.text.data(), text, msgsz);
  }
  return send_msgsnd(c, request);
}

int do_msgsnd_from_user(Connection& c, int msqid, const void* msgp, std::size_t msgsz,
                        int msgflg) {
  long mtype = 0;
  if (!c.connected()) {
    // The first call: mtype is judged before the daemon is reached (Rule 2.1 step 1).
    if (!read_user(msgp, &mtype, sizeof mtype)) return EFAULT;
    if (int err = c.ensure()) return err;
  }
  bool text_fits = false;
  proto::Request request = msgsnd_request(c, msqid, msgsz, msgflg, text_fits);
  auto& req = std::get<proto::MsgsndRequest>(request);
  if (text_fits) req.text.resize(msgsz);
  const std::array<Piece, 2> pieces{Piece{&mtype, sizeof mtype},
                                    Piece{req.text.data(), text_fits ? msgsz : 0}};
  const std::size_t copied = read_user(msgp, pieces);
  if (copied < sizeof mtype) return EFAULT;
  req.mtype = mtype;
  if (text_fits && copied < sizeof mtype + msgsz) {
    // The daemon answers EFAULT, or EINVAL when that comes first (Rule 2.1).
    req.text_state = proto::TextState::fault;
    req.text.clear();
  }
  return send_msgsnd(c, request);
}

int do_msgrcv(Connection& c, int msqid, std::size_t msgsz, long msgtyp, int msgflg,
              long& mtype, proto::Bytes& text) {
  if (c.on_fast_path()) {
    const int err = c.receive_lent(msqid, msgsz, msgtyp, msgflg, mtype, text);
    if (err != EAGAIN) return err;
  }
  proto::MsgrcvRequest req;
  req.msqid = msqid;
  req.msgflg = msgflg;
  req.msgtyp = msgtyp;
  req.msgsz = static_cast<std::int64_t>(msgsz);  // negative: the daemon answers EINVAL
  proto::Reply reply;
  if (int err = c.call(req, (msgflg & proto::kIpcNowait) == 0, reply)) return err;
  auto* r = std::get_if<proto::MsgrcvReply>(&reply);
  if (r == nullptr) return EPROTO;
  if (int err = status_errno(r->status)) return err;
  // Never write past the caller's buffer, whatever the daemon says.
  if (r->text.size() > msgsz) return EPROTO;
  mtype = static_cast<long>(r->mtype);
  text = std::move(r->text);
  return 0;
}

int do_msgctl(Connection& c, const proto::MsgctlRequest& request, proto::MsgctlReply& reply) {
  proto::Reply any;
  if (int err = c.call(request, false, any)) return err;
  auto* r = std::get_if<proto::MsgctlReply>(&any);
  if (r == nullptr) return EPROTO;
  if (int err = status_errno(r->status)) return err;
  reply = std::move(*r);
  return 0;
}

int do_admin(Connection& c, std::string_view json, std::string& answer) {
  proto::Reply reply;
  if (int err = c.call(proto::AdminRequest{std::string(json)}, false, reply)) return err;
  auto* r = std::get_if<proto::AdminReply>(&reply);
  if (r == nullptr) return EPROTO;
  if (int err = status_errno(r->status)) return err;
  answer = std::move(r->json);
  return 0;
}

void to_msqid_ds(const proto::MsqidDs& from, struct msqid_ds& to) {
  // Pads, __glibc_reserved* and the 32-bit ABIs' *_high words stay zero (Rule 4.8).
  std::memset(&to, 0, sizeof to);
  to.msg_perm.__key = from.key;
  to.msg_perm.uid = from.uid;
  to.msg_perm.gid = from.gid;
  to.msg_perm.cuid = from.cuid;
  to.msg_perm.cgid = from.cgid;
  to.msg_perm.mode = static_cast<mode_t>(from.mode);
  to.msg_perm.__seq = static_cast<unsigned short>(from.seq);
  to.msg_stime = static_cast<time_t>(from.stime);
  to.msg_rtime = static_cast<time_t>(from.rtime);
  to.msg_ctime = static_cast<time_t>(from.ctime);
  to.__msg_cbytes = static_cast<decltype(to.__msg_cbytes)>(from.cbytes);
  to.msg_qnum = static_cast<msgqnum_t>(from.qnum);
  to.msg_qbytes = static_cast<msglen_t>(from.qbytes);
  to.msg_lspid = from.lspid;
  to.msg_lrpid = from.lrpid;
}

void to_msginfo(const proto::MsgInfo& from, struct msginfo& to) {
  std::memset(&to, 0, sizeof to);
  to.msgpool = from.msgpool;
  to.msgmap = from.msgmap;
  to.msgmax = from.msgmax;
  to.msgmnb = from.msgmnb;
  to.msgmni = from.msgmni;
  to.msgssz = from.msgssz;
  to.msgtql = from.msgtql;
  to.msgseg = from.msgseg;
}

proto::MsqidSet to_msqid_set(const struct msqid_ds& from) {
  proto::MsqidSet set;
  set.uid = from.msg_perm.uid;
  set.gid = from.msg_perm.gid;
  set.mode = static_cast<std::uint32_t>(from.msg_perm.mode);
  set.qbytes = from.msg_qbytes;
  return set;
}

}  // namespace sysvmq::detail
