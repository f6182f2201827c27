// queues_per_uid_test.cpp: limits.max_queues_per_uid — a daemon limit, not in Linux: the
// queues one creator uid (cuid) may hold at once. Over it, creating answers ENOSPC as at
// msgmni (Rule 1.5); finding an existing queue is not creating; IPC_RMID gives the room
// back to the creator, whoever removes the queue.

#include <gtest/gtest.h>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcCreat;
using proto::kIpcPrivate;

constexpr std::int32_t kKey = 0x4242;

proto::Limits per_uid(std::uint32_t n) {
  proto::Limits l;
  l.max_queues_per_uid = n;
  return l;
}

TEST(QueuesPerUid, TheCreatorsNextQueueIsEnospcWhileOthersStillCreate) {
  Registry r(per_uid(2));
  create(r, alice());
  const int keyed = create(r, alice(), 0666, kKey);
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(answer(r.msgget(alice(), kKey + 1, kIpcCreat | 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(r.queues_created_by(alice().uid), 2u);
  // Finding a queue that exists creates nothing: not refused.
  auto found = r.msgget(alice(), kKey, kIpcCreat | 0600, at(kLater));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found.value(), keyed);
  // Another uid has its own count.
  create(r, bob());
  create(r, bob());
  EXPECT_EQ(answer(r.msgget(bob(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(r.queue_count(), 4u);
}

TEST(QueuesPerUid, RmidByAnyoneGivesTheCreatorRoomBack) {
  Registry r(per_uid(1));
  const int a = create(r, alice());
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  ASSERT_EQ(answer(rmid(r, root(), a)), Errc::ok);  // removed by someone else
  EXPECT_EQ(r.queues_created_by(alice().uid), 0u);
  EXPECT_TRUE(r.msgget(alice(), kIpcPrivate, 0600, at(kLater)).ok());
}

TEST(QueuesPerUid, CountedByCreatorNotByOwner) {
  // IPC_SET hands the queue to bob (uid), but alice stays its creator (cuid): the
  // queue still counts for alice, and bob's room is untouched.
  Registry r(per_uid(1));
  const int a = create(r, alice());
  MsqidSet s = set_of(stat(r, a));
  s.uid = bob().uid;
  ASSERT_EQ(answer(ipc_set(r, alice(), a, s)), Errc::ok);
  EXPECT_EQ(stat(r, a).uid, bob().uid);
  EXPECT_EQ(stat(r, a).cuid, alice().uid);
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  EXPECT_TRUE(r.msgget(bob(), kIpcPrivate, 0600, at(kLater)).ok());
  // bob, the owner now, removes it: alice's room comes back.
  ASSERT_EQ(answer(rmid(r, bob(), a)), Errc::ok);
  EXPECT_TRUE(r.msgget(alice(), kIpcPrivate, 0600, at(kLater)).ok());
}

TEST(QueuesPerUid, ZeroMeansNoCapAndANewCapAppliesToLaterCreationsOnly) {
  Registry r;  // default: no cap
  EXPECT_EQ(r.limits().max_queues_per_uid, 0u);
  for (int i = 0; i < 5; ++i) create(r, alice());
  r.set_limits(per_uid(3));
  EXPECT_EQ(r.queue_count(), 5u) << "nothing is removed";
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  r.set_limits(per_uid(6));
  EXPECT_TRUE(r.msgget(alice(), kIpcPrivate, 0600, at(kLater)).ok());
  EXPECT_EQ(answer(r.msgget(alice(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
}

TEST(QueuesPerUid, MsgmniStillCapsEveryoneTogether) {
  proto::Limits l = per_uid(5);
  l.msgmni = 2;
  Registry r(l);
  create(r, alice());
  create(r, bob());
  EXPECT_EQ(answer(r.msgget(carol(), kIpcPrivate, 0600, at(kLater))), Errc::enospc);
  EXPECT_EQ(r.queues_created_by(carol().uid), 0u) << "a refused create counts nothing";
}

}  // namespace
}  // namespace sysvmq::core::test
