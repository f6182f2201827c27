// fields_test.cpp: SEMANTICS.md section 6 — which operation sets which msqid_ds field
// (the table of Rule 6.2), and how a recorded pid is shown to a reader (Rules 6.3, 6.5).
// Not here: the clock (server/ reads it; the core takes `now`), the C layout of msqid_ds.

#include <gtest/gtest.h>

#include <cstdint>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcNowait;
using proto::kMsgCopy;

// Each step of a test runs at its own second, so a field shows which step set it.
constexpr std::int64_t kT1 = 100, kT2 = 200, kT3 = 300, kT4 = 400;

Caller in_ns(std::uint32_t uid, std::int32_t host_pid, std::int32_t local_pid,
             std::uint64_t pid_ns) {
  Caller c = user(uid, uid, host_pid);
  c.process = ProcessRef{host_pid, local_pid, pid_ns};
  return c;
}

// ---- Rule 6.2: the table ----

TEST(Fields, Rule6_2_Creation) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.stime, 0);
  EXPECT_EQ(ds.rtime, 0);
  EXPECT_EQ(ds.ctime, kT1);
  EXPECT_EQ(ds.lspid, 0);
  EXPECT_EQ(ds.lrpid, 0);
}

TEST(Fields, Rule6_2_MsgsndQueuedSetsStimeAndLspidOnly) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  MsqidDs expected = stat(r, id);
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abc", kIpcNowait, at(kT2))), Errc::ok);
  expected.stime = kT2;
  expected.lspid = bob().process.host_pid;
  expected.qnum = 1;
  expected.cbytes = 3;
  EXPECT_EQ(stat(r, id), expected);
}

TEST(Fields, Rule6_2_MsgsndHandedOverSetsStimeLspidRtimeLrpid) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  parked_id(recv(r, carol(), id, 100, 0, 0, at(kT2)));
  MsqidDs expected = stat(r, id);
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abc", kIpcNowait, at(kT3))), Errc::ok);
  expected.stime = kT3;
  expected.lspid = bob().process.host_pid;
  expected.rtime = kT3;
  expected.lrpid = carol().process.host_pid;  // the receiver, not the sender
  EXPECT_EQ(stat(r, id), expected);           // qnum, cbytes, ctime unchanged
}

TEST(Fields, Rule6_2_MsgrcvDequeueSetsRtimeAndLrpidOnly) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abc", kIpcNowait, at(kT2))), Errc::ok);
  MsqidDs expected = stat(r, id);
  ASSERT_TRUE(recv(r, carol(), id, 100, 0, kIpcNowait, at(kT3)).ok());
  expected.rtime = kT3;
  expected.lrpid = carol().process.host_pid;
  expected.qnum = 0;
  expected.cbytes = 0;
  EXPECT_EQ(stat(r, id), expected);
}

TEST(Fields, Rule6_2_AParkedSenderStampsTheTimeItCompletes) {
  Registry r(limits_with_msgmnb(3));
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "abc", kIpcNowait, at(kT2))), Errc::ok);
  parked_id(send(r, bob(), id, 1, "de", 0, at(kT3)));
  ASSERT_TRUE(recv(r, carol(), id, 100, 0, kIpcNowait, at(kT4)).ok());
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.stime, kT4);
  EXPECT_EQ(ds.lspid, bob().process.host_pid);
  EXPECT_EQ(ds.rtime, kT4);
  EXPECT_EQ(ds.lrpid, carol().process.host_pid);
}

TEST(Fields, Rule6_2_E2bigRefusalMsgCopyAndEnomsgChangeNothing) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abcdef", kIpcNowait, at(kT2))), Errc::ok);
  const MsqidDs before = stat(r, id);
  EXPECT_EQ(answer(recv(r, carol(), id, 2, 0, kIpcNowait, at(kT3))), Errc::e2big);
  EXPECT_TRUE(recv(r, carol(), id, 100, 0, kMsgCopy | kIpcNowait, at(kT3)).ok());
  EXPECT_EQ(answer(recv(r, carol(), id, 100, 9, kIpcNowait, at(kT3))), Errc::enomsg);
  EXPECT_EQ(stat(r, id), before);
}

TEST(Fields, Rule6_2_ParkedReceiverRefusedWithE2bigChangesNoReceiveField) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  parked_id(recv(r, carol(), id, 1, 0, 0, at(kT2)));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abcdef", kIpcNowait, at(kT3))), Errc::ok);
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.rtime, 0);
  EXPECT_EQ(ds.lrpid, 0);
  EXPECT_EQ(ds.stime, kT3);  // the send itself succeeded (queued)
}

TEST(Fields, Rule6_2_IpcSetSetsCtimeOnly) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abc", kIpcNowait, at(kT2))), Errc::ok);
  ASSERT_TRUE(recv(r, carol(), id, 100, 0, kIpcNowait, at(kT2)).ok());
  MsqidDs expected = stat(r, id);
  ASSERT_EQ(answer(ipc_set(r, alice(), id, set_of(expected), at(kT3))), Errc::ok);
  expected.ctime = kT3;
  EXPECT_EQ(stat(r, id), expected);
}

