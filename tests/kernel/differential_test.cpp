// differential_test.cpp: the seeded differential run (tests/support/differential.hpp) with
// a fresh core::Registry per seed as the candidate: kernel and core must give the same
// answer to every call. The same run against a real sysvmqd is
// tests/integration/differential_daemon_test.cpp.
//
//   SYSVMQ_DIFF_SEED=<n>   replay only seed n (in the first chunk)
//   SYSVMQ_DIFF_OPS=<n>    operations per seed (default 500)
//   SYSVMQ_DIFF_SEEDS=<n>  seeds per chunk (default 100; 4 chunks, seeds 1..400)
#include "tests/support/differential.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "daemon/core/registry.hpp"
#include "tests/support/kernel_oracle.hpp"

namespace sysvmq::test {
namespace {

// A core::Registry judged with this process's credentials at each call.
class CoreCandidate final : public Candidate {
 public:
  std::string start(const proto::Limits& limits) override {
    registry_ = std::make_unique<core::Registry>(limits);
    backend_ = std::make_unique<CoreBackend>(*registry_);
    return {};
  }
  MsgBackend& backend() override { return *backend_; }
  std::string set_limits(const proto::Limits& limits) override {
    registry_->set_limits(limits);
    return {};
  }

 private:
  std::unique_ptr<core::Registry> registry_;
  std::unique_ptr<CoreBackend> backend_;
};

class Differential : public testing::TestWithParam<int> {};

TEST_P(Differential, KernelAndCoreAgreeOnRandomNowaitSequences) {
  ASSERT_EQ(geteuid(), 0u) << "kernel tests need root (CLONE_NEWIPC, identity switches)";
  run_differential_chunk(
      GetParam(), DifferentialOptions{[] { return std::make_unique<CoreCandidate>(); }, "core",
                                      "ctest -L kernel -R Differential"});
}

INSTANTIATE_TEST_SUITE_P(Seeds, Differential, testing::Range(0, kDifferentialChunks));

}  // namespace
}  // namespace sysvmq::test
