// process_test.cpp: connections belong to one thread of one process — a forked child
// opens its own, and each thread has its own, so a blocked msgrcv in one thread never
// stalls another (DESIGN.md "Client side", SEMANTICS.md Rule 5.4.2, 8.3).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <sysvmq/client.hpp>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

class ProcessTest : public DaemonTest {};

TEST_F(ProcessTest, ForkedChildUsesItsOwnConnection) {
  Queue to_parent;
  Queue to_child;
  ASSERT_GE(to_child.id(), 0);  // the parent's connection is open before fork()

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No gtest here: exit codes say what went wrong.
    const MsgBuf hello = make_msg(1, "from child");
    if (sysvmq_msgsnd(to_parent.id(), &hello, 10, 0) != 0) ::_exit(10);
    MsgBuf in;
    if (sysvmq_msgrcv(to_child.id(), &in, sizeof in.mtext, 0, 0) != 5) ::_exit(11);
    if (std::string(in.mtext, 5) != "reply") ::_exit(12);
    ::_exit(0);
  }

  MsgBuf in;
  ASSERT_EQ(sysvmq_msgrcv(to_parent.id(), &in, sizeof in.mtext, 0, 0), 10);
  EXPECT_EQ(std::string(in.mtext, 10), "from child");
  // The daemon saw the child's own connection: lspid is the child's pid.
  struct msqid_ds ds;
  ASSERT_EQ(sysvmq_msgctl(to_parent.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_lspid, child);
  EXPECT_EQ(ds.msg_lrpid, ::getpid());

  const MsgBuf reply = make_msg(1, "reply");
  ASSERT_EQ(sysvmq_msgsnd(to_child.id(), &reply, 5, 0), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  // The parent's connection still works after the child's exit.
  ASSERT_EQ(sysvmq_msgctl(to_child.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_lrpid, child);
}

// Sockets open in this process ("socket:[…]" links in /proc/self/fd).
int count_sockets() {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.string().rfind("socket:", 0) == 0) ++n;
  }
  return n;
}

TEST_F(ProcessTest, ChildClosesEveryInheritedConnection) {
  // Rule 8.3: a child holding a copy of a parked thread's socket would keep that
  // waiter alive after the parent died. The child closes all of them — the forking
  // thread's and the parked thread's — and opens its own on its first call.
  Queue q;
  std::atomic<pid_t> tid{0};
  ssize_t got = 0;
  std::thread parked([&] {
    struct msqid_ds ds;
    sysvmq_msgctl(q.id(), IPC_STAT, &ds);
    tid = current_tid();
    MsgBuf in;
    got = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 2, 0);
  });
  while (tid.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(wait_until_in_poll(tid.load()));
  const int sockets_before = count_sockets();
  ASSERT_GE(sockets_before, 2);  // the main thread's and the parked thread's

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (count_sockets() != sockets_before - 2) ::_exit(10);
    const MsgBuf m = make_msg(1, "one");
    if (sysvmq_msgsnd(q.id(), &m, 3, 0) != 0) ::_exit(11);
    MsgBuf in;
    if (sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 1, IPC_NOWAIT) != 3) ::_exit(12);
    if (count_sockets() != sockets_before - 1) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  // The parent's parked call is untouched by the child closing its copies.
  const MsgBuf two = make_msg(2, "two");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &two, 3, 0), 0);
  parked.join();
  EXPECT_EQ(got, 3);
}

TEST_F(ProcessTest, BlockedReceiverInOneThreadDoesNotStallAnother) {
  Queue slow;
  Queue fast;
  std::atomic<pid_t> tid{0};
  ssize_t got = 0;
  MsgBuf in;
  std::thread blocked([&] {
    struct msqid_ds ds;
    sysvmq_msgctl(slow.id(), IPC_STAT, &ds);
    tid = current_tid();
    got = sysvmq_msgrcv(slow.id(), &in, sizeof in.mtext, 0, 0);
  });
  while (tid.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(wait_until_in_poll(tid.load()));

  // The main thread's calls go through while the other thread is parked.
  for (int i = 0; i < 100; ++i) {
    const MsgBuf m = make_msg(1, "ping");
    ASSERT_EQ(sysvmq_msgsnd(fast.id(), &m, 4, 0), 0);
    MsgBuf r;
    ASSERT_EQ(sysvmq_msgrcv(fast.id(), &r, sizeof r.mtext, 0, 0), 4);
  }
  const MsgBuf wake = make_msg(9, "wake");
  ASSERT_EQ(sysvmq_msgsnd(slow.id(), &wake, 4, 0), 0);
  blocked.join();
  EXPECT_EQ(got, 4);
  EXPECT_EQ(in.mtype, 9);
}

TEST_F(ProcessTest, ManyThreadsPingPongOnTheirOwnConnections) {
  constexpr int kThreads = 8;
  std::vector<int> queues;
  for (int i = 0; i < kThreads; ++i) queues.push_back(sysvmq_msgget(IPC_PRIVATE, 0600));
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  // Thread i receives on queue i and sends to queue i+1: a ring of blocking calls.
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 50; ++round) {
        if (i == 0) {
          const MsgBuf m = make_msg(1, "token");
          if (sysvmq_msgsnd(queues[1], &m, 5, 0) != 0) errors.fetch_add(1);
          MsgBuf in;
          if (sysvmq_msgrcv(queues[0], &in, sizeof in.mtext, 0, 0) != 5) errors.fetch_add(1);
        } else {
          MsgBuf in;
          if (sysvmq_msgrcv(queues[i], &in, sizeof in.mtext, 0, 0) != 5) errors.fetch_add(1);
          if (sysvmq_msgsnd(queues[(i + 1) % kThreads], &in, 5, 0) != 0) errors.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  for (int id : queues) sysvmq_msgctl(id, IPC_RMID, nullptr);
}

}  // namespace
}  // namespace sysvmq::test
