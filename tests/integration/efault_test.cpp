// efault_test.cpp: a bad or NULL buffer gives EFAULT where the kernel reports it, and
// never crashes the caller (SEMANTICS.md 8.5, Rules 2.1, 3.1, 4.2, 4.4).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

class EfaultTest : public DaemonTest {
 protected:
  // Two pages, the second inaccessible: a buffer at the end of the first runs into it.
  void SetUp() override {
    DaemonTest::SetUp();
    page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* p = ::mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    map_ = static_cast<char*>(p);
    ASSERT_EQ(::mprotect(map_ + page_, page_, PROT_NONE), 0);
  }
  void TearDown() override {
    if (map_ != nullptr) ::munmap(map_, 2 * page_);
    DaemonTest::TearDown();
  }
  // A msgbuf whose mtype is readable and whose text starts `text_room` bytes before
  // the inaccessible page.
  char* msgbuf_near_guard(std::size_t text_room, long mtype) {
    char* p = map_ + page_ - text_room - sizeof(long);
    std::memcpy(p, &mtype, sizeof mtype);
    return p;
  }

  std::size_t page_ = 0;
  char* map_ = nullptr;
};

TEST_F(EfaultTest, MsgsndWithNullBufferIsEfaultBeforeAnyOtherCheck) {
  Queue q;
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), nullptr, 1, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  // Rule 2.1 step 1: before the id check and with msgsz 0.
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(-1, nullptr, 0, 0), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_F(EfaultTest, MsgsndWithUnreadableTextIsEfaultAfterTheEinvalChecks) {
  Queue q;
  char* buf = msgbuf_near_guard(4, 1);
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), buf, 100, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  // mtype < 1 (step 3) wins over the unreadable text (step 4).
  char* bad_type = msgbuf_near_guard(4, 0);
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), bad_type, 100, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  // msgsz > msgmax (step 2) too.
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), buf, 9000, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  // Nothing was queued.
  struct msqid_ds ds;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 0u);
}

TEST_F(EfaultTest, MsgrcvWithNullBufferLosesTheMessage) {
  Queue q;
  const MsgBuf out = make_msg(1, "gone");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 4, 0), 0);
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), nullptr, 100, 0, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  // Rule 3.1 step 5: the message had left the queue.
  struct msqid_ds ds;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 0u);
}

TEST_F(EfaultTest, MsgrcvWithNullBufferOnAnEmptyQueueIsEnomsg) {
  Queue q;
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), nullptr, 100, 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, ENOMSG);
}

TEST_F(EfaultTest, MsgrcvWithTextRunningIntoAGuardPageIsEfault) {
  Queue q;
  const MsgBuf out = make_msg(1, "0123456789");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 10, 0), 0);
  char* buf = msgbuf_near_guard(4, 0);
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), buf, 10, 0, 0), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_F(EfaultTest, IpcStatWithNullBufferIsEfault) {
  Queue q;
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(q.id() & 0x7fff, MSG_STAT_ANY, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(0, IPC_INFO, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  // A read-only buffer is not writable either.
  ASSERT_EQ(::mprotect(map_, page_, PROT_READ), 0);
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, reinterpret_cast<struct msqid_ds*>(map_)), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_F(EfaultTest, IpcStatChecksTheIdBeforeTheBuffer) {
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(12345, IPC_STAT, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(EfaultTest, IpcSetWithNullBufferIsEfaultBeforeTheLookup) {
  Queue q;
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(q.id(), IPC_SET, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  // Rule 4.4 step 1: before the id lookup.
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(12345, IPC_SET, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
}

}  // namespace
}  // namespace sysvmq::test
