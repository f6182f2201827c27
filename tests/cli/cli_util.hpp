// cli_util.hpp: running build/bin/sysvmq (and ipcs, sh, …) as a child process with its
// stdin, stdout, stderr and exit status in hand, and a fixture with a daemon of its own.
// Not here: the daemon process itself (tests/daemon/daemon_process.hpp).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/daemon/daemon_process.hpp"

namespace sysvmq::test {

inline const std::string kCli = SYSVMQ_CLI_PATH;

struct ProcessResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
};

struct RunOptions {
  // NAME and its value in the child; nullopt unsets it.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  std::string input;  // written to the child's stdin, which is then closed
};

// A child started with pipes on its three standard streams.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const RunOptions& o = {}) {
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
      for (const auto& [name, value] : o.env) {
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
    std::size_t off = 0;
    while (off < o.input.size()) {
      const ssize_t n = ::write(in[1], o.input.data() + off, o.input.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(in[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      finish();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // Reads both pipes to their end and waits for the child.
  ProcessResult finish() {
    ProcessResult r;
    done_ = true;
    if (pid_ <= 0) return r;
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open = 2;
    while (open > 0) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
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
    int st = 0;
    ::waitpid(pid_, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool done_ = false;
};

inline ProcessResult run(const std::vector<std::string>& argv, const RunOptions& o = {}) {
  Child c(argv, o);
  return c.finish();
}

inline std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::string describe(const ProcessResult& r) {
  return "status " + std::to_string(r.status) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// A test with its own sysvmqd on <tmp>/sysvmq.sock.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<DaemonProcess>(dir_, std::vector<std::string>{"--socket", sock()});
    ASSERT_TRUE(eventually([&] { return can_connect(sock()); })) << daemon_->log();
  }

  std::string sock() const { return dir_.file("sysvmq.sock"); }

  // `sysvmq --socket <sock> args…`
  ProcessResult cli(std::vector<std::string> args, const RunOptions& o = {}) const {
    args.insert(args.begin(), {kCli, "--socket", sock()});
    return run(args, o);
  }

  TempDir dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

}  // namespace sysvmq::test
