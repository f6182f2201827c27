// c_api_test.cpp: the C API against a real sysvmqd — each call's result, errno, and the
// msqid_ds / msginfo it fills, as the kernel's calls would give them.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sysvmq/client.hpp>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

class CApiTest : public DaemonTest {};

TEST_F(CApiTest, SendThenReceiveReturnsTheSameMessage) {
  Queue q;
  ASSERT_GE(q.id(), 0) << std::strerror(errno);
  const MsgBuf out = make_msg(7, "hello, queue");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, 12, 0), 0) << std::strerror(errno);

  MsgBuf in;
  std::memset(in.mtext, 'x', sizeof in.mtext);
  ASSERT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0), 12) << std::strerror(errno);
  EXPECT_EQ(in.mtype, 7);
  EXPECT_EQ(std::string(in.mtext, 12), "hello, queue");
  EXPECT_EQ(in.mtext[12], 'x') << "msgrcv must not write past the text (Rule 3.4)";
}

TEST_F(CApiTest, MsgmaxSizedMessageRoundTrips) {
  Queue q;
  MsgBuf out;
  out.mtype = 2;
  for (std::size_t i = 0; i < sizeof out.mtext; ++i) out.mtext[i] = static_cast<char>(i * 7);
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &out, sizeof out.mtext, 0), 0) << std::strerror(errno);
  MsgBuf in;
  ASSERT_EQ(sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0),
            static_cast<ssize_t>(sizeof in.mtext));
  EXPECT_EQ(std::memcmp(in.mtext, out.mtext, sizeof in.mtext), 0);
  errno = 0;
  static char too_big[sizeof(long) + 8193] = {1};
  EXPECT_EQ(sysvmq_msgsnd(q.id(), too_big, 8193, 0), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(CApiTest, KeyedQueueIsFoundByKeyAndExclusiveCreateFails) {
  const key_t key = 0x5eed0001;
  const int id = sysvmq_msgget(key, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_GE(id, 0) << std::strerror(errno);
  EXPECT_EQ(sysvmq_msgget(key, 0), id);
  errno = 0;
  EXPECT_EQ(sysvmq_msgget(key, IPC_CREAT | IPC_EXCL | 0600), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(sysvmq_msgctl(id, IPC_RMID, nullptr), 0);
  errno = 0;
  EXPECT_EQ(sysvmq_msgget(key, 0), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(CApiTest, ErrnoIsUntouchedOnSuccess) {
  errno = 12345;
  Queue q;
  ASSERT_GE(q.id(), 0);
  EXPECT_EQ(errno, 12345);
  const MsgBuf out = make_msg(1, "a");
  EXPECT_EQ(sysvmq_msgsnd(q.id(), &out, 1, 0), 0);
  EXPECT_EQ(errno, 12345);
  MsgBuf in;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, 10, 0, 0), 1);
  EXPECT_EQ(errno, 12345);
  struct msqid_ds ds;
  EXPECT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(errno, 12345);
}

TEST_F(CApiTest, DaemonAnswersBecomeErrno) {
  Queue q;
  MsgBuf in;
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, 10, 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, ENOMSG);
  const MsgBuf bad_type = make_msg(0, "");
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), &bad_type, 0, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  const MsgBuf big = make_msg(1, "0123456789");
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &big, 10, 0), 0);
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, 5, 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, E2BIG);
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, 5, 0, IPC_NOWAIT | MSG_NOERROR), 5);
  EXPECT_EQ(std::string(in.mtext, 5), "01234");
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(-1, IPC_STAT, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  // msgsz negative as a signed size (Rule 2.1 step 2, Rule 3.1 step 1).
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), &big, static_cast<size_t>(-1), 0), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, static_cast<size_t>(-1), 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(CApiTest, MessageLargerThanAFrameIsRefusedWithoutBeingSent) {
  Queue q;
  // Above msgmax (8192) and above max_frame_bytes: text_state "omitted", answer EINVAL.
  static char big[sizeof(long) + 200000] = {};
  big[0] = 1;
  errno = 0;
  EXPECT_EQ(sysvmq_msgsnd(q.id(), big, 200000, 0), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(CApiTest, StatFillsEveryFieldAndZeroesTheRest) {
  const time_t before = std::time(nullptr);
  const int id = sysvmq_msgget(0x5eed0002, IPC_CREAT | 0640);
  ASSERT_GE(id, 0);
  const MsgBuf out = make_msg(3, "abcde");
  ASSERT_EQ(sysvmq_msgsnd(id, &out, 5, 0), 0);

  struct msqid_ds ds;
  std::memset(&ds, 0xa5, sizeof ds);
  ASSERT_EQ(sysvmq_msgctl(id, IPC_STAT, &ds), 0) << std::strerror(errno);
  EXPECT_EQ(ds.msg_perm.__key, 0x5eed0002);
  EXPECT_EQ(ds.msg_perm.uid, ::geteuid());
  EXPECT_EQ(ds.msg_perm.gid, ::getegid());
  EXPECT_EQ(ds.msg_perm.cuid, ::geteuid());
  EXPECT_EQ(ds.msg_perm.cgid, ::getegid());
  EXPECT_EQ(ds.msg_perm.mode, 0640u);
  EXPECT_EQ(ds.msg_perm.__seq, static_cast<unsigned>(id >> 15));
  EXPECT_EQ(ds.msg_qnum, 1u);
  EXPECT_EQ(ds.__msg_cbytes, 5u);
  EXPECT_EQ(ds.msg_qbytes, 16384u);
  EXPECT_EQ(ds.msg_lspid, ::getpid());
  EXPECT_EQ(ds.msg_lrpid, 0);
  EXPECT_GE(ds.msg_stime, before - 1);
  EXPECT_EQ(ds.msg_rtime, 0);
  EXPECT_GE(ds.msg_ctime, before - 1);
  // Rule 4.8: pads and reserved words are zero.
  EXPECT_EQ(ds.msg_perm.__pad2, 0);
  EXPECT_EQ(ds.msg_perm.__glibc_reserved1, 0u);
  EXPECT_EQ(ds.msg_perm.__glibc_reserved2, 0u);
  EXPECT_EQ(ds.__glibc_reserved4, 0u);
  EXPECT_EQ(ds.__glibc_reserved5, 0u);

  // MSG_STAT_ANY takes the slot index and returns the full id (Rule 4.3).
  struct msqid_ds by_slot;
  EXPECT_EQ(sysvmq_msgctl(id & 0x7fff, MSG_STAT_ANY, &by_slot), id);
  EXPECT_EQ(std::memcmp(&by_slot, &ds, sizeof ds), 0);
  EXPECT_EQ(sysvmq_msgctl(id, IPC_RMID, nullptr), 0);
}

TEST_F(CApiTest, SetChangesModeAndQbytes) {
  Queue q;
  struct msqid_ds ds;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  ds.msg_perm.mode = 0604;
  ds.msg_qbytes = 100;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_SET, &ds), 0) << std::strerror(errno);
  struct msqid_ds after;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &after), 0);
  EXPECT_EQ(after.msg_perm.mode, 0604u);
  EXPECT_EQ(after.msg_qbytes, 100u);
}

