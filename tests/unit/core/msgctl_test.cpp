// msgctl_test.cpp: SEMANTICS.md section 4 — msgctl's commands, their check order, the
// IPC_INFO/MSG_INFO values and MSG_STAT's slot semantics, against core::Registry.
// Not here: who wakes after IPC_SET/IPC_RMID (waiters_test.cpp), the permission classes
// themselves (permissions_test.cpp), the C layout of msqid_ds (client).

#include <gtest/gtest.h>

#include <cstdint>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcInfo;
using proto::kIpcNowait;
using proto::kIpcRmid;
using proto::kIpcSet;
using proto::kIpcStat;
using proto::kMsgInfo;
using proto::kMsgStat;
using proto::kMsgStatAny;

constexpr std::uint32_t kBadId = static_cast<std::uint32_t>(-1);

MsgctlResult ok_value(const Outcome<MsgctlResult>& o) {
  if (!o.ok()) {
    ADD_FAILURE() << "msgctl failed: " << proto::errc_name(answer(o));
    return {};
  }
  return o.value();
}

// ---- Rule 4.1: every command ----

TEST(Msgctl, Rule4_1_NegativeMsqidIsEinvalForEveryCommand) {
  Registry r;
  create(r, root());
  for (int cmd : {kIpcRmid, kIpcSet, kIpcStat, kIpcInfo, kMsgStat, kMsgInfo, kMsgStatAny}) {
    EXPECT_EQ(answer(ctl(r, root(), -1, cmd, MsqidSet{0, 0, 0600, 100})), Errc::einval) << cmd;
  }
  EXPECT_EQ(r.queue_count(), 1u);
}

TEST(Msgctl, Rule4_1_NegativeCommandIsEinval) {
  Registry r;
  const int id = create(r, root());
  EXPECT_EQ(answer(ctl(r, root(), id, -1)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, root(), id, -2147483647 - 1)), Errc::einval);
}

TEST(Msgctl, Rule4_1_UnknownCommandIsEinval) {
  Registry r;
  const int id = create(r, root());
  for (int cmd : {4, 5, 10, 14, 15, 100})
    EXPECT_EQ(answer(ctl(r, root(), id, cmd)), Errc::einval) << cmd;
}

TEST(Msgctl, Rule4_1_Ipc64FlaggedCommandIsEinval) {
  Registry r;
  const int id = create(r, root());
  for (int cmd : {kIpcRmid, kIpcSet, kIpcStat, kIpcInfo, kMsgStat, kMsgInfo, kMsgStatAny}) {
    EXPECT_EQ(answer(ctl(r, root(), id, proto::kIpc64 | cmd, set_of(stat(r, id)))), Errc::einval)
        << cmd;
  }
  EXPECT_NE(r.find(id), nullptr);  // IPC_64|IPC_RMID did not remove it
}

// ---- Rule 4.2: IPC_STAT ----

TEST(Msgctl, Rule4_2_IpcStatReturnsZeroAndTheQueueFields) {
  Registry r(limits_with_msgmnb(500));
  const int id = create(r, alice(), 0640, 77, at(1500));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "abc", kIpcNowait, at(1600))), Errc::ok);
  const MsgctlResult res = ok_value(ctl(r, alice(), id, kIpcStat));
  EXPECT_EQ(res.ret, 0);
  EXPECT_FALSE(res.info);
  ASSERT_TRUE(res.ds);
  MsqidDs expected;
  expected.key = 77;
  expected.uid = expected.cuid = alice().uid;
  expected.gid = expected.cgid = alice().gid;
  expected.mode = 0640;
  expected.seq = 0;
  expected.stime = 1600;
  expected.ctime = 1500;
  expected.cbytes = 3;
  expected.qnum = 1;
  expected.qbytes = 500;
  expected.lspid = alice().process.host_pid;
  EXPECT_EQ(*res.ds, expected);
}

TEST(Msgctl, Rule4_2_IpcStatOfABadIdIsEinval) {
  Registry r;
  EXPECT_EQ(answer(ctl(r, root(), 0, kIpcStat)), Errc::einval);
}

