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

using ProcessResult = Finished;

struct RunOptions {
  // NAME and its value in the child; nullopt unsets it.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  std::string input;  // written to the child's stdin, which is then closed
};

inline ChildOptions options_of(const RunOptions& o) {
  ChildOptions c;
  c.env = o.env;
  c.input = o.input;
  return c;
}

// A child started with pipes on its three standard streams.
class Child : public ChildProcess {
 public:
  Child(const std::vector<std::string>& argv, const RunOptions& o = {})
      : ChildProcess(argv, options_of(o)) {}
};

inline ProcessResult run(const std::vector<std::string>& argv, const RunOptions& o = {}) {
  return run_child(argv, options_of(o));
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
