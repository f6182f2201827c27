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

struct Finished {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) v.push_back(line);
    return v;
  }
  std::string describe() const {
    return "status " + std::to_string(status) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

// A child with pipes on stdin, stdout and stderr; stdin stays open for write_line().
class Program {
 public:
  Program(const std::vector<std::string>& argv, const Launch& how = {}) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      // Only the three pipes: descriptors the test runner inherited would blur what
      // the probe's "fds" step shows.
      ::syscall(SYS_close_range, 3u, ~0u, 0u);
      if (how.own_ipc_namespace && ::unshare(CLONE_NEWIPC) != 0) ::_exit(125);
      if (how.preload) {
        ::setenv("LD_PRELOAD", kShim.c_str(), 1);
      } else {
        ::unsetenv("LD_PRELOAD");
      }
      for (const auto& [name, value] : how.env) {
        if (value) {
          ::setenv(name.c_str(), value->c_str(), 1);
        } else {
          ::unsetenv(name.c_str());
        }
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
  }
  ~Program() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      finish();
    }
    if (in_ >= 0) ::close(in_);
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  pid_t pid() const { return pid_; }

  void write_line(const std::string& line = "go") {
    const std::string s = line + "\n";
    (void)!::write(in_, s.data(), s.size());
  }

  // The next line of stdout, or nullopt when none came within `limit`.
  std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Closes stdin, reads stdout and stderr to their end and waits for the child.
  Finished finish() {
    Finished r;
    done_ = true;
    if (pid_ <= 0) return r;
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
    r.out = std::move(pending_);
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open = 2;
    while (open > 0) {
      if (::poll(fds, 2, 30000) <= 0) break;  // a hung child: give up, it is killed below
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          sinks[i]->append(buf, static_cast<std::size_t>(n));
        } else {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        }
      }
    }
    for (auto& f : fds) {
      if (f.fd >= 0) {
        ::kill(pid_, SIGKILL);
        ::close(f.fd);
      }
    }
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool done_ = false;
  std::string pending_;
};

inline Finished run(const std::vector<std::string>& argv, const Launch& how = {}) {
  Program p(argv, how);
  return p.finish();
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

// Polls `pred` every 2 ms for up to `limit`.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
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
