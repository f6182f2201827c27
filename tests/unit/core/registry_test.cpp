// registry_test.cpp: SEMANTICS.md section 1 — keys, msgget, identifiers (slot + seq),
// slot allocation, id lookup and the namespace limits, against core::Registry.
// Not here: the msgsnd/msgrcv/msgctl rules themselves (their own files).

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <vector>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcCreat;
using proto::kIpcExcl;
using proto::kIpcNowait;
using proto::kIpcPrivate;

constexpr std::int32_t kKey = 0x1234;

// Creates and removes one private queue; returns its id.
int create_and_remove(Registry& r) {
  const int id = create(r, root());
  EXPECT_EQ(answer(rmid(r, root(), id)), Errc::ok);
  return id;
}

// ---- Rule 1.1: every key is legal; only 0 is special ----

TEST(Keys, Rule1_1_NegativeKeyIsAnOrdinaryKey) {
  Registry r;
  const auto key = static_cast<std::int32_t>(0xdeadbeefU);
  ASSERT_LT(key, 0);
  const int id = create(r, root(), 0600, key);
  auto again = r.msgget(root(), key, 0, at(kLater));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), id);
  EXPECT_EQ(stat(r, id).key, key);
}

TEST(Keys, Rule1_1_ExtremeKeysAreDistinctOrdinaryKeys) {
  Registry r;
  const std::vector<std::int32_t> keys = {INT32_MIN, -1, 1, INT32_MAX};
  std::vector<int> ids;
  for (auto k : keys) ids.push_back(create(r, root(), 0600, k));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto o = r.msgget(root(), keys[i], 0, at(kLater));
    ASSERT_TRUE(o.ok()) << keys[i];
    EXPECT_EQ(o.value(), ids[i]);
  }
  EXPECT_EQ(r.queue_count(), keys.size());
}

// ---- Rule 1.2: IPC_PRIVATE always creates ----

TEST(Keys, Rule1_2_PrivateCreatesEvenWithoutIpcCreat) {
  Registry r;
  auto a = r.msgget(alice(), kIpcPrivate, 0, at(kCreated));
  auto b = r.msgget(alice(), kIpcPrivate, 0, at(kCreated));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a.value(), b.value());
  EXPECT_EQ(r.queue_count(), 2u);
  EXPECT_EQ(stat(r, a.value()).mode, 0u);  // measured: msgget(IPC_PRIVATE, 0) gives mode 0
}

TEST(Keys, Rule1_2_PrivateIgnoresIpcExcl) {
  Registry r;
  auto a = r.msgget(alice(), kIpcPrivate, kIpcCreat | kIpcExcl | 0600, at(kCreated));
  auto b = r.msgget(alice(), kIpcPrivate, kIpcCreat | kIpcExcl | 0600, at(kCreated));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a.value(), b.value());
}

TEST(Keys, Rule1_2_PrivateQueueStoresKeyZeroAndIsNeverFoundByKey) {
  Registry r;
  const int id = create(r, alice(), 0666);
  EXPECT_EQ(stat(r, id).key, 0);
  auto again = r.msgget(alice(), kIpcPrivate, 0666, at(kLater));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again.value(), id);
  EXPECT_EQ(r.queue_count(), 2u);
}

// ---- Rule 1.3: msgget of an existing key ----

TEST(Keys, Rule1_3_CreatExclOnExistingKeyIsEexist) {
  Registry r;
  create(r, alice(), 0600, kKey);
  EXPECT_EQ(answer(r.msgget(alice(), kKey, kIpcCreat | kIpcExcl | 0600, at(kLater))), Errc::eexist);
  EXPECT_EQ(r.queue_count(), 1u);
}

TEST(Keys, Rule1_3_EexistIsDecidedBeforePermissions) {
  Registry r;
  create(r, root(), 0, kKey);  // mode 0000: nobody may do anything
  EXPECT_EQ(answer(r.msgget(nobody(), kKey, kIpcCreat | kIpcExcl | 0600, at(kLater))),
            Errc::eexist);
}

