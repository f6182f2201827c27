// fork() and connections (issue #8, item 4): a child forked while another thread of its
// parent is blocked in msgrcv makes its own calls on its own connection, and the parent's
// blocked call still completes with the right message; a child of a single-threaded
// process that already talked to the daemon works on its own.
// Not here: the fork handler's socket bookkeeping in detail (process_test.cpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <sysvmq/client.hpp>
#include <thread>

#include "tests/integration/integration_util.hpp"
#include "tests/support/child_process.hpp"  // eventually
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;

struct msqid_ds stat_of(int msqid) {
  struct msqid_ds ds {};
  sysvmq_msgctl(msqid, IPC_STAT, &ds);
  return ds;
}

// The child's exit status says which of its checks failed (0: none).
int wait_status(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

class Fork : public DaemonTest {};

TEST_F(Fork, AChildForkedWhileAThreadIsBlockedInMsgrcvLeavesThatCallAlone) {
  Queue q, own;
  ASSERT_GE(q.id(), 0);
  ASSERT_GE(own.id(), 0);
  std::atomic<pid_t> tid{0};
  std::atomic<long> got_type{-1};
  std::string got_text;
  std::thread blocked([&] {
    tid = current_tid();
    MsgBuf m;
    const ssize_t n = sysvmq_msgrcv(q.id(), &m, sizeof m.mtext, 7, 0);  // type 7 only
    if (n >= 0) got_text.assign(m.mtext, static_cast<std::size_t>(n));
    got_type = n >= 0 ? m.mtype : -errno;
  });
  ASSERT_TRUE(parked_becomes(1));
  ASSERT_TRUE(wait_until_in_poll(tid));

  const pid_t child = ::fork();  // from this thread, while the other one waits
  if (child == 0) {
    // The child's own connection: its calls are answered, its pid is its own.
    MsgBuf m = make_msg(1, "child");
    if (sysvmq_msgsnd(own.id(), &m, 5, 0) != 0) ::_exit(1);
    if (stat_of(own.id()).msg_lspid != ::getpid()) ::_exit(2);
    MsgBuf in;
    if (sysvmq_msgrcv(own.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT) != 5) ::_exit(3);
    // A message of another type into the parent's queue: not for the blocked receiver.
    MsgBuf other = make_msg(5, "five");
    if (sysvmq_msgsnd(q.id(), &other, 4, 0) != 0) ::_exit(4);
    ::_exit(0);
  }
  EXPECT_EQ(wait_status(child), 0) << "a call in the child failed";
  // The child has gone, with its connection: the parent's call is still parked.
  EXPECT_TRUE(parked_becomes(1)) << "the child's exit cancelled its parent's call";
  EXPECT_EQ(got_type, -1);
  EXPECT_EQ(stat_of(q.id()).msg_qnum, 1u);

  MsgBuf m = make_msg(7, "for the parent");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &m, 14, 0), 0);
  blocked.join();
  EXPECT_EQ(got_type, 7);
  EXPECT_EQ(got_text, "for the parent");
  EXPECT_EQ(daemon_stats().value("parked_calls", -1), 0);
  // The child's type-5 message is still there, and nothing else.
  MsgBuf in;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), 4);
  EXPECT_EQ(in.mtype, 5);
  EXPECT_EQ(stat_of(q.id()).msg_qnum, 0u);
}

// The process's only thread has a connection (and, on the fast path, rings); its child
// gets a connection of its own, and each side's calls keep working, interleaved.
TEST_F(Fork, AChildOfAProcessWithAConnectionWorksOnItsOwn) {
  Queue to_child, to_parent;
  ASSERT_GE(to_child.id(), 0);
  ASSERT_GE(to_parent.id(), 0);
  MsgBuf m = make_msg(1, "before");
  ASSERT_EQ(sysvmq_msgsnd(to_child.id(), &m, 6, 0), 0);  // the connection exists now

  const pid_t child = ::fork();
  if (child == 0) {
    MsgBuf in;
    // Sees what its parent sent before the fork.
    if (sysvmq_msgrcv(to_child.id(), &in, sizeof in.mtext, 0, 0) != 6) ::_exit(1);
    if (stat_of(to_child.id()).msg_lrpid != ::getpid()) ::_exit(2);
    // A ping-pong with the parent: blocking calls on both sides.
    for (int i = 0; i < 50; ++i) {
      MsgBuf out = make_msg(1, "c" + std::to_string(i));
      if (sysvmq_msgsnd(to_parent.id(), &out, std::strlen(out.mtext), 0) != 0) ::_exit(3);
      const ssize_t n = sysvmq_msgrcv(to_child.id(), &in, sizeof in.mtext, 0, 0);
      if (n < 0 || std::string(in.mtext, static_cast<std::size_t>(n)) != "p" + std::to_string(i))
        ::_exit(4);
    }
    ::_exit(0);
  }
  for (int i = 0; i < 50; ++i) {
    MsgBuf in;
    const ssize_t n = sysvmq_msgrcv(to_parent.id(), &in, sizeof in.mtext, 0, 0);
    ASSERT_GT(n, 0) << std::strerror(errno);
    ASSERT_EQ(std::string(in.mtext, static_cast<std::size_t>(n)), "c" + std::to_string(i));
    MsgBuf out = make_msg(1, "p" + std::to_string(i));
    ASSERT_EQ(sysvmq_msgsnd(to_child.id(), &out, std::strlen(out.mtext), 0), 0);
  }
  EXPECT_EQ(wait_status(child), 0) << "a call in the child failed";
  EXPECT_EQ(stat_of(to_parent.id()).msg_lrpid, ::getpid());
  EXPECT_EQ(stat_of(to_child.id()).msg_qnum, 0u);
  EXPECT_EQ(daemon_stats().value("parked_calls", -1), 0);
  // The parent's connection still works after the child and its connection are gone.
  ASSERT_EQ(sysvmq_msgsnd(to_child.id(), &m, 6, IPC_NOWAIT), 0);
  MsgBuf in;
  EXPECT_EQ(sysvmq_msgrcv(to_child.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT), 6);
}

}  // namespace
}  // namespace sysvmq::test