TEST_F(CApiTest, InfoCommandsFillMsginfo) {
  Queue a;
  Queue b;
  const MsgBuf out = make_msg(1, "xyz");
  ASSERT_EQ(sysvmq_msgsnd(b.id(), &out, 3, 0), 0);
  struct msginfo info;
  std::memset(&info, 0xa5, sizeof info);
  const int highest = sysvmq_msgctl(0, IPC_INFO, reinterpret_cast<struct msqid_ds*>(&info));
  EXPECT_GE(highest, b.id() & 0x7fff);
  EXPECT_EQ(info.msgmax, 8192);
  EXPECT_EQ(info.msgmnb, 16384);
  EXPECT_EQ(info.msgssz, 16);
  EXPECT_EQ(info.msgseg, 0xffff);
  // MSG_INFO: msgpool = queues, msgmap = messages, msgtql = bytes (Rule 4.9).
  ASSERT_GE(sysvmq_msgctl(0, MSG_INFO, reinterpret_cast<struct msqid_ds*>(&info)), 0);
  EXPECT_EQ(info.msgpool, 2);
  EXPECT_EQ(info.msgmap, 1);
  EXPECT_EQ(info.msgtql, 3);
}

TEST_F(CApiTest, RemovedQueueAnswersEinval) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_EQ(sysvmq_msgctl(id, IPC_RMID, reinterpret_cast<struct msqid_ds*>(0x1)), 0)
      << "IPC_RMID ignores buf (Rule 4.5)";
  struct msqid_ds ds;
  errno = 0;
  EXPECT_EQ(sysvmq_msgctl(id, IPC_STAT, &ds), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(FtokTest, UsesGlibcFormula) {
  struct stat st;
  ASSERT_EQ(::stat("/", &st), 0);
  const key_t expected = static_cast<key_t>((st.st_ino & 0xffff) | ((st.st_dev & 0xff) << 16) |
                                            (0x41u << 24));
  EXPECT_EQ(sysvmq_ftok("/", 0x41), expected);
  EXPECT_EQ(sysvmq_ftok("/", 0x141), expected) << "only the low 8 bits of proj_id count";
  errno = 0;
  EXPECT_EQ(sysvmq_ftok("/nonexistent/sysvmq", 1), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST(SocketPathTest, EnvironmentOverridesTheDefault) {
  const char* old = std::getenv("SYSVMQ_SOCKET");
  const std::string saved = old ? old : "";
  ::unsetenv("SYSVMQ_SOCKET");
  EXPECT_STREQ(sysvmq_socket_path(), "/run/sysvmq/sysvmq.sock");
  ::setenv("SYSVMQ_SOCKET", "/tmp/elsewhere.sock", 1);
  EXPECT_STREQ(sysvmq_socket_path(), "/tmp/elsewhere.sock");
  if (old) {
    ::setenv("SYSVMQ_SOCKET", saved.c_str(), 1);
  } else {
    ::unsetenv("SYSVMQ_SOCKET");
  }
}

// The C++ API on its own connection.
class ClientTest : public DaemonTest {};

TEST_F(ClientTest, RoundTripThroughTheCppApi) {
  Client client;
  auto limits = client.connect();
  ASSERT_TRUE(limits.ok()) << limits.error().message();
  EXPECT_EQ(limits->msgmax, 8192);
  EXPECT_GE(limits->max_frame_bytes, 8192u + 32u);

  auto id = client.msgget(IPC_PRIVATE, 0600);
  ASSERT_TRUE(id.ok()) << id.error().message();
  ASSERT_TRUE(client.msgsnd(*id, 5, "text").ok());
  auto st = client.stat(*id);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->msg_qnum, 1u);
  auto m = client.msgrcv(*id, 100, 0);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->mtype, 5);
  EXPECT_EQ(m->text, "text");

  auto empty = client.msgrcv(*id, 100, 0, IPC_NOWAIT);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error(), std::errc::no_message);

  auto slot = client.stat_slot(*id & 0x7fff);
  ASSERT_TRUE(slot.ok());
  EXPECT_EQ(slot->msqid, *id);
  auto info = client.info(MSG_INFO);
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->info.msgpool, 1);

  struct msqid_ds ds = *st;
  ds.msg_qbytes = 50;
  EXPECT_TRUE(client.set(*id, ds).ok());
  EXPECT_EQ(client.stat(*id)->msg_qbytes, 50u);

  auto stats = client.admin(R"({"op":"limits"})");
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_NE(stats->find("msgmax"), std::string::npos) << *stats;
  auto bad = client.admin(R"({"op":"no such op"})");
  EXPECT_EQ(bad.error(), std::errc::invalid_argument);

  EXPECT_TRUE(client.remove(*id).ok());
  EXPECT_EQ(client.stat(*id).error(), std::errc::invalid_argument);
}

TEST_F(ClientTest, AdminAnswerLargerThanOneReadArrivesWhole) {
  Client client;
  std::vector<int> ids;
  for (int i = 0; i < 1500; ++i) {
    auto id = client.msgget(IPC_PRIVATE, 0600);
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  auto queues = client.admin(R"({"op":"queues"})");
  ASSERT_TRUE(queues.ok()) << queues.error().message();
  EXPECT_GT(queues->size(), 64u * 1024u);
  EXPECT_EQ(queues->back(), '}') << queues->substr(queues->size() - 40);
  for (int id : ids) EXPECT_TRUE(client.remove(id).ok());
}

TEST_F(ClientTest, ExplicitSocketPathWinsOverTheEnvironment) {
  ::setenv("SYSVMQ_SOCKET", "/nonexistent/sysvmq.sock", 1);
  Client client(daemon_.socket_path());
  EXPECT_TRUE(client.msgget(IPC_PRIVATE, 0600).ok());
  Client lost;
  EXPECT_EQ(lost.msgget(IPC_PRIVATE, 0600).error(), std::errc::connection_refused);
}

}  // namespace
}  // namespace sysvmq::test
