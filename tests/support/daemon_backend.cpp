// daemon_backend.cpp: see daemon_backend.hpp.
#include "tests/support/daemon_backend.hpp"

#include <sysvmq/sysvmq.h>

#include <cstdlib>
#include <sysvmq/client.hpp>

namespace sysvmq::test {

DaemonBackend::DaemonBackend(std::string socket_path)
    : CallsBackend("daemon", MsgCalls{sysvmq_msgget, sysvmq_msgsnd, sysvmq_msgrcv, sysvmq_msgctl}),
      socket_path_(std::move(socket_path)),
      admin_(std::make_unique<Client>(socket_path_)) {
  if (const char* old = std::getenv("SYSVMQ_SOCKET")) saved_socket_env_ = old;
  ::setenv("SYSVMQ_SOCKET", socket_path_.c_str(), 1);
}

DaemonBackend::~DaemonBackend() {
  if (saved_socket_env_) {
    ::setenv("SYSVMQ_SOCKET", saved_socket_env_->c_str(), 1);
  } else {
    ::unsetenv("SYSVMQ_SOCKET");
  }
}

std::string DaemonBackend::set_limits(const proto::Limits& limits) {
  const std::string request = R"({"op":"set_limits","msgmax":)" + std::to_string(limits.msgmax) +
                              R"(,"msgmnb":)" + std::to_string(limits.msgmnb) + R"(,"msgmni":)" +
                              std::to_string(limits.msgmni) + "}";
  auto answer = admin_->admin(request);
  if (answer) return {};
  return errno_name(answer.error().value()) + " for " + request;
}

}  // namespace sysvmq::test
