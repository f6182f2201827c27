// signal_test.cpp: a call parked in the daemon and hit by a signal whose handler runs
// ends with EINTR, with or without SA_RESTART, and leaves no waiter behind; calls that
// cannot park never see EINTR (SEMANTICS.md Rules 2.12, 3.12, 8.1).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sysvmq/sysvmq.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

std::atomic<int> g_handled{0};
void on_signal(int) { g_handled.fetch_add(1); }

// SIGUSR1 with a handler, with or without SA_RESTART, for the test's duration.
class SignalTest : public DaemonTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = GetParam() ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old_), 0);
  }
  void TearDown() override {
    ::sigaction(SIGUSR1, &old_, nullptr);
    DaemonTest::TearDown();
  }

  // Runs `call` in a new thread (its own connection), signals it once it is parked,
  // and returns the call's result and errno.
  template <class Call>
  std::pair<long, int> interrupt_parked(Call call) {
    std::atomic<pid_t> tid{0};
    long result = 0;
    int err = 0;
    std::thread t([&] {
      struct msqid_ds ds;
      sysvmq_msgctl(0, IPC_INFO, &ds);  // connect before announcing ourselves
      tid = current_tid();
      result = call();
      err = errno;
    });
    while (tid.load() == 0) std::this_thread::yield();
    EXPECT_TRUE(wait_until_in_poll(tid.load())) << "the call never parked";
    const int handled = g_handled.load();
    ::pthread_kill(t.native_handle(), SIGUSR1);
    t.join();
    EXPECT_GT(g_handled.load(), handled);
    return {result, err};
  }

  struct sigaction old_ {};
};

TEST_P(SignalTest, ParkedReceiverGetsEintrAndLeavesNoWaiter) {
  Queue q;
  auto [result, err] = interrupt_parked([&] {
    MsgBuf in;
    return static_cast<long>(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0));
  });
  EXPECT_EQ(result, -1);
  EXPECT_EQ(err, EINTR) << std::strerror(err);

  // Had the cancelled receiver stayed parked, this message would have gone to it.
  const MsgBuf out = make_msg(1, "still here");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 10, 0), 0);
  MsgBuf in;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), 10);
}

TEST_P(SignalTest, ParkedSenderGetsEintrAndItsMessageNeverEntersTheQueue) {
  Queue q;
  // msg_qbytes 0: nothing ever fits (Rule 2.3), so any send parks.
  struct msqid_ds ds;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  ds.msg_qbytes = 0;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_SET, &ds), 0);
  auto [result, err] = interrupt_parked([&] {
    const MsgBuf out = make_msg(1, "");
    return static_cast<long>(sysvmq_msgsnd(q.id(), &out, 0, 0));
  });
  EXPECT_EQ(result, -1);
  EXPECT_EQ(err, EINTR) << std::strerror(err);

  // Raising qbytes would complete a sender still parked.
  ds.msg_qbytes = 100;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_SET, &ds), 0);
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 0u);
}

TEST_P(SignalTest, AReceiverThatGetsItsMessageAfterTheSignalStillReturnsIt) {
  // A receiver parked on a queue; the signal and the message arrive together from the
  // daemon's point of view. Whatever the order, either EINTR (and the message stays in
  // the queue) or the message: never both lost.
  Queue q;
  for (int round = 0; round < 20; ++round) {
    std::atomic<pid_t> tid{0};
    ssize_t got = 0;
    int err = 0;
    MsgBuf in;
    std::thread t([&] {
      struct msqid_ds ds;
      sysvmq_msgctl(q.id(), IPC_STAT, &ds);
      tid = current_tid();
      got = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0);
      err = errno;
    });
    while (tid.load() == 0) std::this_thread::yield();
    ASSERT_TRUE(wait_until_in_poll(tid.load()));
    const MsgBuf out = make_msg(1, "race");
    ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 4, 0), 0);
    ::pthread_kill(t.native_handle(), SIGUSR1);
    t.join();
    struct msqid_ds ds;
    ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
    if (got == 4) {
      EXPECT_EQ(ds.msg_qnum, 0u);
    } else {
      EXPECT_EQ(err, EINTR);
      ASSERT_EQ(ds.msg_qnum, 1u) << "the message was lost";
      ASSERT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), 4);
    }
  }
}

TEST_P(SignalTest, CallsThatCannotParkNeverReturnEintr) {
  Queue q;
  // A storm of signals at a thread making non-parking calls: none may fail.
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<pid_t> tid{0};
  std::thread t([&] {
    tid = current_tid();
    for (int i = 0; i < 300; ++i) {
      struct msqid_ds ds;
      MsgBuf in;
      if (sysvmq_msgctl(q.id(), IPC_STAT, &ds) != 0) failures.fetch_add(1);
      if (sysvmq_msgget(IPC_PRIVATE, 0600) < 0) failures.fetch_add(1);
      if (sysvmq_msgrcv(q.id(), &in, 10, 0, IPC_NOWAIT) != -1 || errno != ENOMSG) {
        failures.fetch_add(1);
      }
    }
    done = true;
  });
  while (tid.load() == 0) std::this_thread::yield();
  while (!done.load()) {
    ::pthread_kill(t.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  t.join();
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutSaRestart, SignalTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "SaRestart" : "NoRestart"; });

}  // namespace
}  // namespace sysvmq::test
