// Clients that die, signals that rain, a daemon-wide byte quota: nothing is lost, no
// waiter leaks, and the answers are the kernel's (or, for the quota, ENOMEM).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <sysvmq/client.hpp>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;

class Faults : public DaemonTest {};

TEST_F(Faults, ClientKilledWhileParkedLeavesNoWaiterAndNoLostMessage) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    MsgBuf m;
    ::_exit(sysvmq_msgrcv(q.id(), &m, sizeof m.mtext, 0, 0) < 0 ? 1 : 0);  // parks
  }
  ASSERT_TRUE(parked_becomes(1));
  ::kill(child, SIGKILL);
  int st = 0;
  ::waitpid(child, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));
  ASSERT_TRUE(parked_becomes(0)) << "the dead receiver is still parked";
  // The next message is not swallowed by the dead receiver.
  MsgBuf out = make_msg(1, "after");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 5, IPC_NOWAIT), 0);
  MsgBuf in;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), 5);
}

TEST_F(Faults, SenderKilledWhileParkedNeverEntersTheQueue) {
  Queue q;
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  ds.msg_qbytes = 4;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_SET, &ds), 0);
  MsgBuf m = make_msg(1, "1234");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &m, 4, 0), 0);  // the queue is now full
  const pid_t child = ::fork();
  if (child == 0) {
    MsgBuf x = make_msg(2, "xy");
    ::_exit(sysvmq_msgsnd(q.id(), &x, 2, 0));  // parks
  }
  ASSERT_TRUE(parked_becomes(1));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(parked_becomes(0));
  MsgBuf in;
  ASSERT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), 4);
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, ENOMSG) << "the killed sender's message must never enter the queue";
}

void on_signal(int) {}

// A sender and a receiver stream messages through a queue that holds only a few, so
// both park again and again, while another thread showers both with signals. Every
// EINTR is retried, as a careful program does; every message must arrive exactly once,
// in order, intact (SEMANTICS.md 8.1, 3.11).
TEST_F(Faults, SignalStormDuringAStreamLosesNothing) {
  for (const bool restart : {false, true}) {
    SCOPED_TRACE(restart ? "SA_RESTART" : "no SA_RESTART");
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    ASSERT_EQ(::sigaction(SIGUSR1, &sa, nullptr), 0);
    Queue q;
    struct msqid_ds ds {};
    ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
    ds.msg_qbytes = 64;  // at most a few messages queued at once
    ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_SET, &ds), 0);

    constexpr int kMessages = 3000;
    std::atomic<pid_t> sender_tid{0}, receiver_tid{0};
    std::atomic<bool> done{false};
    std::atomic<int> interrupted{0};
    std::thread sender([&] {
      sender_tid = current_tid();
      for (int i = 0; i < kMessages; ++i) {
        const std::string text = "m" + std::to_string(i);
        MsgBuf m = make_msg(1 + i % 3, text);
        while (sysvmq_msgsnd(q.id(), &m, text.size(), 0) != 0) {
          ASSERT_EQ(errno, EINTR);
          ++interrupted;
        }
      }
    });
    std::vector<std::string> received;
    std::thread receiver([&] {
      receiver_tid = current_tid();
      MsgBuf m;
      while (received.size() < kMessages) {
        const ssize_t n = sysvmq_msgrcv(q.id(), &m, sizeof m.mtext, 0, 0);
        if (n < 0) {
          ASSERT_EQ(errno, EINTR);
          ++interrupted;
          continue;
        }
        received.emplace_back(m.mtext, static_cast<std::size_t>(n));
        ASSERT_EQ(m.mtype, 1 + static_cast<long>(received.size() - 1) % 3);
      }
    });
    std::thread storm([&] {
      while (!done) {
        if (sender_tid) ::syscall(SYS_tgkill, ::getpid(), sender_tid.load(), SIGUSR1);
        if (receiver_tid) ::syscall(SYS_tgkill, ::getpid(), receiver_tid.load(), SIGUSR1);
        std::this_thread::sleep_for(50us);
      }
    });
    sender.join();
    receiver.join();
    done = true;
    storm.join();
    ASSERT_EQ(received.size(), static_cast<std::size_t>(kMessages));
    for (int i = 0; i < kMessages; ++i) ASSERT_EQ(received[i], "m" + std::to_string(i)) << i;
    EXPECT_EQ(daemon_stats()["parked_calls"], 0);
    ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
    EXPECT_EQ(ds.msg_qnum, 0u);
    std::cout << "[          ] " << interrupted << " calls were interrupted and retried\n";
  }
}

class ByteQuota : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    char tmpl[] = "/tmp/sysvmq-quota-XXXXXX";
    conf_dir_ = ::mkdtemp(tmpl);
    std::ofstream(conf_dir_ + "/c.json") << R"({"limits": {"max_queued_bytes": 100}})";
    ASSERT_TRUE(daemon_.start(why, {"--config", conf_dir_ + "/c.json"})) << why;
    ::setenv("SYSVMQ_SOCKET", daemon_.socket_path().c_str(), 1);
  }
  void TearDown() override {
    daemon_.remove_dir();
    ::unsetenv("SYSVMQ_SOCKET");
    std::system(("rm -rf '" + conf_dir_ + "'").c_str());
  }
  Daemon daemon_;
  std::string conf_dir_;
};

TEST_F(ByteQuota, RefusesWithEnomemAcrossQueuesAndNeverBlocks) {
  Queue a, b;
  MsgBuf m = make_msg(1, std::string(60, 'x'));
  ASSERT_EQ(sysvmq_msgsnd(a.id(), &m, 60, 0), 0);
  // 60 + 60 > 100: refused even though queue b is empty and far from its msg_qbytes,
  // and refused at once although the call may block (SEMANTICS.md 2.13).
  EXPECT_EQ(sysvmq_msgsnd(b.id(), &m, 60, 0), -1);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(sysvmq_msgsnd(b.id(), &m, 40, 0), 0) << "60 + 40 fits the quota exactly";
  MsgBuf in;
  ASSERT_EQ(sysvmq_msgrcv(a.id(), &in, sizeof in.mtext, 0, 0), 60);
  EXPECT_EQ(sysvmq_msgsnd(b.id(), &m, 60, 0), 0) << "room again once a message left";
  EXPECT_EQ(daemon_stats().value("sends_refused_quota", -1), 1) << "each refusal is counted";
}

}  // namespace
}  // namespace sysvmq::test