TEST(Keys, Rule1_3_RequestedModeBitsAreChecked) {
  Registry r;
  const int id = create(r, root(), 0604, kKey);
  auto ok = r.msgget(nobody(), kKey, 0400, at(kLater));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), id);
  EXPECT_EQ(answer(r.msgget(nobody(), kKey, 0200, at(kLater))), Errc::eacces);
  EXPECT_EQ(answer(r.msgget(nobody(), kKey, 0020, at(kLater))), Errc::eacces);
  EXPECT_EQ(answer(r.msgget(nobody(), kKey, kIpcCreat | 0666, at(kLater))), Errc::eacces);
}

TEST(Keys, Rule1_3_NoModeBitsRequestedChecksNothing) {
  Registry r;
  const int id = create(r, root(), 0, kKey);
  auto plain = r.msgget(nobody(), kKey, 0, at(kLater));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.value(), id);
  auto with_creat = r.msgget(nobody(), kKey, kIpcCreat, at(kLater));
  ASSERT_TRUE(with_creat.ok());
  EXPECT_EQ(with_creat.value(), id);
}

TEST(Keys, Rule1_3_IpcExclWithoutIpcCreatReturnsTheExistingQueue) {
  Registry r;
  const int id = create(r, alice(), 0600, kKey);
  auto o = r.msgget(alice(), kKey, kIpcExcl | 0600, at(kLater));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value(), id);
}

TEST(Keys, Rule1_3_ReturningAnExistingQueueChangesNothing) {
  Registry r;
  const int id = create(r, alice(), 0600, kKey, at(100));
  const MsqidDs before = stat(r, id);
  auto o = r.msgget(alice(), kKey, kIpcCreat | 0666, at(200));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value(), id);
  EXPECT_EQ(stat(r, id), before);  // mode stays 0600, ctime stays 100
  EXPECT_EQ(r.queue_count(), 1u);
}

// ---- Rule 1.4: msgget of a missing key ----

TEST(Keys, Rule1_4_MissingKeyWithoutIpcCreatIsEnoent) {
  Registry r;
  EXPECT_EQ(answer(r.msgget(alice(), kKey, 0, at(kLater))), Errc::enoent);
  EXPECT_EQ(answer(r.msgget(alice(), kKey, kIpcExcl, at(kLater))), Errc::enoent);
  EXPECT_EQ(answer(r.msgget(alice(), kKey, 0666, at(kLater))), Errc::enoent);
  EXPECT_EQ(r.queue_count(), 0u);
}

TEST(Keys, Rule1_4_MissingKeyWithIpcCreatCreates) {
  Registry r;
  auto o = r.msgget(alice(), kKey, kIpcCreat | 0640, at(kCreated));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(stat(r, o.value()).key, kKey);
  auto found = r.msgget(alice(), kKey, 0, at(kLater));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found.value(), o.value());
}

// ---- Rule 1.5: creation ----

TEST(Create, Rule1_5_NewQueueFields) {
  Registry r(limits_with_msgmnb(777));
  const Caller who = user(1000, 2000, 55, {3000});
  auto o = r.msgget(who, kKey, 01000000 | kIpcCreat | kIpcExcl | kIpcNowait | 07777, at(1234));
  ASSERT_TRUE(o.ok());
  const MsqidDs ds = stat(r, o.value());
  EXPECT_EQ(ds.key, kKey);
  EXPECT_EQ(ds.uid, 1000u);
  EXPECT_EQ(ds.cuid, 1000u);
  EXPECT_EQ(ds.gid, 2000u);
  EXPECT_EQ(ds.cgid, 2000u);
  EXPECT_EQ(ds.mode, 0777u);  // all other bits dropped
  EXPECT_EQ(ds.qbytes, 777u);
  EXPECT_EQ(ds.ctime, 1234);
  EXPECT_EQ(ds.stime, 0);
  EXPECT_EQ(ds.rtime, 0);
  EXPECT_EQ(ds.qnum, 0u);
  EXPECT_EQ(ds.cbytes, 0u);
  EXPECT_EQ(ds.lspid, 0);
  EXPECT_EQ(ds.lrpid, 0);
}

TEST(Create, Rule1_5_ModeKeepsOnlyPermissionBits) {
  Registry r;
  auto o = r.msgget(alice(), kIpcPrivate, 01000600, at(kCreated));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(stat(r, o.value()).mode, 0600u);
}

