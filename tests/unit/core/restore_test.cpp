// SEMANTICS.md 8.3: a received message whose receiver vanished before its reply left the
// daemon goes back — to a parked receiver that matches, else to the head of its queue.
#include <gtest/gtest.h>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core {
namespace {

using namespace sysvmq::core::test;

TEST(Restore, Rule8_3_GoesBackToTheHeadWithCountsRestored) {
  Registry r;
  const int id = create(r, alice());
  ASSERT_TRUE(send(r, alice(), id, 1, "first").ok());
  ASSERT_TRUE(send(r, alice(), id, 2, "second").ok());
  auto got = recv(r, bob(), id, 100, 0, proto::kIpcNowait);
  ASSERT_TRUE(got.ok());
  r.restore(id, Message{got.value().mtype, std::move(got.value().text)}, at(kLater));
  EXPECT_EQ(r.find(id)->qnum(), 2u);
  EXPECT_EQ(r.find(id)->cbytes(), 11u);
  EXPECT_EQ(r.usage().queued_messages, 2u);
  EXPECT_EQ(r.usage().queued_bytes, 11u);
  // The restored message is the oldest again.
  auto again = recv(r, bob(), id, 100, 0, proto::kIpcNowait);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(str(again.value().text), "first");
}

TEST(Restore, Rule3_8_AParkedReceiverThatMatchesTakesItInstead) {
  Registry r;
  const int id = create(r, alice());
  auto parked = recv(r, bob(), id, 100, 7);  // parks: nothing of type 7
  ASSERT_TRUE(parked.parked());
  r.restore(id, Message{7, bytes("back")}, at(kLater));
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, parked.waiter());
  ASSERT_TRUE(done[0].received.has_value());
  EXPECT_EQ(str(done[0].received->text), "back");
  EXPECT_EQ(r.find(id)->qnum(), 0u) << "handed over, never queued";
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Restore, ADeadQueueDropsIt) {
  Registry r;
  const int id = create(r, alice());
  ASSERT_TRUE(r.msgctl(alice(), MsgctlArgs{id, proto::kIpcRmid, {}, false}, at(kLater)).ok());
  r.restore(id, Message{1, bytes("late")}, at(kLater));
  EXPECT_EQ(r.queue_count(), 0u);
  EXPECT_EQ(r.usage().queued_messages, 0u);
  EXPECT_EQ(r.usage().queued_bytes, 0u);
}

}  // namespace
}  // namespace sysvmq::core