TEST(Msgctl, Rule4_2_IpcStatNeedsReadPermission) {
  Registry r;
  const int id = create(r, root(), 0600);
  EXPECT_EQ(answer(ctl(r, nobody(), id, kIpcStat)), Errc::eacces);
  set_mode(r, id, 0604);
  EXPECT_TRUE(ctl(r, nobody(), id, kIpcStat).ok());
}

// ---- Rule 4.3: MSG_STAT / MSG_STAT_ANY ----

TEST(Msgctl, Rule4_3_MsgStatTakesASlotIndexOrAFullIdAndReturnsTheFullId) {
  Registry r;
  for (int i = 0; i < 64; ++i) ASSERT_EQ(answer(rmid(r, root(), create(r, root()))), Errc::ok);
  const int id = create(r, alice());
  ASSERT_EQ(id, proto::kIpcmni);  // slot 0, seq 1
  for (int arg : {0, proto::kIpcmni, 2 * proto::kIpcmni, 7 * proto::kIpcmni}) {
    for (int cmd : {kMsgStat, kMsgStatAny}) {
      const MsgctlResult res = ok_value(ctl(r, alice(), arg, cmd));
      EXPECT_EQ(res.ret, id) << arg << " cmd " << cmd;
      ASSERT_TRUE(res.ds);
      EXPECT_EQ(res.ds->seq, 1u);
    }
  }
}

TEST(Msgctl, Rule4_3_MsgStatFillsLikeIpcStat) {
  Registry r;
  const int id = create(r, alice(), 0666, 5, at(10));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "abc", kIpcNowait, at(20))), Errc::ok);
  const MsqidDs by_ipc_stat = stat(r, id, alice());
  const MsgctlResult res = ok_value(ctl(r, alice(), id, kMsgStat));
  ASSERT_TRUE(res.ds);
  EXPECT_EQ(*res.ds, by_ipc_stat);
  const MsgctlResult any = ok_value(ctl(r, alice(), id, kMsgStatAny));
  ASSERT_TRUE(any.ds);
  EXPECT_EQ(*any.ds, by_ipc_stat);
}

TEST(Msgctl, Rule4_3_MsgStatOfAnEmptySlotIsEinval) {
  Registry r;
  create(r, alice());  // slot 0
  EXPECT_EQ(answer(ctl(r, alice(), 1, kMsgStat)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, alice(), 1, kMsgStatAny)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, alice(), proto::kIpcmni - 1, kMsgStatAny)), Errc::einval);
}

TEST(Msgctl, Rule4_3_MsgStatNeedsReadAndMsgStatAnyNeedsNothing) {
  Registry r;
  const int id = create(r, root(), 0600);
  EXPECT_EQ(answer(ctl(r, nobody(), id, kMsgStat)), Errc::eacces);
  const MsgctlResult res = ok_value(ctl(r, nobody(), id, kMsgStatAny));
  EXPECT_EQ(res.ret, id);
  ASSERT_TRUE(res.ds);
  EXPECT_EQ(res.ds->mode, 0600u);
}

// ---- Rule 4.4: IPC_SET, in its order ----

TEST(IpcSet, Rule4_4_Step1_UnreadableBufferIsEfaultBeforeLookupAndOwnerTest) {
  Registry r;
  const int id = create(r, root());
  MsgctlArgs bad{id, kIpcSet, std::nullopt, true};
  EXPECT_EQ(answer(r.msgctl(nobody(), bad, at(kLater))), Errc::efault);  // not EPERM
  bad.msqid = 4242;
  EXPECT_EQ(answer(r.msgctl(nobody(), bad, at(kLater))), Errc::efault);  // not EINVAL
  bad.set = set_of(stat(r, id));
  EXPECT_EQ(answer(r.msgctl(root(), bad, at(kLater))), Errc::efault);
  EXPECT_EQ(answer(r.msgctl(root(), MsgctlArgs{id, kIpcSet, std::nullopt, false}, at(kLater))),
            Errc::efault);
}

TEST(IpcSet, Rule4_4_Step2_BadIdIsEinval) {
  Registry r;
  EXPECT_EQ(answer(ipc_set(r, root(), 3, MsqidSet{0, 0, 0600, 100})), Errc::einval);
}