TEST(Create, Rule1_5_QbytesIsMsgmnbAtCreationTime) {
  Registry r(limits_with_msgmnb(100));
  const int a = create(r, alice());
  r.set_limits(limits_with_msgmnb(200));
  const int b = create(r, alice());
  EXPECT_EQ(stat(r, a).qbytes, 100u);
  EXPECT_EQ(stat(r, b).qbytes, 200u);
}

TEST(Create, Rule1_5_EnospcAtMsgmniForPrivateAndKeyed) {
  proto::Limits l;
  l.msgmni = 2;
  Registry r(l);
  create(r, alice());
  const int keyed = create(r, alice(), 0600, kKey);
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(answer(r.msgget(alice(), kKey + 1, kIpcCreat | 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(r.queue_count(), 2u);
  // An existing key is still found.
  auto found = r.msgget(alice(), kKey, kIpcCreat | 0600, at(kLater));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found.value(), keyed);
  // Removing one makes room again.
  ASSERT_EQ(answer(rmid(r, alice(), keyed)), Errc::ok);
  EXPECT_TRUE(r.msgget(alice(), kIpcPrivate, 0600, at(kLater)).ok());
}

// ---- Rule 1.6: IPC_RMID frees the key at once ----

TEST(Keys, Rule1_6_RmidFreesTheKeyAtOnce) {
  Registry r;
  const int old_id = create(r, alice(), 0600, kKey);
  ASSERT_EQ(answer(rmid(r, alice(), old_id)), Errc::ok);
  EXPECT_EQ(answer(r.msgget(alice(), kKey, 0, at(kLater))), Errc::enoent);
  auto fresh = r.msgget(alice(), kKey, kIpcCreat | kIpcExcl | 0600, at(kLater));
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh.value(), old_id);
}

// ---- Rule 1.7: identifier layout ----

TEST(Ids, Rule1_7_FirstQueueOfAFreshNamespaceIsIdZero) {
  Registry r;
  EXPECT_EQ(create(r, alice()), 0);
  EXPECT_EQ(stat(r, 0).seq, 0u);
}

TEST(Ids, Rule1_7_IdIsSeqTimesIpcmniPlusSlot) {
  Registry r;
  for (int i = 0; i < 64; ++i) create_and_remove(r);
  const int id = create(r, alice());
  EXPECT_EQ(id, 1 * proto::kIpcmni + 0);
  EXPECT_EQ(stat(r, id).seq, 1u);
  ASSERT_NE(r.find(id), nullptr);
  EXPECT_EQ(r.find(id)->slot(), 0);
}

// ---- Rule 1.8: cyclic slot allocation and the sequence counter ----

TEST(Ids, Rule1_8_CreateAndRemoveGives0To63Then32768) {
  Registry r;
  std::vector<int> ids;
  for (int i = 0; i < 67; ++i) ids.push_back(create_and_remove(r));
  std::vector<int> expected;
  for (int i = 0; i < 64; ++i) expected.push_back(i);
  expected.push_back(32768);
  expected.push_back(32769);
  expected.push_back(32770);
  EXPECT_EQ(ids, expected);
}

TEST(Ids, Rule1_8_NextFreeSlotAfterTheLastOneNotTheLowest) {
  Registry r;
  EXPECT_EQ(create(r, alice()), 0);
  EXPECT_EQ(create(r, alice()), 1);
  EXPECT_EQ(create(r, alice()), 2);
  ASSERT_EQ(answer(rmid(r, alice(), 1)), Errc::ok);
  ASSERT_EQ(answer(rmid(r, alice(), 0)), Errc::ok);
  EXPECT_EQ(create(r, alice()), 3);  // slot 3, seq unchanged (3 > 2)
  EXPECT_EQ(create(r, alice()), 4);
}

TEST(Ids, Rule1_8_QueuesKeptAliveRaiseTheCeiling) {
  Registry r;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(create(r, alice()), i);
}

TEST(Ids, Rule1_8_CeilingIsThreeHalvesOfQueuesInUse) {
  Registry r;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(create(r, alice()), i);  // slots 0..49 stay
  // With 50 in use the ceiling is 75: slots 50..74, then the search wraps, skips the
  // occupied 0..49 and lands on 50 again with the next sequence number.
  for (int slot = 50; slot < 75; ++slot) EXPECT_EQ(create_and_remove(r), slot);
  EXPECT_EQ(create_and_remove(r), proto::kIpcmni + 50);
}

TEST(Ids, Rule1_8_WrapAfterNoQueuesAtAllReturnsToSlotZero) {
  Registry r;
  for (int i = 0; i < 64; ++i) create_and_remove(r);
  EXPECT_EQ(create(r, alice()), proto::kIpcmni);      // slot 0, seq 1
  EXPECT_EQ(create(r, alice()), proto::kIpcmni + 1);  // slot 1 > 0: seq stays 1
}

TEST(Ids, Rule1_8_HandingOutTheSameSlotAgainAdvancesTheSequence) {
  proto::Limits l;
  l.msgmni = proto::kIpcmni;
  Registry r(l);
  for (int i = 0; i < proto::kIpcmni; ++i) ASSERT_EQ(create(r, alice()), i);
  ASSERT_EQ(answer(rmid(r, alice(), 5)), Errc::ok);
  // 32767 in use: the ceiling is 32768 and slot 5 is the only free one.
  EXPECT_EQ(create_and_remove(r), 1 * proto::kIpcmni + 5);  // 5 <= 32767
  EXPECT_EQ(create_and_remove(r), 2 * proto::kIpcmni + 5);  // 5 <= 5: "not above"
}

TEST(Ids, Rule1_8_SequenceWrapsFrom65534BackToZero) {
  Registry r;
  // Keep 43 queues (slots 0..42): the ceiling stays 64 and every wrap of the 21 free
  // slots advances the sequence, which makes this loop ~1.4 million creations.
  for (int i = 0; i < 43; ++i) ASSERT_EQ(create(r, alice()), i);
  std::int64_t last_seq = 0;
  bool wrapped = false;
  for (long n = 0; n < 2'000'000 && !wrapped; ++n) {
    const int id = create_and_remove(r);
    ASSERT_GE(id, 0);
    const int seq = id >> proto::kIpcmniShift;
    if (seq < last_seq) {
      EXPECT_EQ(last_seq, 65534);
      EXPECT_EQ(seq, 0);
      EXPECT_EQ(id, 43);
      wrapped = true;
    }
    last_seq = seq;
  }
  EXPECT_TRUE(wrapped);
}

// ---- Rule 1.9: looking up an id ----

TEST(Ids, Rule1_9_NegativeIdIsEinval) {
  Registry r;
  create(r, root(), 0666);
  EXPECT_EQ(answer(send(r, root(), -1, 1, "x", kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(recv(r, root(), -1, 10, 0, kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, root(), -1, proto::kIpcStat)), Errc::einval);
}

TEST(Ids, Rule1_9_EmptySlotIsEinval) {
  Registry r;
  create(r, root(), 0666);  // slot 0
  EXPECT_EQ(answer(send(r, root(), 5, 1, "x", kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(recv(r, root(), 5, 10, 0, kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, root(), 5, proto::kIpcStat)), Errc::einval);
  EXPECT_EQ(r.find(5), nullptr);
}

TEST(Ids, Rule1_9_OccupiedSlotWithAnotherSeqIsEinval) {
  Registry r;
  for (int i = 0; i < 64; ++i) create_and_remove(r);
  const int id = create(r, root(), 0666);
  ASSERT_EQ(id, proto::kIpcmni);  // slot 0, seq 1
  for (int stale : {0, 2 * proto::kIpcmni}) {
    EXPECT_EQ(answer(send(r, root(), stale, 1, "x", kIpcNowait)), Errc::einval) << stale;
    EXPECT_EQ(answer(recv(r, root(), stale, 10, 0, kIpcNowait)), Errc::einval) << stale;
    EXPECT_EQ(answer(ctl(r, root(), stale, proto::kIpcStat)), Errc::einval) << stale;
    EXPECT_EQ(answer(rmid(r, root(), stale)), Errc::einval) << stale;
    EXPECT_EQ(r.find(stale), nullptr);
  }
  EXPECT_EQ(answer(send(r, root(), id, 1, "x", kIpcNowait)), Errc::ok);
}

TEST(Ids, Rule1_9_EveryCallOnARemovedQueueIsEinvalNeverEidrm) {
  Registry r;
  const int id = create(r, root(), 0666);
  ASSERT_EQ(answer(send(r, root(), id, 1, "x", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(rmid(r, root(), id)), Errc::ok);
  EXPECT_EQ(answer(send(r, root(), id, 1, "x", kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(send(r, root(), id, 1, "x", 0)), Errc::einval);
  EXPECT_EQ(answer(recv(r, root(), id, 10, 0, kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(recv(r, root(), id, 10, 0, 0)), Errc::einval);
  EXPECT_EQ(answer(recv(r, root(), id, 10, 0, proto::kMsgCopy | kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, root(), id, proto::kIpcStat)), Errc::einval);
  EXPECT_EQ(answer(ctl(r, root(), id, proto::kMsgStat)), Errc::einval);
  EXPECT_EQ(answer(ipc_set(r, root(), id, MsqidSet{0, 0, 0600, 100})), Errc::einval);
  EXPECT_EQ(answer(rmid(r, root(), id)), Errc::einval);
}

// ---- Rule 1.11: limits ----

TEST(Limits, Rule1_11_DefaultsAreTheKernels) {
  Registry r;
  EXPECT_EQ(r.limits().msgmax, 8192);
  EXPECT_EQ(r.limits().msgmnb, 16384);
  EXPECT_EQ(r.limits().msgmni, 32000);
  const int id = create(r, alice());
  EXPECT_EQ(stat(r, id).qbytes, 16384u);
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(8192), kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(8193), kIpcNowait)), Errc::einval);
}

TEST(Limits, Rule1_11_MsgmaxChangeAffectsLaterSends) {
  proto::Limits l;
  l.msgmax = 10;
  Registry r(l);
  const int id = create(r, alice());
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(11), kIpcNowait)), Errc::einval);
  l.msgmax = 20;
  r.set_limits(l);
  EXPECT_EQ(r.limits().msgmax, 20);
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(11), kIpcNowait)), Errc::ok);
  l.msgmax = 0;
  r.set_limits(l);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "x", kIpcNowait)), Errc::einval);
}

