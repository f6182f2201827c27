// daemon_backend.hpp: sysvmqd as a MsgBackend — the very calls KernelBackend makes,
// through libsysvmq's C API (sysvmq_msgget/msgsnd/msgrcv/msgctl) instead of syscalls, so
// the daemon is judged by what a C program sees. The C API judges each call by the
// calling thread's credentials of the moment (it reconnects when euid/egid/groups
// change and sends the thread's capabilities, SEMANTICS.md Rule 5.4), so identity.hpp's
// in-process switches reach the daemon as they reach the kernel.
// Not here: starting the daemon (daemon_fixture.hpp). Linked only into test programs
// that link libsysvmq (tests/CMakeLists.txt).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "proto/limits.hpp"
#include "tests/support/kernel_oracle.hpp"

namespace sysvmq {
class Client;
}

namespace sysvmq::test {

class DaemonBackend final : public CallsBackend {
 public:
  // Points the C API of this process at `socket_path` ($SYSVMQ_SOCKET, put back as it
  // was by the destructor).
  explicit DaemonBackend(std::string socket_path);
  ~DaemonBackend() override;
  DaemonBackend(const DaemonBackend&) = delete;
  DaemonBackend& operator=(const DaemonBackend&) = delete;

  // The daemon's ADMIN {"op":"set_limits"}, as the calling thread (which needs
  // CAP_SYS_ADMIN). "" on success, else the errno's name and the daemon's answer.
  std::string set_limits(const proto::Limits& limits);

 private:
  std::string socket_path_;
  std::optional<std::string> saved_socket_env_;
  std::unique_ptr<Client> admin_;
};

}  // namespace sysvmq::test
