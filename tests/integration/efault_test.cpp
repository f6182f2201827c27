// efault_test.cpp: a bad or NULL buffer gives EFAULT where the kernel reports it, and
// never crashes the caller (SEMANTICS.md 8.5, Rules 2.1, 3.1, 4.2, 4.4).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>

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

// ---- the guarded copy (client/src/guarded_copy.hpp) -----------------------------------
// libsysvmq copies without a system call through its own SIGSEGV/SIGBUS handlers when
// they are exact: installed over SIG_DFL, still the process's, and not blocked in the
// calling thread. Otherwise it copies with process_vm_readv/writev. Either way a bad
// buffer is EFAULT, and the program's own faults and handlers are untouched. Each case
// runs in a child, since handlers are per process.

// Runs `body` in a child process; its wait status.
int in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = -1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  return status;
}

bool exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

// The kernel's view of a signal's handler (raw: a sanitizer keeps its own books).
void* kernel_handler(int sig) {
  struct {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } k{};
  return ::syscall(SYS_rt_sigaction, sig, nullptr, &k, sizeof(unsigned long)) == 0 ? k.handler
                                                                                     : nullptr;
}

std::atomic<int> g_program_handler_calls{0};
void program_handler(int) { g_program_handler_calls.fetch_add(1); }

TEST_F(EfaultTest, TheLibraryTakesSigsegvOnlyWhereItWasTheDefault) {
  Queue q;
  const int status = in_child([&] {
    void* const before = kernel_handler(SIGSEGV);
    const MsgBuf m = make_msg(1, "x");
    if (sysvmq_msgsnd(q.id(), &m, 1, 0) != 0) return 10;
    void* const after = kernel_handler(SIGSEGV);
    // Over SIG_DFL the library's handler goes in (a sanitizer's handler, already there,
    // stays); and either way a NULL buffer is EFAULT, not a crash.
    if (before == nullptr && after == nullptr) return 11;
    if (before != nullptr && after != before) return 12;
    if (sysvmq_msgsnd(q.id(), nullptr, 1, 0) != -1 || errno != EFAULT) return 13;
    return 0;
  });
  EXPECT_TRUE(exited_with(status, 0))
      << "status " << status << " (10: send failed; 11: not installed over SIG_DFL; 12: "
         "replaced a handler that was there; 13: not EFAULT)";
}

// The library takes both signals or neither: a program that handles SIGBUS itself keeps
// SIGSEGV at its default too (and still gets EFAULT, the slow way). (The library looks
// before it installs; should the program install its handler in between, the library
// puts both back — a race no test can arrange.)
TEST_F(EfaultTest, AProgramsOwnSigbusHandlerKeepsTheLibraryOutOfBoth) {
  Queue q;
  const int status = in_child([&] {
    struct sigaction mine {};
    mine.sa_handler = program_handler;
    if (::sigaction(SIGBUS, &mine, nullptr) != 0) return 10;
    void* const segv_before = kernel_handler(SIGSEGV);
    const MsgBuf m = make_msg(1, "x");
    if (sysvmq_msgsnd(q.id(), &m, 1, 0) != 0) return 11;
    if (kernel_handler(SIGSEGV) != segv_before) return 12;
    if (sysvmq_msgsnd(q.id(), nullptr, 1, 0) != -1 || errno != EFAULT) return 13;
    return 0;
  });
  EXPECT_TRUE(exited_with(status, 0))
      << "status " << status << " (12: SIGSEGV changed hands; 13: not EFAULT)";
}

TEST_F(EfaultTest, AProgramsOwnSigsegvHandlerIsNeverCalledForABadBuffer) {
  Queue q;
  const int status = in_child([&] {
    const MsgBuf m = make_msg(1, "x");
    if (sysvmq_msgsnd(q.id(), &m, 1, 0) != 0) return 10;  // the library's handler is in
    struct sigaction mine {};
    mine.sa_handler = program_handler;
    if (::sigaction(SIGSEGV, &mine, nullptr) != 0) return 11;  // and now replaced
    // What the kernel now holds (the program's handler, or a sanitizer's in front of it).
    void* const programs = kernel_handler(SIGSEGV);
    if (sysvmq_msgsnd(q.id(), nullptr, 1, 0) != -1 || errno != EFAULT) return 12;
    MsgBuf in;
    if (sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0) != 1) return 13;
    if (g_program_handler_calls.load() != 0) return 14;
    return kernel_handler(SIGSEGV) == programs ? 0 : 15;
  });
  EXPECT_TRUE(exited_with(status, 0))
      << "status " << status << " (12: not EFAULT; 14: the program's handler ran; 15: it was "
         "replaced)";
}

