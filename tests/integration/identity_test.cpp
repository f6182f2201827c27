// identity_test.cpp: the daemon judges each call by the calling thread's ids and
// capabilities at that moment, as the kernel does — the library reconnects when the
// thread's euid/egid/groups changed (SEMANTICS.md Rule 5.4.2) and sends the thread's
// effective capabilities with every call (Rule 5.4.6). Needs root; skipped otherwise.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

constexpr uid_t kNobody = 65534;

// Per-thread credential changes: the raw syscalls, not glibc's process-wide wrappers.
long thread_seteuid(uid_t euid) {
  return ::syscall(SYS_setresuid, static_cast<uid_t>(-1), euid, static_cast<uid_t>(-1));
}

bool thread_drop_effective_cap(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[cap / 32].effective &= ~(1u << (cap % 32));
  return ::syscall(SYS_capset, &header, data) == 0;
}

class IdentityTest : public DaemonTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    DaemonTest::SetUp();
  }
};

TEST_F(IdentityTest, ThreadThatChangesItsEuidIsJudgedByTheNewOne) {
  Queue q(0600);  // root's, no access for others
  ASSERT_GE(q.id(), 0);
  const MsgBuf out = make_msg(1, "x");
  int as_nobody_send = 0;
  int as_nobody_errno = 0;
  int created_by_nobody = -1;
  int back_to_root_send = -1;
  std::thread t([&] {
    struct msqid_ds ds;
    sysvmq_msgctl(q.id(), IPC_STAT, &ds);  // connected as root first
    if (thread_seteuid(kNobody) != 0) return;
    as_nobody_send = sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
    as_nobody_errno = errno;
    created_by_nobody = sysvmq_msgget(IPC_PRIVATE, 0600);
    if (thread_seteuid(0) != 0) return;
    back_to_root_send = sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
  });
  t.join();
  EXPECT_EQ(as_nobody_send, -1);
  EXPECT_EQ(as_nobody_errno, EACCES) << std::strerror(as_nobody_errno);
  EXPECT_EQ(back_to_root_send, 0);
  ASSERT_GE(created_by_nobody, 0);
  struct msqid_ds ds;
  ASSERT_EQ(sysvmq_msgctl(created_by_nobody, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_perm.cuid, kNobody);
  sysvmq_msgctl(created_by_nobody, IPC_RMID, nullptr);
}

TEST_F(IdentityTest, ThreadThatDropsCapIpcOwnerLosesItAtOnce) {
  Queue q(0000);  // only CAP_IPC_OWNER gets in
  ASSERT_GE(q.id(), 0);
  const MsgBuf out = make_msg(1, "x");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT), 0) << std::strerror(errno);
  int result = 0;
  int err = 0;
  bool dropped = false;
  std::thread t([&] {
    struct msqid_ds ds;
    sysvmq_msgctl(q.id(), IPC_STAT, &ds);  // connected while holding the capability
    dropped = thread_drop_effective_cap(CAP_IPC_OWNER);
    result = sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
    err = errno;
  });
  t.join();
  ASSERT_TRUE(dropped);
  EXPECT_EQ(result, -1);
  EXPECT_EQ(err, EACCES) << std::strerror(err);
  // This thread still holds it.
  EXPECT_EQ(sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT), 0);
}

bool thread_raise_effective_cap(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[cap / 32].effective |= 1u << (cap % 32);
  return ::syscall(SYS_capset, &header, data) == 0;
}