TEST(Limits, Rule1_11_MsgmnbChangeLeavesExistingQueuesAlone) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  r.set_limits(limits_with_msgmnb(10));
  EXPECT_EQ(stat(r, id).qbytes, 100u);
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(50), kIpcNowait)), Errc::ok);
  EXPECT_EQ(stat(r, create(r, alice())).qbytes, 10u);
}

TEST(Limits, Rule1_11_MsgmniChangeAffectsLaterCreationsOnly) {
  Registry r;
  const int a = create(r, alice());
  const int b = create(r, alice());
  proto::Limits l;
  l.msgmni = 1;
  r.set_limits(l);
  EXPECT_EQ(r.queue_count(), 2u);  // nothing is removed
  EXPECT_NE(r.find(a), nullptr);
  EXPECT_NE(r.find(b), nullptr);
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  l.msgmni = 0;
  r.set_limits(l);
  ASSERT_EQ(answer(rmid(r, alice(), a)), Errc::ok);
  ASSERT_EQ(answer(rmid(r, alice(), b)), Errc::ok);
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  l.msgmni = 3;
  r.set_limits(l);
  EXPECT_TRUE(r.msgget(alice(), kIpcPrivate, 0600, at(kLater)).ok());
}

TEST(Limits, Rule1_11_MsgmniOf32768FillsEverySlot) {
  proto::Limits l;
  l.msgmni = proto::kIpcmni;
  Registry r(l);
  for (int i = 0; i < proto::kIpcmni; ++i) {
    auto o = r.msgget(alice(), kIpcPrivate, 0600, at(kCreated));
    ASSERT_TRUE(o.ok()) << i;
    ASSERT_EQ(o.value(), i);
  }
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(answer(r.msgget(alice(), kKey, kIpcCreat | 0600, at(kLater))), Errc::enospc);
  auto info = ctl(r, alice(), 0, proto::kIpcInfo);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info.value().ret, proto::kIpcmni - 1);
}

}  // namespace
}  // namespace sysvmq::core::test