TEST_F(EfaultTest, AThreadThatBlocksSigsegvStillGetsEfault) {
  Queue q;
  char* buf = msgbuf_near_guard(4, 1);
  const int status = in_child([&] {
    sigset_t all;
    sigfillset(&all);
    if (::pthread_sigmask(SIG_BLOCK, &all, nullptr) != 0) return 10;
    if (sysvmq_msgsnd(q.id(), buf, 100, 0) != -1 || errno != EFAULT) return 11;
    const MsgBuf m = make_msg(1, "0123456789");
    if (sysvmq_msgsnd(q.id(), &m, 10, 0) != 0) return 12;
    if (sysvmq_msgrcv(q.id(), buf, 10, 0, 0) != -1 || errno != EFAULT) return 13;
    return 0;
  });
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
}

TEST_F(EfaultTest, ATextBeyondTheEndOfAMappedFileIsEfaultNotSigbus) {
  Queue q;
  // A file of one page mapped as two: the second page is beyond its end (SIGBUS).
  char path[] = "/tmp/sysvmq-test-sigbus-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(page_)), 0);
  void* p = ::mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(p, MAP_FAILED);
  char* buf = static_cast<char*>(p) + page_ - 4 - sizeof(long);
  const long mtype = 1;
  std::memcpy(buf, &mtype, sizeof mtype);
  const int status = in_child([&] {
    if (sysvmq_msgsnd(q.id(), buf, 100, 0) != -1 || errno != EFAULT) return 10;
    const MsgBuf m = make_msg(1, "0123456789");
    if (sysvmq_msgsnd(q.id(), &m, 10, 0) != 0) return 11;
    if (sysvmq_msgrcv(q.id(), buf, 10, 0, 0) != -1 || errno != EFAULT) return 12;
    return 0;
  });
  ::munmap(p, 2 * page_);
  EXPECT_TRUE(exited_with(status, 0)) << "status " << status;
}

// Once the library's handler is in, the program's own fault (or a SIGSEGV sent to it)
// still kills it with SIGSEGV. Where a handler was there first (a sanitizer's runtime),
// the library must have left it alone, and the child stops short of faulting: the
// sanitizer would turn the fault into a report, which is not what is tested here.
TEST_F(EfaultTest, TheProgramsOwnFaultStillKillsItWithItsSignal) {
  Queue q;
  constexpr int kHandlerWasThere = 20;
  for (const bool sent : {false, true}) {
    const int status = in_child([&] {
      void* const before = kernel_handler(SIGSEGV);
      const MsgBuf m = make_msg(1, "x");
      if (sysvmq_msgsnd(q.id(), &m, 1, 0) != 0) return 10;
      if (sysvmq_msgsnd(q.id(), nullptr, 1, 0) != -1) return 11;
      if (before != nullptr) return kernel_handler(SIGSEGV) == before ? kHandlerWasThere : 13;
      if (kernel_handler(SIGSEGV) == nullptr) return 14;  // the library's is in
      // Core dumps off: the point is the signal, not the file.
      struct rlimit none {};
      ::setrlimit(RLIMIT_CORE, &none);
      if (sent) {
        ::kill(::getpid(), SIGSEGV);
      } else {
        *static_cast<volatile int*>(nullptr) = 1;
      }
      return 12;
    });
    const bool died_of_it = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
    EXPECT_TRUE(died_of_it || exited_with(status, kHandlerWasThere))
        << (sent ? "kill(SIGSEGV)" : "a NULL store") << ": status " << status
        << " (12: survived; 13: the library replaced a handler that was there; 14: the "
           "library's handler did not go in over SIG_DFL)";
  }
}

}  // namespace
}  // namespace sysvmq::test