TEST_F(IdentityTest, ThreadThatRaisesCapIpcOwnerAgainHasItAtOnce) {
  // Found by the daemon differential test: a process that connected without the
  // capability and then took it back from its permitted set stayed refused, because
  // the daemon honours only what it verified at connect (Rule 5.4.6). A child, so that
  // the thread whose capabilities the daemon reads in /proc is the one that changes them.
  Queue q(0000);  // only CAP_IPC_OWNER gets in
  ASSERT_GE(q.id(), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const MsgBuf out = make_msg(1, "x");
    if (!thread_drop_effective_cap(CAP_IPC_OWNER)) ::_exit(10);
    // The child's first call connects, without the capability.
    if (sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT) != -1 || errno != EACCES) ::_exit(11);
    if (!thread_raise_effective_cap(CAP_IPC_OWNER)) ::_exit(12);
    ::_exit(sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT) == 0 ? 0 : 13);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10/12: capset failed; 11: not EACCES without the capability; 13: still refused "
         "with it, as the kernel would not";
}

// The fast path uses send credit and lent messages without asking the daemon; what the
// daemon granted them on depends on the ids the thread connected with (PROTOCOL.md
// "Grants and identity"). A thread that changes its euid is judged by the new one at
// once, credit or lease in hand. (On the socket the same calls simply reconnect.)
TEST_F(IdentityTest, ASendWithCreditInHandAfterAnEuidChangeIsJudgedByTheNewEuid) {
  Queue q(0600);  // root's: the credit depends on the euid alone
  ASSERT_GE(q.id(), 0);
  const MsgBuf out = make_msg(1, "x");
  int as_root = -1;
  int as_nobody = 0;
  int as_nobody_errno = 0;
  int root_again = -1;
  std::thread t([&] {
    as_root = 0;
    for (int i = 0; i < 3; ++i) as_root |= sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
    if (thread_seteuid(kNobody) != 0) return;
    as_nobody = sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
    as_nobody_errno = errno;
    if (thread_seteuid(0) != 0) return;
    root_again = sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
  });
  t.join();
  EXPECT_EQ(as_root, 0);
  EXPECT_EQ(as_nobody, -1) << "a send on credit earned as root landed for nobody";
  EXPECT_EQ(as_nobody_errno, EACCES) << std::strerror(as_nobody_errno);
  EXPECT_EQ(root_again, 0);
  EXPECT_EQ(qnum(q.id()), 4u);
}

TEST_F(IdentityTest, AReceiveWithALeaseInHandAfterAnEuidChangeIsJudgedByTheNewEuid) {
  Queue q(0600);
  ASSERT_GE(q.id(), 0);
  const MsgBuf out = make_msg(1, "x");
  for (int i = 0; i < 10; ++i) ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 1, 0), 0);
  ssize_t as_root = -1;
  ssize_t as_nobody = 0;
  int as_nobody_errno = 0;
  std::thread t([&] {
    MsgBuf in;
    // The first receive is answered and leases the queue to this thread.
    as_root = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT);
    if (as_root >= 0) as_root = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT);
    if (thread_seteuid(kNobody) != 0) return;
    as_nobody = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT);
    as_nobody_errno = errno;
    thread_seteuid(0);
  });
  t.join();
  EXPECT_EQ(as_root, 1);
  EXPECT_EQ(as_nobody, -1) << "a message lent to root was taken by nobody";
  EXPECT_EQ(as_nobody_errno, EACCES) << std::strerror(as_nobody_errno);
  EXPECT_EQ(qnum(q.id()), 8u);
}

// Where every class may write, no identity is refused: a thread that changes its euid
// keeps sending, as with the kernel.
TEST_F(IdentityTest, ASendToAQueueEveryoneMayWriteSucceedsWhateverTheEuid) {
  Queue q(0666);
  ASSERT_GE(q.id(), 0);
  const MsgBuf out = make_msg(1, "x");
  int sent = -1;
  std::thread t([&] {
    sent = 0;
    for (int i = 0; i < 3; ++i) sent |= sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
    if (thread_seteuid(kNobody) != 0) return;
    for (int i = 0; i < 3; ++i) sent |= sysvmq_msgsnd(q.id(), &out, 1, IPC_NOWAIT);
    thread_seteuid(0);
  });
  t.join();
  EXPECT_EQ(sent, 0);
  EXPECT_EQ(qnum(q.id()), 6u);
}

}  // namespace
}  // namespace sysvmq::test