TEST(IpcSet, Rule4_4_Step3_NonOwnerWithoutCapSysAdminIsEperm) {
  Registry r;
  const int id = create(r, alice(), 0666);
  const MsqidSet s = set_of(stat(r, id));
  EXPECT_EQ(answer(ipc_set(r, bob(), id, s)), Errc::eperm);
  EXPECT_EQ(answer(ipc_set(r, with_cap(bob(), Capability::ipc_owner), id, s)), Errc::eperm);
  EXPECT_EQ(answer(ipc_set(r, with_cap(bob(), Capability::sys_resource), id, s)), Errc::eperm);
  EXPECT_EQ(answer(ipc_set(r, with_cap(bob(), Capability::sys_admin), id, s)), Errc::ok);
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
}

TEST(IpcSet, Rule4_4_Step3_EpermComesBeforeTheQbytesAndIdChecks) {
  Registry r;
  const int id = create(r, alice());
  EXPECT_EQ(answer(ipc_set(r, bob(), id, MsqidSet{kBadId, kBadId, 0600, 1u << 30})), Errc::eperm);
}

TEST(IpcSet, Rule4_4_Step4_QbytesAboveMsgmnbNeedsCapSysResource) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  MsqidSet s = set_of(stat(r, id));
  s.qbytes = 101;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::eperm);
  EXPECT_EQ(answer(ipc_set(r, with_cap(alice(), Capability::sys_admin), id, s)), Errc::eperm);
  EXPECT_EQ(stat(r, id).qbytes, 100u);
  EXPECT_EQ(answer(ipc_set(r, with_cap(alice(), Capability::sys_resource), id, s)), Errc::ok);
  EXPECT_EQ(stat(r, id).qbytes, 101u);
  s.qbytes = 100;  // exactly msgmnb needs nothing
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
}

TEST(IpcSet, Rule4_4_Step4_AnUnchangedQbytesAboveMsgmnbStillNeedsTheCapability) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  set_qbytes(r, id, 1000);  // raised by a privileged caller
  MsqidSet s = set_of(stat(r, id));
  s.mode = 0600;  // a mode-only change, STAT-then-SET style
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::eperm);
  EXPECT_EQ(stat(r, id).mode, 0666u);
}

TEST(IpcSet, Rule4_4_Step4_TheCeilingIsTheCurrentMsgmnb) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  r.set_limits(limits_with_msgmnb(50));
  EXPECT_EQ(answer(ipc_set(r, alice(), id, set_of(stat(r, id)))), Errc::eperm);  // 100 > 50
  r.set_limits(limits_with_msgmnb(200));
  MsqidSet s = set_of(stat(r, id));
  s.qbytes = 200;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
}

TEST(IpcSet, Rule4_4_Step4_LoweringIsAllowedEvenToZeroOrBelowCbytes) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(40), kIpcNowait)), Errc::ok);
  MsqidSet s = set_of(stat(r, id));
  s.qbytes = 10;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
  EXPECT_EQ(stat(r, id).qbytes, 10u);
  EXPECT_EQ(stat(r, id).cbytes, 40u);  // nothing is discarded
  s.qbytes = 0;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
  EXPECT_EQ(stat(r, id).qbytes, 0u);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::eagain);
}

TEST(IpcSet, Rule4_4_Step4_EpermComesBeforeTheInvalidIdCheck) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  EXPECT_EQ(answer(ipc_set(r, alice(), id, MsqidSet{kBadId, 0, 0600, 101})), Errc::eperm);
}

TEST(IpcSet, Rule4_4_Step5_InvalidUidOrGidIsEinvalAndChangesNothing) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(100));
  const MsqidDs before = stat(r, id);
  MsqidSet s = set_of(before);
  s.mode = 0600;
  s.uid = kBadId;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s, at(200))), Errc::einval);
  s.uid = alice().uid;
  s.gid = kBadId;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s, at(200))), Errc::einval);
  EXPECT_EQ(stat(r, id), before);
}

TEST(IpcSet, Rule4_4_Step6_AppliesUidGidModeQbytesAndCtimeOnly) {
  Registry r;
  const int id = create(r, alice(), 0666, 321, at(100));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "ab", kIpcNowait, at(150))), Errc::ok);
  const MsqidDs before = stat(r, id);
  const MsgctlResult res =
      ok_value(ipc_set(r, alice(), id, MsqidSet{4242, 4343, 07777, 1234}, at(200)));
  EXPECT_EQ(res.ret, 0);
  MsqidDs expected = before;
  expected.uid = 4242;
  expected.gid = 4343;
  expected.mode = 0777;  // 07777 stores 0777
  expected.qbytes = 1234;
  expected.ctime = 200;
  EXPECT_EQ(stat(r, id), expected);  // key, cuid, cgid, seq, stime, counters, pids kept
}

