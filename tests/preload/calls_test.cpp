// The shim's msg* calls as an unmodified C program makes them (tests/helpers/mq_probe.c
// with LD_PRELOAD): across processes, blocking, errno, EFAULT, identity changes, threads,
// cancellation and a missing daemon. Where the kernel is the referee, the same script
// runs without the shim in a private IPC namespace of its own and the lines must match.
#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>
#include <fstream>

#include "tests/preload/preload_util.hpp"

namespace sysvmq::test {
namespace {

using Lines = std::vector<std::string>;

// The script through the shim and against the kernel; both must exit 0.
void expect_same_as_kernel(const std::vector<std::string>& steps) {
  const Finished daemon = run(probe_argv(steps));
  const Finished kernel = run(probe_argv(steps), kernel_in_own_namespace());
  ASSERT_EQ(kernel.status, 0) << kernel.describe();
  ASSERT_EQ(daemon.status, 0) << daemon.describe();
  EXPECT_EQ(without_ids(daemon.lines()), without_ids(kernel.lines())) << "daemon:\n"
                                                                      << daemon.out << "kernel:\n"
                                                                      << kernel.out;
  EXPECT_EQ(daemon.err, "");
}

using PreloadCallsTest = PreloadTest;

TEST_F(PreloadCallsTest, MessageCrossesBetweenTwoProcesses) {
  const Finished a = run(probe_argv({"get", "0x5e5e0001", "01600", "send", "@", "7", "hello"}));
  ASSERT_EQ(a.status, 0) << a.describe();
  const Lines al = a.lines();
  ASSERT_EQ(al.size(), 2u) << a.out;
  EXPECT_TRUE(al[0].starts_with("get ") && al[0] != "get -1") << al[0];
  EXPECT_EQ(al[1], "send 0");

  const Finished b =
      run(probe_argv({"get", "0x5e5e0001", "0", "stat", "@", "recv", "@", "7", "rmid", "@"}));
  ASSERT_EQ(b.status, 0) << b.describe();
  EXPECT_EQ(b.lines(), (Lines{al[0], "stat 0 qnum=1 mode=0600 uid=0 gid=0 cuid=0", "recv 5 7 hello",
                              "rmid 0"}));
  EXPECT_EQ(a.err + b.err, "");
  EXPECT_EQ(daemon_queues(), 0);
}

TEST_F(PreloadCallsTest, BlockingReceiveIsReleasedByAnotherProcess) {
  Program receiver(probe_argv({"get", "0x5e5e0002", "01600", "recv", "@", "3"}));
  const auto got = receiver.read_line();
  ASSERT_TRUE(got && got->starts_with("get ") && *got != "get -1") << got.value_or("(nothing)");
  // Parked in the daemon, not merely started.
  ASSERT_TRUE(eventually([&] { return parked_calls() == 1; })) << parked_calls();

  const Finished sender = run(probe_argv({"get", "0x5e5e0002", "0", "send", "@", "3", "wake"}));
  EXPECT_EQ(sender.lines(), (Lines{*got, "send 0"})) << sender.describe();
  EXPECT_EQ(receiver.read_line(), std::optional<std::string>("recv 4 3 wake"));
  const Finished r = receiver.finish();
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(parked_calls(), 0);
  EXPECT_EQ(run(probe_argv({"get", "0x5e5e0002", "0", "rmid", "@"})).lines().back(), "rmid 0");
}

// mq_probe sets errno to a sentinel before every call and reports a success that
// changed it; failures in between must not leak into later successes either.
TEST_F(PreloadCallsTest, SuccessLeavesErrnoAlone) {
  const std::vector<std::string> steps = {
      "get",  "0x5e5e0003", "01600", "get",   "0x5e5e0003", "0", "send", "@",     "1",    "a",
      "recv", "@",          "0",     "04000", "recv",       "@", "0",    "04000", "stat", "@",
      "send", "@",          "2",     "b",     "recv",       "@", "-2",   "rmid",  "@"};
  const Finished r = run(probe_argv(steps));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.out.find("errno-changed"), std::string::npos) << r.out;
  expect_same_as_kernel(steps);
}

// SEMANTICS.md 8.5: NULL and unmapped buffers are EFAULT where the kernel says so (a
// received message whose copy-out fails is gone, as in the kernel), never a crash.
TEST_F(PreloadCallsTest, BadBuffersAreEfaultAsInTheKernel) {
  const std::vector<std::string> steps = {
      "get",   "0",    "01600", "send-null", "@", "send-unmapped", "@", "send",
      "@",     "1",    "a",     "recv-null", "@", "recv",          "@", "0",
      "04000", "send", "@",     "1",         "b", "recv-unmapped", "@", "recv",
      "@",     "0",    "04000", "stat-null", "@", "stat-unmapped", "@", "stat",
      "@",     "rmid", "@"};
  const Finished r = run(probe_argv(steps));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(without_ids(r.lines()),
            (Lines{"get ID", "send-null -1 EFAULT", "send-unmapped -1 EFAULT", "send 0",
                   "recv-null -1 EFAULT", "recv -1 ENOMSG", "send 0", "recv-unmapped -1 EFAULT",
                   "recv -1 ENOMSG", "stat-null -1 EFAULT", "stat-unmapped -1 EFAULT",
                   "stat 0 qnum=0 mode=0600 uid=0 gid=0 cuid=0", "rmid 0"}));
  expect_same_as_kernel(steps);
}

// SEMANTICS.md Rule 5.4.2: the daemon judges by the ids of connect(), so a process that
// changes its effective ids after its first call must be judged by the new ones.
TEST_F(PreloadCallsTest, SeteuidAfterTheFirstCallIsJudgedByTheNewIds) {
  const std::vector<std::string> steps = {"get", "0x5e5e0004", "01600", "seteuid", "65534", "send",
                                          "@",   "1",          "a",     "stat",    "@",     "rmid",
                                          "@",   "seteuid",    "0",     "send",    "@",     "1",
                                          "b",   "stat",       "@",     "rmid",    "@"};
  const Finished r = run(probe_argv(steps));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(without_ids(r.lines()),
            (Lines{"get ID", "seteuid 0", "send -1 EACCES", "stat -1 EACCES", "rmid -1 EPERM",
                   "seteuid 0", "send 0", "stat 0 qnum=1 mode=0600 uid=0 gid=0 cuid=0", "rmid 0"}));
  expect_same_as_kernel(steps);
}

TEST_F(PreloadCallsTest, SetegidAfterTheFirstCallIsJudgedByTheNewIds) {
  // A group-only queue (mode 0060) of uid 1001, gid 1000: user 1002 may write it while
  // its egid is 1000, and not after setegid(1002).
  expect_same_as_kernel(
      {"setegid", "1000",    "seteuid", "1001", "get",  "0", "01060",   "seteuid", "0",
       "seteuid", "1002",    "send",    "@",    "1",    "a", "seteuid", "0",       "setegid",
       "1002",    "seteuid", "1002",    "send", "@",    "1", "b",       "seteuid", "0",
       "setegid", "0",       "stat",    "@",    "rmid", "@"});
}

TEST_F(PreloadCallsTest, ThreadsOfOneProcessEachGetTheirOwnAnswers) {
  const Finished r =
      run(probe_argv({"get", "0", "01600", "threads", "8", "100", "@", "stat", "@", "rmid", "@"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(
      without_ids(r.lines()),
      (Lines{"get ID", "threads ok", "stat 0 qnum=0 mode=0600 uid=0 gid=0 cuid=0", "rmid 0"}));
}

// SEMANTICS.md 8.11: a thread cancelled while parked in msgrcv leaves no waiter behind —
// a message sent afterwards stays in the queue instead of going to a dead thread.
TEST_F(PreloadCallsTest, CancelledParkedThreadLeavesNoWaiter) {
  Program p(
      probe_argv({"get", "0", "01600", "thread-recv", "@", "0", "wait-line", "cancel", "wait-line",
                  "send", "@", "1", "after", "recv", "@", "0", "04000", "rmid", "@"}));
  ASSERT_TRUE(p.read_line().has_value());
  EXPECT_EQ(p.read_line(), std::optional<std::string>("thread-recv started"));
  ASSERT_TRUE(eventually([&] { return parked_calls() == 1; })) << parked_calls();
  p.write_line();
  EXPECT_EQ(p.read_line(), std::optional<std::string>("cancel cancelled"));
  // The process lives on (it waits for the next line); its parked call is gone.
  EXPECT_TRUE(eventually([&] { return parked_calls() == 0; })) << parked_calls();
  p.write_line();
  EXPECT_EQ(p.read_line(), std::optional<std::string>("send 0"));
  EXPECT_EQ(p.read_line(), std::optional<std::string>("recv 5 1 after"));
  EXPECT_EQ(p.read_line(), std::optional<std::string>("rmid 0"));
  const Finished r = p.finish();
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.err, "");
}

// ---- the daemon cannot be reached --------------------------------------------------------

class DaemonMissingTest : public PreloadTest {
 protected:
  const std::vector<std::string> steps_ = {"get", "0", "01600", "send", "0", "1",    "x", "recv",
                                           "0",   "0", "04000", "stat", "0", "rmid", "0"};
  const Lines refused_ = {"get -1 ECONNREFUSED", "send -1 ECONNREFUSED", "recv -1 ECONNREFUSED",
                          "stat -1 ECONNREFUSED", "rmid -1 ECONNREFUSED"};
};

TEST_F(DaemonMissingTest, EveryCallFailsAndOneLineNamesTheSocket) {
  const std::string absent = daemon_.dir() + "/absent.sock";
  const Finished r = run(probe_argv(steps_), with_env({{"SYSVMQ_SOCKET", absent}}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.lines(), refused_);
  EXPECT_EQ(r.err, "sysvmq: cannot reach sysvmqd at " + absent +
                       " (from SYSVMQ_SOCKET): No such file or directory\n");
}

TEST_F(DaemonMissingTest, ASocketWithoutListenerIsConnectionRefused) {
  const std::string path = daemon_.dir() + "/deaf.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const Finished r = run(probe_argv(steps_), with_env({{"SYSVMQ_SOCKET", path}}));
  ::close(fd);
  EXPECT_EQ(r.lines(), refused_);
  EXPECT_EQ(r.err, "sysvmq: cannot reach sysvmqd at " + path +
                       " (from SYSVMQ_SOCKET): Connection refused\n");
}

TEST_F(DaemonMissingTest, TheDefaultPathSuggestsTheVariable) {
  if (std::filesystem::exists("/run/sysvmq/sysvmq.sock")) {
    GTEST_SKIP() << "a daemon socket exists at the default path";
  }
  const Finished r = run(probe_argv(steps_), with_env({{"SYSVMQ_SOCKET", std::nullopt}}));
  EXPECT_EQ(r.lines(), refused_);
  EXPECT_EQ(r.err,
            "sysvmq: cannot reach sysvmqd at /run/sysvmq/sysvmq.sock: No such file or directory "
            "(set SYSVMQ_SOCKET)\n");
}

// A daemon over its connection limit refuses the connection: every call fails with
// EAGAIN ("try again later"), and one stderr line says why — not "cannot reach".
TEST_F(PreloadCallsTest, ARefusedConnectionIsEagainAndOneLineSaysWhy) {
  const std::string conf = daemon_.dir() + "/one.json";
  std::ofstream(conf) << R"({"limits": {"max_connections": 1}})";
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string why;
  ASSERT_TRUE(daemon_.start(why, {"--config", conf})) << why;
  // The one connection there is room for (once the daemon has seen start()'s probe go).
  Client holder(sock());
  ASSERT_TRUE(eventually([&] { return holder.connect().ok(); }));
  const Finished r = run(probe_argv({"get", "0", "01600", "stat", "0"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.lines(), (Lines{"get -1 EAGAIN", "stat -1 EAGAIN"}));
  EXPECT_EQ(r.err, "sysvmq: sysvmqd at " + sock() +
                       " refused the connection: too many connections (max_connections or "
                       "max_connections_per_uid); calls fail with EAGAIN until it accepts one\n");
}

// Once per process: the child of a fork() says it for itself, once.
TEST_F(DaemonMissingTest, EachProcessSaysItOnce) {
  const std::string absent = daemon_.dir() + "/absent.sock";
  const Finished r =
      run(probe_argv({"get", "0", "0", "stat", "0", "fork", "get", "0", "0", "stat", "0"}),
          with_env({{"SYSVMQ_SOCKET", absent}}));
  const std::string line = "sysvmq: cannot reach sysvmqd at " + absent +
                           " (from SYSVMQ_SOCKET): No such file or directory\n";
  EXPECT_EQ(r.err, line + line);
}

}  // namespace
}  // namespace sysvmq::test
