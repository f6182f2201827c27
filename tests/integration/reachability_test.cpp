// reachability_test.cpp: what callers see when the daemon is missing, crashes, or
// restarts — ECONNREFUSED, ECONNRESET (never a silent retry), and a parked call that a
// graceful stop answered "shutting down" issued again on the next daemon
// (SEMANTICS.md 8.14).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysvmq/client.hpp>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

// Runs `body` in a new thread (a fresh connection) with SYSVMQ_SOCKET set to `path`.
template <class Body>
void with_socket_env(const std::string& path, Body body) {
  const char* old = std::getenv("SYSVMQ_SOCKET");
  const std::string saved = old ? old : "";
  ::setenv("SYSVMQ_SOCKET", path.c_str(), 1);
  std::thread(body).join();
  if (old) {
    ::setenv("SYSVMQ_SOCKET", saved.c_str(), 1);
  } else {
    ::unsetenv("SYSVMQ_SOCKET");
  }
}

void expect_every_call_refused() {
  errno = 0;
  EXPECT_EQ(sysvmq_msgget(IPC_PRIVATE, 0600), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  const MsgBuf out = make_msg(1, "x");
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(0, &out, 1, 0), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  MsgBuf in;
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(0, &in, 10, 0, 0), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  struct msqid_ds ds;
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(0, IPC_STAT, &ds), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  // Rule 2.1 step 1 needs no daemon: EFAULT first.
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(0, nullptr, 1, 0), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST(UnreachableDaemonTest, MissingSocketFileIsConnectionRefused) {
  with_socket_env("/nonexistent-sysvmq-dir/sysvmq.sock", expect_every_call_refused);
}

TEST(UnreachableDaemonTest, SocketWithoutListenerIsConnectionRefused) {
  char dir[] = "/tmp/sysvmq-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/dead.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);  // no listen()
  with_socket_env(path, expect_every_call_refused);
  ::close(fd);
  std::filesystem::remove_all(dir);
}

class RestartTest : public DaemonTest {};

TEST_F(RestartTest, CrashDuringAParkedCallIsConnectionResetAndNotRetried) {
  Queue q;
  std::atomic<pid_t> tid{0};
  ssize_t got = 0;
  int err = 0;
  std::thread t([&] {
    struct msqid_ds ds;
    sysvmq_msgctl(q.id(), IPC_STAT, &ds);
    tid = current_tid();
    MsgBuf in;
    got = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0);
    err = errno;
  });
  while (tid.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(wait_until_in_poll(tid.load()));
  daemon_.stop(SIGKILL);
  t.join();
  EXPECT_EQ(got, -1);
  EXPECT_EQ(err, ECONNRESET) << std::strerror(err);
  // With the daemon gone, the next call cannot connect.
  struct msqid_ds ds;
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST_F(RestartTest, IdleConnectionSurvivesADaemonRestart) {
  ASSERT_GE(sysvmq_msgget(IPC_PRIVATE, 0600), 0);  // this thread is connected
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string why;
  ASSERT_TRUE(daemon_.start(why)) << why;
  // The old connection was closed by the daemon before this call: a new one is used.
  EXPECT_GE(sysvmq_msgget(IPC_PRIVATE, 0600), 0) << std::strerror(errno);
}

TEST_F(RestartTest, ParkedCallCaughtByAGracefulStopIsIssuedAgainOnTheNextDaemon) {
  // The client reaches the daemons through a symlink, switched from the first
  // daemon's socket to the second one's while the client waits to reconnect; the
  // second daemon already has a queue with the same id.
  Daemon second;
  std::string why;
  ASSERT_TRUE(second.start(why)) << why;
  const std::string link = daemon_.dir() + "/current.sock";
  std::filesystem::create_symlink(daemon_.socket_path(), link);
  ::setenv("SYSVMQ_SOCKET", link.c_str(), 1);

  const int first_id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(first_id, 0);
  Client on_second(second.socket_path());
  auto second_id = on_second.msgget(IPC_PRIVATE, 0600);
  ASSERT_TRUE(second_id.ok());
  ASSERT_EQ(*second_id, first_id) << "fresh daemons hand out the same first id";

  std::atomic<pid_t> tid{0};
  ssize_t got = 0;
  int err = 0;
  MsgBuf in;
  std::thread t([&] {
    struct msqid_ds ds;
    sysvmq_msgctl(first_id, IPC_STAT, &ds);
    tid = current_tid();
    got = sysvmq_msgrcv(first_id, &in, sizeof in.mtext, 0, 0);
    err = errno;
  });
  while (tid.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(wait_until_in_poll(tid.load()));

  const auto status = daemon_.stop(SIGTERM);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  const std::string tmp = link + ".new";
  std::filesystem::create_symlink(second.socket_path(), tmp);
  std::filesystem::rename(tmp, link);

  // The receiver parks again on the second daemon; it gets the message sent there.
  // Wait for it to be parked there (a send before that would just be queued, which
  // is as good: the receiver takes it either way).
  ASSERT_TRUE(on_second.msgsnd(*second_id, 4, "again").ok());
  t.join();
  EXPECT_EQ(got, 5) << std::strerror(err);
  EXPECT_EQ(in.mtype, 4);
  EXPECT_EQ(std::string(in.mtext, 5), "again");
}

}  // namespace
}  // namespace sysvmq::test
