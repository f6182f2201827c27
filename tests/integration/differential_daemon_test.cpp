// differential_daemon_test.cpp: the seeded differential run of the kernel-as-oracle tests
// (tests/support/differential.hpp: same generator, seeds 1..400, 500 calls each, same
// audits and identities) with a real sysvmqd as the candidate, reached through
// libsysvmq's C API. Ids are compared exactly, so each seed gets a fresh daemon as it
// gets a fresh IPC namespace: the slot cursor and sequence counter (Rule 1.8) depend on
// everything created before. The daemon starts with the namespace's limits in its
// --config file; the seeds that change the sysctls change the daemon's limits through
// ADMIN set_limits. Identity switches are in-process (seteuid, capset), and reach the
// daemon through the library's reconnect and per-call capabilities (Rule 5.4).
//
//   SYSVMQ_DIFF_SEED=<n>, SYSVMQ_DIFF_OPS=<n>, SYSVMQ_DIFF_SEEDS=<n>: as in the kernel test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "tests/support/daemon_backend.hpp"
#include "tests/support/daemon_fixture.hpp"
#include "tests/support/differential.hpp"

namespace sysvmq::test {
namespace {

// A sysvmqd of its own, started with the namespace's limits; stopped (SIGTERM, waited
// for, exit status checked) and its directory removed when the seed ends.
class DaemonCandidate final : public Candidate {
 public:
  ~DaemonCandidate() override {
    backend_.reset();
    if (const auto status = daemon_.stop()) {
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "sysvmqd ended with wait status " << *status;
    }
  }

  std::string start(const proto::Limits& limits) override {
    std::string why;
    if (!daemon_.make_dir(why)) return why;
    const std::string config = daemon_.dir() + "/sysvmqd.json";
    std::ofstream(config) << R"({"limits": {"msgmax": )" << limits.msgmax << R"(, "msgmnb": )"
                          << limits.msgmnb << R"(, "msgmni": )" << limits.msgmni << "}}\n";
    if (!daemon_.start(why, {"--config", config})) return why;
    backend_ = std::make_unique<DaemonBackend>(daemon_.socket_path());
    return {};
  }

  MsgBackend& backend() override { return *backend_; }

  std::string set_limits(const proto::Limits& limits) override {
    return backend_->set_limits(limits);
  }

 private:
  Daemon daemon_;
  std::unique_ptr<DaemonBackend> backend_;
};

class DifferentialDaemon : public testing::TestWithParam<int> {};

TEST_P(DifferentialDaemon, KernelAndDaemonAgreeOnRandomNowaitSequences) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (CLONE_NEWIPC, identity switches)";
  if (daemon_path().empty()) GTEST_SKIP() << "no sysvmqd binary to test against";
  run_differential_chunk(
      GetParam(), DifferentialOptions{[] { return std::make_unique<DaemonCandidate>(); }, "daemon",
                                      "ctest -L integration -R DifferentialDaemon"});
}

INSTANTIATE_TEST_SUITE_P(Seeds, DifferentialDaemon, testing::Range(0, kDifferentialChunks));

}  // namespace
}  // namespace sysvmq::test
