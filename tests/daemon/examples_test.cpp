// The README's examples, built with the project, run against a real daemon.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/daemon/daemon_process.hpp"

namespace sysvmq::test {
namespace {

// Runs `program` with SYSVMQ_SOCKET set; returns its exit status and stdout.
std::pair<int, std::string> run(const std::string& program, const std::string& socket) {
  const std::string cmd = "SYSVMQ_SOCKET='" + socket + "' '" + program + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = p ? ::pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class Examples : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<DaemonProcess>(dir_, std::vector<std::string>{"--socket", sock()});
    ASSERT_TRUE(eventually([&] { return can_connect(sock()); })) << daemon_->log();
  }
  void TearDown() override { EXPECT_EQ(daemon_->terminate(), 0) << daemon_->log(); }
  std::string sock() const { return dir_.file("s.sock"); }
  TempDir dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(Examples, CProgramRoundTrip) {
  const auto [status, out] = run(SYSVMQ_EXAMPLE_C, sock());
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out,
            "queued: 1 message(s), 13 byte(s)\n"
            "received type 1: hello from C\n"
            "nothing of type 2: ENOMSG\n");
}

TEST_F(Examples, CppProgramTakesLowestTypeFirst) {
  const auto [status, out] = run(SYSVMQ_EXAMPLE_CPP, sock());
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out,
            "received type 1: message of type 1\n"
            "received type 2: message of type 2\n"
            "left in the queue: 1\n");
}

TEST(ExamplesWithoutDaemon, SayWhichSocketTheyTried) {
  const auto [status, out] = run(SYSVMQ_EXAMPLE_C, "/nonexistent/sysvmq.sock");
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("/nonexistent/sysvmq.sock"), std::string::npos) << out;
}

}  // namespace
}  // namespace sysvmq::test