TEST(IpcSet, Rule4_4_Step6_CreatorKeepsOwnerRightsAfterGivingTheQueueAway) {
  Registry r;
  const int id = create(r, alice(), 0600);
  MsqidSet s = set_of(stat(r, id));
  s.uid = bob().uid;  // no CAP_CHOWN needed
  ASSERT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
  EXPECT_EQ(stat(r, id).uid, bob().uid);
  EXPECT_EQ(stat(r, id).cuid, alice().uid);
  // The new owner has owner rights; so does the creator.
  s.uid = bob().uid;
  EXPECT_EQ(answer(ipc_set(r, bob(), id, s)), Errc::ok);
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "creator", kIpcNowait)), Errc::ok);
  // The owner who gave it on to carol loses them; the creator does not.
  s.uid = carol().uid;
  ASSERT_EQ(answer(ipc_set(r, bob(), id, s)), Errc::ok);
  EXPECT_EQ(answer(ipc_set(r, bob(), id, s)), Errc::eperm);
  EXPECT_EQ(answer(rmid(r, bob(), id)), Errc::eperm);
  EXPECT_EQ(answer(rmid(r, alice(), id)), Errc::ok);
}

// ---- Rule 4.5: IPC_RMID ----

TEST(Rmid, Rule4_5_BadIdIsEinval) {
  Registry r;
  EXPECT_EQ(answer(rmid(r, root(), 0)), Errc::einval);
}

TEST(Rmid, Rule4_5_NonOwnerIsEpermUnlessCapSysAdmin) {
  Registry r;
  const int id = create(r, alice(), 0666);
  EXPECT_EQ(answer(rmid(r, bob(), id)), Errc::eperm);
  EXPECT_EQ(answer(rmid(r, with_cap(bob(), Capability::ipc_owner), id)), Errc::eperm);
  EXPECT_NE(r.find(id), nullptr);
  EXPECT_EQ(answer(rmid(r, with_cap(bob(), Capability::sys_admin), id)), Errc::ok);
  EXPECT_EQ(r.find(id), nullptr);
}

TEST(Rmid, Rule4_5_TheBufferIsIgnored) {
  Registry r;
  const int id = create(r, alice());
  const MsgctlResult res =
      ok_value(r.msgctl(alice(), MsgctlArgs{id, kIpcRmid, std::nullopt, true}, at(kLater)));
  EXPECT_EQ(res.ret, 0);
  EXPECT_EQ(r.queue_count(), 0u);
}

TEST(Rmid, Rule4_5_RemovalDiscardsMessagesFreesTheKeyAndKillsTheId) {
  Registry r;
  const int id = create(r, alice(), 0666, 99);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "abc", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "de", kIpcNowait)), Errc::ok);
  const int other = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), other, 1, "f", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(rmid(r, alice(), id)), Errc::ok);
  EXPECT_EQ(r.usage().queued_messages, 1u);
  EXPECT_EQ(r.usage().queued_bytes, 1u);
  EXPECT_EQ(answer(r.msgget(alice(), 99, 0, at(kLater))), Errc::enoent);
  EXPECT_EQ(answer(ctl(r, alice(), id, kIpcStat)), Errc::einval);
  EXPECT_EQ(r.queue_count(), 1u);
}

// ---- Rule 4.6: IPC_INFO and MSG_INFO return the highest slot in use ----

TEST(Info, Rule4_6_ReturnsZeroForAnEmptyNamespace) {
  Registry r;
  for (int cmd : {kIpcInfo, kMsgInfo}) {
    const MsgctlResult res = ok_value(ctl(r, nobody(), 0, cmd));
    EXPECT_EQ(res.ret, 0);
    EXPECT_TRUE(res.info);
    EXPECT_FALSE(res.ds);
  }
}

