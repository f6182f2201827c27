// The daemon's per-uid limits as a program sees them through the C API: msgget answers
// ENOSPC past max_queues_per_uid (as at msgmni), and a thread whose connection the
// daemon refuses (max_connections_per_uid) fails its calls with EAGAIN until a slot
// frees. The wire-level view of every limit is tests/daemon/limits_test.cpp.
#include <gtest/gtest.h>
#include <sysvmq/sysvmq.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/integration/integration_util.hpp"
#include "tests/support/child_process.hpp"  // eventually
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

class PerUidLimits : public ::testing::Test {
 protected:
  void start(const std::string& limits) {
    std::string why;
    ASSERT_TRUE(daemon_.make_dir(why)) << why;
    const std::string conf = daemon_.dir() + "/c.json";
    std::ofstream(conf) << R"({"limits": {)" << limits << "}}";
    ASSERT_TRUE(daemon_.start(why, {"--config", conf})) << why;
    ::setenv("SYSVMQ_SOCKET", daemon_.socket_path().c_str(), 1);
  }
  void TearDown() override {
    daemon_.remove_dir();
    ::unsetenv("SYSVMQ_SOCKET");
  }
  Daemon daemon_;
};

TEST_F(PerUidLimits, MsggetPastMaxQueuesPerUidIsEnospcUntilOneIsRemoved) {
  start(R"("max_queues_per_uid": 2)");
  Queue a, b;
  ASSERT_GE(a.id(), 0);
  ASSERT_GE(b.id(), 0);
  EXPECT_EQ(sysvmq_msgget(IPC_PRIVATE, 0600), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(sysvmq_msgget(0x51e7, IPC_CREAT | 0600), -1);
  EXPECT_EQ(errno, ENOSPC);
  ASSERT_EQ(sysvmq_msgctl(a.id(), IPC_RMID, nullptr), 0);
  const int c = sysvmq_msgget(IPC_PRIVATE, 0600);
  EXPECT_GE(c, 0) << "IPC_RMID gave the room back";
  if (c >= 0) sysvmq_msgctl(c, IPC_RMID, nullptr);
}

TEST_F(PerUidLimits, AThreadBeyondMaxConnectionsPerUidGetsEagainUntilASlotFrees) {
  start(R"("max_connections_per_uid": 1)");
  // A helper thread takes the uid's one connection and keeps it until told to end.
  std::mutex m;
  std::condition_variable cv;
  int holder_queue = -1;
  bool holding = false, release = false;
  std::thread holder([&] {
    // Refused (EAGAIN) while the daemon has not yet seen start()'s probe connection go.
    int id = -1;
    eventually([&] { return (id = sysvmq_msgget(IPC_PRIVATE, 0600)) >= 0 || errno != EAGAIN; });
    std::unique_lock lock(m);
    holder_queue = id;
    holding = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });  // the thread's connection closes as it ends
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return holding; });
  }
  ASSERT_GE(holder_queue, 0);
  // This thread's first call needs a connection of its own: refused, EAGAIN.
  struct msqid_ds ds {};
  EXPECT_EQ(sysvmq_msgctl(holder_queue, IPC_STAT, &ds), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(sysvmq_msgget(IPC_PRIVATE, 0600), -1);
  EXPECT_EQ(errno, EAGAIN);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  holder.join();
  // Once the daemon has seen the helper's connection close, this thread is served.
  EXPECT_TRUE(eventually([&] { return sysvmq_msgctl(holder_queue, IPC_STAT, &ds) == 0; }));
  EXPECT_EQ(sysvmq_msgctl(holder_queue, IPC_RMID, nullptr), 0);
}

}  // namespace
}  // namespace sysvmq::test