TEST(Fields, Rule6_2_FailedIpcSetChangesNothing) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  const MsqidDs before = stat(r, id);
  EXPECT_EQ(answer(ipc_set(r, bob(), id, set_of(before), at(kT3))), Errc::eperm);
  EXPECT_EQ(stat(r, id), before);
}

TEST(Fields, Rule6_2_StatAndInfoChangeNothing) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(kT1));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abc", kIpcNowait, at(kT2))), Errc::ok);
  const MsqidDs before = stat(r, id);
  for (int cmd :
       {proto::kIpcStat, proto::kMsgStat, proto::kMsgStatAny, proto::kIpcInfo, proto::kMsgInfo})
    EXPECT_TRUE(ctl(r, carol(), id, cmd, std::nullopt, at(kT4)).ok()) << cmd;
  EXPECT_EQ(stat(r, id), before);
}

// ---- Rules 6.3 and 6.5: a pid as the reader sees it ----

TEST(Fields, Rule6_5_PidAsSeenByTheReader) {
  const ProcessRef in_container{5000, 12, 77};
  EXPECT_EQ(pid_as_seen_by(in_container, in_ns(1, 5001, 13, 77)), 12);   // same namespace
  EXPECT_EQ(pid_as_seen_by(in_container, in_ns(1, 300, 300, 0)), 5000);  // daemon's namespace
  EXPECT_EQ(pid_as_seen_by(in_container, in_ns(1, 6000, 14, 88)), 0);    // not visible
  const ProcessRef on_host{300, 300, 0};
  EXPECT_EQ(pid_as_seen_by(on_host, in_ns(1, 301, 301, 0)), 300);
  EXPECT_EQ(pid_as_seen_by(on_host, in_ns(1, 5001, 13, 77)), 0);
  EXPECT_EQ(pid_as_seen_by(ProcessRef{}, in_ns(1, 5001, 13, 77)), 0);  // never recorded
  EXPECT_EQ(pid_as_seen_by(ProcessRef{}, in_ns(1, 301, 301, 0)), 0);
}

TEST(Fields, Rule6_5_StatRendersLspidAndLrpidForEachReader) {
  Registry r;
  const int id = create(r, root(), 0666);
  const Caller sender = in_ns(1000, 5000, 12, 77);
  const Caller receiver = in_ns(1001, 300, 300, 0);
  ASSERT_EQ(answer(send(r, sender, id, 1, "a", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, sender, id, 1, "b", kIpcNowait)), Errc::ok);
  ASSERT_TRUE(recv(r, receiver, id, 10, 0, kIpcNowait).ok());

  const MsqidDs container_view = stat(r, id, in_ns(1002, 5002, 20, 77));
  EXPECT_EQ(container_view.lspid, 12);
  EXPECT_EQ(container_view.lrpid, 0);  // the host receiver is not visible in ns 77
  const MsqidDs host_view = stat(r, id, in_ns(1003, 400, 400, 0));
  EXPECT_EQ(host_view.lspid, 5000);
  EXPECT_EQ(host_view.lrpid, 300);
  const MsqidDs stranger_view = stat(r, id, in_ns(1004, 7000, 5, 99));
  EXPECT_EQ(stranger_view.lspid, 0);
  EXPECT_EQ(stranger_view.lrpid, 0);

  auto by_msg_stat = ctl(r, in_ns(1002, 5002, 20, 77), id, proto::kMsgStatAny);
  ASSERT_TRUE(by_msg_stat.ok());
  ASSERT_TRUE(by_msg_stat.value().ds);
  EXPECT_EQ(by_msg_stat.value().ds->lspid, 12);
}

TEST(Fields, Rule6_3_TheRecordedProcessIsKeptUntilReplaced) {
  Registry r;
  const int id = create(r, root(), 0666);
  ASSERT_EQ(answer(send(r, in_ns(1, 5000, 12, 77), id, 1, "a", kIpcNowait)), Errc::ok);
  // Other calls by other processes that are not sends leave msg_lspid alone.
  ASSERT_TRUE(recv(r, bob(), id, 10, 0, kMsgCopy | kIpcNowait).ok());
  ASSERT_TRUE(recv(r, bob(), id, 10, 0, kIpcNowait).ok());
  EXPECT_EQ(stat(r, id, in_ns(2, 5001, 13, 77)).lspid, 12);
  ASSERT_EQ(answer(send(r, bob(), id, 1, "b", kIpcNowait)), Errc::ok);
  EXPECT_EQ(stat(r, id, in_ns(2, 5001, 13, 77)).lspid, 0);
  EXPECT_EQ(stat(r, id).lspid, bob().process.host_pid);
}

}  // namespace
}  // namespace sysvmq::core::test
