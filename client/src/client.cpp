// client.cpp: sysvmq::Client (client.hpp) — the calls of calls.hpp on the Client's own
// Connection, with errors as std::error_code in std::generic_category().
#include <sysvmq/client.hpp>

#include <cerrno>

#include "client/src/calls.hpp"
#include "client/src/connection.hpp"
#include "client/src/pid_scope.hpp"

namespace sysvmq {
namespace {

std::error_code error(int err) { return {err, std::generic_category()}; }

proto::MsgctlRequest msgctl_request(int msqid, int cmd) {
  proto::MsgctlRequest request;
  request.msqid = msqid;
  request.cmd = cmd;
  return request;
}

}  // namespace

Client::Client() : connection_(std::make_unique<detail::Connection>()) {}
Client::Client(std::string socket_path)
    : connection_(std::make_unique<detail::Connection>(std::move(socket_path))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

detail::Connection& Client::connection() {
  if (!connection_) connection_ = std::make_unique<detail::Connection>();  // moved from
  return *connection_;
}

std::string Client::socket_path() const {
  return connection_ ? connection_->socket_path() : std::string(detail::default_socket_path());
}

Result<Limits> Client::connect() {
  if (int err = connection().ensure()) return error(err);
  const auto& hello = connection().hello();
  return Limits{hello.msgmax, hello.msgmnb, hello.msgmni, hello.max_frame_bytes};
}

Result<int> Client::msgget(key_t key, int msgflg) {
  int msqid = 0;
  if (int err = detail::do_msgget(connection(), key, msgflg, msqid)) return error(err);
  return msqid;
}

Result<void> Client::msgsnd(int msqid, long mtype, std::string_view text, int flags) {
  const detail::PidScope pid_scope;
  if (int err = detail::do_msgsnd(connection(), msqid, mtype, text.data(), text.size(), flags)) {
    return error(err);
  }
  return {};
}

Result<Message> Client::msgrcv(int msqid, std::size_t maxsize, long msgtyp, int flags) {
  const detail::PidScope pid_scope;
  Message message;
  proto::Bytes text;
  if (int err = detail::do_msgrcv(connection(), msqid, maxsize, msgtyp, flags, message.mtype,
                                  text)) {
    return error(err);
  }
  message.text.assign(reinterpret_cast<const char*>(text.data()), text.size());
  return message;
}

Result<struct msqid_ds> Client::stat(int msqid) {
  proto::MsgctlReply reply;
  if (int err = detail::do_msgctl(connection(), msgctl_request(msqid, proto::kIpcStat), reply)) {
    return error(err);
  }
  if (!reply.ds) return error(EPROTO);
  struct msqid_ds ds;
  detail::to_msqid_ds(*reply.ds, ds);
  return ds;
}

Result<SlotStat> Client::stat_slot(int index, bool any) {
  proto::MsgctlReply reply;
  const int cmd = any ? proto::kMsgStatAny : proto::kMsgStat;
  if (int err = detail::do_msgctl(connection(), msgctl_request(index, cmd), reply)) return error(err);
  if (!reply.ds) return error(EPROTO);
  SlotStat slot;
  slot.msqid = reply.ret;
  detail::to_msqid_ds(*reply.ds, slot.ds);
  return slot;
}

Result<void> Client::set(int msqid, const struct msqid_ds& ds) {
  proto::MsgctlRequest request;
  request.msqid = msqid;
  request.cmd = proto::kIpcSet;
  request.buf_state = proto::BufState::set;
  request.set = detail::to_msqid_set(ds);
  proto::MsgctlReply reply;
  if (int err = detail::do_msgctl(connection(), request, reply)) return error(err);
  return {};
}

Result<void> Client::remove(int msqid) {
  proto::MsgctlReply reply;
  if (int err = detail::do_msgctl(connection(), msgctl_request(msqid, proto::kIpcRmid), reply)) {
    return error(err);
  }
  return {};
}

Result<Info> Client::info(int cmd) {
  // Only the two commands that fill a struct msginfo belong here.
  if (cmd != proto::kIpcInfo && cmd != proto::kMsgInfo) return error(EINVAL);
  proto::MsgctlReply reply;
  if (int err = detail::do_msgctl(connection(), msgctl_request(0, cmd), reply)) return error(err);
  if (!reply.info) return error(EPROTO);
  Info info;
  info.highest_index = reply.ret;
  detail::to_msginfo(*reply.info, info.info);
  return info;
}

Result<std::string> Client::admin(std::string_view json) {
  std::string answer;
  if (int err = detail::do_admin(connection(), json, answer)) return error(err);
  return answer;
}

}  // namespace sysvmq