TEST(Info, Rule4_6_ReturnsTheHighestSlotInUse) {
  Registry r;
  create(r, root(), 0);
  const int one = create(r, root(), 0);
  const int two = create(r, root(), 0);
  ASSERT_EQ(answer(rmid(r, root(), one)), Errc::ok);
  for (int cmd : {kIpcInfo, kMsgInfo})
    EXPECT_EQ(ok_value(ctl(r, nobody(), 0, cmd)).ret, 2) << cmd;  // slots 0 and 2
  ASSERT_EQ(answer(rmid(r, root(), two)), Errc::ok);
  for (int cmd : {kIpcInfo, kMsgInfo}) EXPECT_EQ(ok_value(ctl(r, nobody(), 0, cmd)).ret, 0) << cmd;
}

TEST(Info, Rule4_6_MsqidIsIgnoredAndNoPermissionIsNeeded) {
  Registry r;
  create(r, root(), 0);
  for (int cmd : {kIpcInfo, kMsgInfo}) {
    EXPECT_TRUE(ctl(r, nobody(), 12345, cmd).ok()) << cmd;
    EXPECT_TRUE(ctl(r, nobody(), 0x7fffffff, cmd).ok()) << cmd;
  }
}

// ---- Rule 4.9: struct msginfo ----

TEST(Info, Rule4_9_IpcInfoReportsLimitsAndConstants) {
  proto::Limits l;
  l.msgmax = 100;
  l.msgmnb = 200;
  l.msgmni = 300;
  Registry r(l);
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "abc", kIpcNowait)), Errc::ok);
  const MsgctlResult res = ok_value(ctl(r, alice(), 0, kIpcInfo));
  ASSERT_TRUE(res.info);
  proto::MsgInfo expected;
  expected.msgpool = 512000;
  expected.msgmap = 16384;
  expected.msgtql = 16384;
  expected.msgmax = 100;
  expected.msgmnb = 200;
  expected.msgmni = 300;
  expected.msgssz = 16;
  expected.msgseg = 65535;
  EXPECT_EQ(*res.info, expected);
}

TEST(Info, Rule4_9_MsgInfoReportsUsageAndCurrentLimits) {
  Registry r;
  const int a = create(r, alice());
  const int b = create(r, alice());
  create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), a, 1, "abc", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), a, 1, "", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), b, 1, "defg", kIpcNowait)), Errc::ok);
  proto::Limits l;
  l.msgmax = 111;
  l.msgmnb = 222;
  l.msgmni = 333;
  r.set_limits(l);
  const MsgctlResult res = ok_value(ctl(r, nobody(), 0, kMsgInfo));
  ASSERT_TRUE(res.info);
  proto::MsgInfo expected;
  expected.msgpool = 3;  // queues
  expected.msgmap = 3;   // messages
  expected.msgtql = 7;   // bytes
  expected.msgmax = 111;
  expected.msgmnb = 222;
  expected.msgmni = 333;
  expected.msgssz = 16;
  expected.msgseg = 65535;
  EXPECT_EQ(*res.info, expected);
  // Counters follow receives and removals.
  ASSERT_TRUE(recv(r, alice(), a, 10, 0, kIpcNowait).ok());
  ASSERT_EQ(answer(rmid(r, alice(), b)), Errc::ok);
  const MsgctlResult after = ok_value(ctl(r, nobody(), 0, kMsgInfo));
  ASSERT_TRUE(after.info);
  EXPECT_EQ(after.info->msgpool, 2);
  EXPECT_EQ(after.info->msgmap, 1);
  EXPECT_EQ(after.info->msgtql, 0);
}

// ---- Rule 4.10: the listing is in slot order ----

TEST(Info, Rule4_10_QueuesAreListedInSlotOrder) {
  Registry r;
  for (int i = 0; i < 5; ++i) create(r, alice());
  ASSERT_EQ(answer(rmid(r, alice(), 1)), Errc::ok);
  ASSERT_EQ(answer(rmid(r, alice(), 0)), Errc::ok);
  create(r, alice());  // slot 5
  std::vector<int> slots;
  for (const Queue* q : r.queues()) slots.push_back(q->slot());
  EXPECT_EQ(slots, (std::vector<int>{2, 3, 4, 5}));
}

}  // namespace
}  // namespace sysvmq::core::test
