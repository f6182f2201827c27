// `stress-ng --msg`: two stressors, each a blocking sender and receiver on a private
// queue, with MSG_COPY peeks, IPC_STAT, IPC_INFO, MSG_INFO, MSG_STAT_ANY on random
// indexes, a read of /proc/sysvipc/msg, and a receiver SIGKILLed while parked (7.10).
#include <iostream>

#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

TEST_F(CompatTest, StressNgMsgStressorCompletes) {
  if (!have_file("/usr/bin/stress-ng")) GTEST_SKIP() << "no stress-ng";
  const std::uint64_t before = requests_total();
  const Finished r = exec({"/usr/bin/stress-ng", "--msg", "2", "--msg-ops", "20000",
                           "--metrics-brief", "--temp-path", daemon_.dir()},
                          std::chrono::seconds(90));
  ASSERT_EQ(r.status, 0) << r.describe();
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find("successful run completed"), std::string::npos) << all;
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) {
    if (line.find("metrc:") != std::string::npos) std::cout << line << "\n";
  }
  const std::uint64_t requests = requests_total() - before;
  std::cout << "daemon requests: " << requests << "\n";
  // Every message is one msgsnd and one msgrcv (or more, with the peeks and stats).
  EXPECT_GE(requests, 20000u);
  const auto s = stats();
  EXPECT_EQ(s.value("parked_calls", ~0ULL), 0u) << s.dump();
  EXPECT_EQ(s.value("queues", ~0ULL), 0u) << "stress-ng removes its queues\n" << queues().dump();
}

}  // namespace
}  // namespace sysvmq::test
