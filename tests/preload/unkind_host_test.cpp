// Programs that are unkind to a library living inside them: they close every descriptor
// (after fork(), as fakeroot's faked does, or in place) and hand the numbers to other
// files, and fakeroot wraps the functions a library would use to find out who it is.
// The shim must notice its socket is gone, reconnect, and never touch the file that now
// has its number.
#include <filesystem>

#include "tests/preload/preload_util.hpp"

namespace sysvmq::test {
namespace {

using Lines = std::vector<std::string>;

using UnkindHostTest = PreloadTest;

// Closes everything from 3, then a regular file takes the socket's number (3) and a
// pipe the next two. The next call must reconnect (to 6) and leave 3, 4 and 5 alone.
TEST_F(UnkindHostTest, SocketNumberReusedByAFileInTheSameProcess) {
  const long connections_before = stat_of("connections_total");
  const Finished r =
      run(probe_argv({"get", "0", "01600", "fds", "closefrom", "3", "occupy", "fds", "send", "@",
                      "1", "hi", "recv", "@", "0", "check-occupied", "fds", "rmid", "@"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(
      without_ids(r.lines()),
      (Lines{"get ID", "fds 0=pipe 1=pipe 2=pipe 3=socket", "closefrom 3", "occupy file=3 pipe=4,5",
             "fds 0=pipe 1=pipe 2=pipe 3=file 4=pipe 5=pipe", "send 0", "recv 2 1 hi",
             "occupied ok", "fds 0=pipe 1=pipe 2=pipe 3=file 4=pipe 5=pipe 6=socket", "rmid 0"}));
  EXPECT_EQ(r.err, "");
  // Two connections of the probe, and the one that asks.
  EXPECT_EQ(stat_of("connections_total") - connections_before, 3);
}

// The worst case: the number goes to another socket, which poll() finds quiet and send()
// would accept. The request must go to a new connection, not into the program's socket.
TEST_F(UnkindHostTest, SocketNumberReusedByAnotherSocketGetsNoBytes) {
  const Finished r =
      run(probe_argv({"get", "0", "01600", "closefrom", "3", "occupy-socketpair", "send", "@", "1",
                      "hi", "recv", "@", "0", "check-occupied", "fds", "rmid", "@"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(
      without_ids(r.lines()),
      (Lines{"get ID", "closefrom 3", "occupy-socketpair 3,4", "send 0", "recv 2 1 hi",
             "occupied ok", "fds 0=pipe 1=pipe 2=pipe 3=socket 4=socket 5=socket", "rmid 0"}));
}

TEST_F(UnkindHostTest, SocketClosedUnderTheShimIsReopened) {
  const Finished r = run(probe_argv({"get", "0", "01600", "closefrom", "3", "send", "@", "1", "x",
                                     "recv", "@", "0", "rmid", "@"}));
  EXPECT_EQ(without_ids(r.lines()),
            (Lines{"get ID", "closefrom 3", "send 0", "recv 1 1 x", "rmid 0"}))
      << r.describe();
}

// With send credit in hand (the fast path), the socket is closed and its number given to
// another socket. The sends already paid for and the next ones all arrive, in order, and
// the program's socket gets no bytes: a daemon that sees the hang-up takes the credit
// back before it runs what was published, and the library checks the number before it
// would ring the daemon's doorbell.
TEST_F(UnkindHostTest, SendsWithCreditInHandWhenTheSocketIsClosedAllArriveInOrder) {
  const Finished r = run(probe_argv({"get", "0", "01600", "send", "@", "1", "a", "send", "@", "1",
                                     "b", "closefrom", "3", "occupy-socketpair", "send", "@", "1",
                                     "c", "send", "@", "1", "d", "recv", "@", "0", "recv", "@", "0",
                                     "recv", "@", "0", "recv", "@", "0", "check-occupied", "rmid",
                                     "@"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(without_ids(r.lines()),
            (Lines{"get ID", "send 0", "send 0", "closefrom 3", "occupy-socketpair 3,4", "send 0",
                   "send 0", "recv 1 1 a", "recv 1 1 b", "recv 1 1 c", "recv 1 1 d",
                   "occupied ok", "rmid 0"}));
}

// fakeroot's faked: msgget in the parent, then fork(), close every descriptor, and go on
// with the parent's queue ids in the child.
TEST_F(UnkindHostTest, ChildThatClosesEverythingAfterForkKeepsUsingTheParentsQueue) {
  const Finished r = run(probe_argv(
      {"get",       "0",          "01600",          "send", "@", "1", "from-parent", "fork",
       "closefrom", "3",          "occupy",         "recv", "@", "1", "send",        "@",
       "2",         "from-child", "check-occupied", "fds"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  const Lines lines = r.lines();
  EXPECT_EQ(without_ids(lines), (Lines{"get ID", "send 0", "closefrom 3", "occupy file=3 pipe=4,5",
                                       "recv 11 1 from-parent", "send 0", "occupied ok",
                                       "fds 0=pipe 1=pipe 2=pipe 3=file 4=pipe 5=pipe 6=socket"}));
  ASSERT_FALSE(lines.empty());
  const std::string id = lines[0].substr(4);
  const Finished check = run(probe_argv({"recv", id, "2", "rmid", id}));
  EXPECT_EQ(check.lines(), (Lines{"recv 10 2 from-child", "rmid 0"})) << check.describe();
}

// The socket's number went to a file before fork(): the child's fork handler, which
// closes inherited sockets, must leave that file open.
TEST_F(UnkindHostTest, ForkAfterTheNumberWasReusedLeavesTheFileOpen) {
  const Finished r =
      run(probe_argv({"get", "0", "01600", "closefrom", "3", "occupy", "fork", "check-occupied",
                      "send", "@", "1", "x", "recv", "@", "0", "check-occupied", "rmid", "@"}));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(without_ids(r.lines()),
            (Lines{"get ID", "closefrom 3", "occupy file=3 pipe=4,5", "occupied ok", "send 0",
                   "recv 1 1 x", "occupied ok", "rmid 0"}));
}

// ---- fakeroot ---------------------------------------------------------------------------

bool have_fakeroot() { return run({"fakeroot", "--version"}, no_shim()).status == 0; }

// fakeroot-sysv itself keeps its state in two SysV queues (SEMANTICS.md 7.10): under the
// shim they live in the daemon, its faked closes every descriptor after fork(), and its
// SEM_UNDO semaphore stays with the kernel.
TEST_F(UnkindHostTest, FakerootRunsWithItsQueuesInTheDaemon) {
  if (!have_fakeroot()) GTEST_SKIP() << "fakeroot is not installed";
  const std::string file = daemon_.dir() + "/owned";
  const Finished r =
      run({"fakeroot", "--", "sh", "-c",
           "touch \"$1\" && chown 4321:4322 \"$1\" && stat -c %u:%g \"$1\"", "sh", file});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.out, "4321:4322\n") << r.describe();
  EXPECT_EQ(r.err, "");
  // The chown was only pretended: faked remembered it, in queues served by the daemon.
  EXPECT_EQ(std::filesystem::status(file).type(), std::filesystem::file_type::regular);
  EXPECT_GT(stat_of("requests_total"), 10);
  // faked removes its queues when fakeroot stops it.
  EXPECT_TRUE(eventually([&] { return daemon_queues() == 0; })) << daemon_queues();
}

// fakeroot wraps geteuid() and friends (and makes seteuid() pretend), so the shim must
// read the ids the kernel reports with raw syscalls: a real change of euid behind
// fakeroot's back must still make it reconnect, and the kernel agrees on each answer.
TEST_F(UnkindHostTest, UnderFakerootIdsAreTheKernelsNotTheFakedOnes) {
  if (!have_fakeroot()) GTEST_SKIP() << "fakeroot is not installed";
  const std::vector<std::string> argv = {"fakeroot",    "--",    kProbe, "get", "0",    "01600",
                                         "seteuid",     "65534", "send", "@",   "1",    "a",
                                         "raw-seteuid", "65534", "send", "@",   "1",    "b",
                                         "raw-seteuid", "0",     "stat", "@",   "rmid", "@"};
  const Finished daemon = run(argv);
  const Finished kernel = run(argv, kernel_in_own_namespace());
  ASSERT_EQ(kernel.status, 0) << kernel.describe();
  ASSERT_EQ(daemon.status, 0) << daemon.describe();
  const Lines expected = {"get ID",
                          "seteuid 0",
                          "send 0",
                          "raw-seteuid 0",
                          "send -1 EACCES",
                          "raw-seteuid 0",
                          "stat 0 qnum=1 mode=0600 uid=0 gid=0 cuid=0",
                          "rmid 0"};
  EXPECT_EQ(without_ids(kernel.lines()), expected) << kernel.describe();
  EXPECT_EQ(without_ids(daemon.lines()), expected) << daemon.describe();
}

}  // namespace
}  // namespace sysvmq::test
