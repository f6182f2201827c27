// preload_util.hpp: running unmodified programs (tests/helpers/mq_probe.c, ipcmk, ipcrm,
// fakeroot) with libsysvmq_preload.so against a daemon of the test's own, and proving
// the kernel saw nothing: each test runs in a private IPC namespace whose kernel queue
// table must still be empty when it ends.
// Not here: the daemon process (tests/support/daemon_fixture.hpp).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <sysvmq/client.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/daemon_fixture.hpp"
#include "tests/support/kernel_oracle.hpp"

namespace sysvmq::test {

inline const std::string kShim = SYSVMQ_PRELOAD_PATH;
inline const std::string kProbe = SYSVMQ_MQ_PROBE_PATH;
inline const std::string kCli = SYSVMQ_CLI_PATH;

// How a program is started.
struct Launch {
  bool preload = true;             // LD_PRELOAD=<the shim>, else LD_PRELOAD unset
  bool own_ipc_namespace = false;  // unshare(CLONE_NEWIPC) in the child before exec
  // NAME and its value in the child (applied after `preload`); nullopt unsets it.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
};

// Without the shim: the kernel's msg* in the test's namespace, or in one of its own.
inline Launch no_shim() {
  Launch l;
  l.preload = false;
  return l;
}
inline Launch kernel_in_own_namespace() {
  Launch l = no_shim();
  l.own_ipc_namespace = true;
  return l;
}
inline Launch with_env(std::vector<std::pair<std::string, std::optional<std::string>>> env,
                       bool preload = true) {
  Launch l;
  l.preload = preload;
  l.env = std::move(env);
  return l;
}

// The child-process options a Launch stands for: the shim in LD_PRELOAD (or not), the
// child's own IPC namespace, only the three pipes as descriptors (anything the test
// runner inherited would blur what the probe's "fds" step shows), stdin left open.
inline ChildOptions options_of(const Launch& how) {
  ChildOptions o;
  o.env.emplace_back("LD_PRELOAD",
                     how.preload ? std::optional<std::string>(kShim) : std::nullopt);
  o.env.insert(o.env.end(), how.env.begin(), how.env.end());
  o.input = std::nullopt;
  o.close_other_fds = true;
  if (how.own_ipc_namespace) {
    o.in_child = [] {
      if (::unshare(CLONE_NEWIPC) != 0) ::_exit(125);
    };
  }
  return o;
}

// A child with pipes on stdin, stdout and stderr; stdin stays open for write_line().
class Program : public ChildProcess {
 public:
  Program(const std::vector<std::string>& argv, const Launch& how = {})
      : ChildProcess(argv, options_of(how)) {}
};

inline Finished run(const std::vector<std::string>& argv, const Launch& how = {}) {
  return run_child(argv, options_of(how));
}

// mq_probe with `steps`.
inline std::vector<std::string> probe_argv(std::vector<std::string> steps) {
  steps.insert(steps.begin(), kProbe);
  return steps;
}

// The same lines with every msgget id replaced by "ID", for comparing with the kernel.
inline std::vector<std::string> without_ids(std::vector<std::string> lines) {
  static const std::regex id(R"(^get [0-9]+$)");
  for (auto& l : lines) {
    if (std::regex_match(l, id)) l = "get ID";
  }
  return lines;
}

// The number of message queues the kernel holds in this thread's IPC namespace: MSG_INFO
// through the raw syscall (msgpool is the count in use) and the rows of
// /proc/sysvipc/msg; -1 when the two disagree.
inline int kernel_queue_count() {
  struct msginfo info {};
  if (::syscall(SYS_msgctl, 0, MSG_INFO, reinterpret_cast<struct msqid_ds*>(&info)) < 0) {
    return -1;
  }
  std::ifstream proc("/proc/sysvipc/msg");
  int rows = -1;  // the header
  for (std::string line; std::getline(proc, line);) ++rows;
  return rows == info.msgpool ? info.msgpool : -1;
}


// A test with its own daemon (SYSVMQ_SOCKET points at it) in a fresh private IPC
// namespace; TearDown checks that the kernel holds no message queue in it.
class PreloadTest : public DaemonTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (private IPC namespaces, seteuid)";
    const std::string err = enter_private_ipc_namespace();
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_EQ(kernel_queue_count(), 0);
    DaemonTest::SetUp();
  }

  void TearDown() override {
    if (!IsSkipped()) {
      EXPECT_EQ(kernel_queue_count(), 0) << "the kernel saw a message queue";
    }
    DaemonTest::TearDown();
  }

  std::string sock() const { return daemon_.socket_path(); }

  // The daemon's ADMIN answer to {"op": op}.
  nlohmann::json admin(const std::string& op) {
    Client c(sock());
    auto r = c.admin(nlohmann::json{{"op", op}}.dump());
    if (!r) return nlohmann::json{};
    return nlohmann::json::parse(*r, nullptr, false);
  }
  long stat_of(const std::string& name) {
    const auto j = admin("stats");
    return j.is_object() && j.contains(name) ? j[name].get<long>() : -1;
  }
  long parked_calls() { return stat_of("parked_calls"); }
  long daemon_queues() { return stat_of("queues"); }
};

}  // namespace sysvmq::test
