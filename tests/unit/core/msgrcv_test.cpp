// msgrcv_test.cpp: SEMANTICS.md section 3 (not the parked-receiver rules) — msgrcv's
// check order, the selector table, MSG_NOERROR/E2BIG, MSG_COPY and message order,
// against core::Registry.
// Not here: parked receivers, hand-off order, E2BIG pass-on (waiters_test.cpp).

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcNowait;
using proto::kMsgCopy;
using proto::kMsgExcept;
using proto::kMsgNoerror;

constexpr std::int64_t kLongMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kLongMax = std::numeric_limits<std::int64_t>::max();

// A queue holding messages of these (mtype, text) in order.
int queue_with(Registry& r, const std::vector<std::pair<std::int64_t, std::string>>& msgs) {
  const int id = create(r, alice());
  for (const auto& [mtype, text] : msgs)
    EXPECT_EQ(answer(send(r, alice(), id, mtype, text, kIpcNowait)), Errc::ok);
  return id;
}

// The text of the message msgrcv(msgtyp, flags) takes, or "" plus a failure.
std::string take(Registry& r, int id, std::int64_t msgtyp, int msgflg = 0) {
  auto o = recv(r, alice(), id, 1000, msgtyp, msgflg | kIpcNowait);
  if (!o.ok()) {
    ADD_FAILURE() << "msgrcv(" << msgtyp << ") failed: " << proto::errc_name(answer(o));
    return "";
  }
  return str(o.value().text);
}

// ---- Rule 3.1: check order ----

TEST(Msgrcv, Rule3_1_NegativeMsqidIsEinval) {
  Registry r;
  create(r, alice());
  EXPECT_EQ(answer(recv(r, alice(), -1, 10, 0, kIpcNowait)), Errc::einval);
}

TEST(Msgrcv, Rule3_1_NegativeMsgszIsEinvalAndWinsOverEacces) {
  Registry r;
  const int open = create(r, alice());
  const int closed = create(r, root(), 0);
  EXPECT_EQ(answer(recv(r, alice(), open, -1, 0, kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(recv(r, nobody(), closed, -1, 0, kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(recv(r, alice(), open, -1, 0, 0)), Errc::einval);  // never parks
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Msgrcv, Rule3_1_MsgCopyWithMsgExceptIsEinvalBeforeLookupAndPermission) {
  Registry r;
  const int closed = create(r, root(), 0);
  EXPECT_EQ(answer(recv(r, nobody(), closed, 10, 0, kMsgCopy | kMsgExcept | kIpcNowait)),
            Errc::einval);
  EXPECT_EQ(answer(recv(r, nobody(), 99, 10, 0, kMsgCopy | kMsgExcept | kIpcNowait)), Errc::einval);
}

TEST(Msgrcv, Rule3_1_MsgCopyWithoutIpcNowaitIsEinvalBeforePermission) {
  Registry r;
  const int closed = create(r, root(), 0);
  EXPECT_EQ(answer(recv(r, nobody(), closed, 10, 0, kMsgCopy)), Errc::einval);
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Msgrcv, Rule3_1_BadIdIsEinval) {
  Registry r;
  EXPECT_EQ(answer(recv(r, alice(), 12, 10, 0, kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(recv(r, alice(), 12, 10, 0, 0)), Errc::einval);
}

TEST(Msgrcv, Rule3_1_EaccesEvenOnAnEmptyQueueWithIpcNowait) {
  Registry r;
  const int id = create(r, root(), 0622);
  EXPECT_EQ(answer(recv(r, nobody(), id, 10, 0, kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(recv(r, nobody(), id, 10, 0, 0)), Errc::eacces);  // and does not park
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Msgrcv, Rule3_1_EaccesWinsOverE2big) {
  Registry r;
  const int id = create(r, root(), 0622);
  ASSERT_EQ(answer(send(r, nobody(), id, 1, "too long", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(recv(r, nobody(), id, 1, 0, kIpcNowait)), Errc::eacces);
}

TEST(Msgrcv, Rule3_1_E2bigLeavesTheMessageAndUpdatesNothing) {
  Registry r;
  const int id = queue_with(r, {{1, "0123456789"}});
  const MsqidDs before = stat(r, id);
  EXPECT_EQ(answer(recv(r, bob(), id, 9, 0, kIpcNowait, at(5000))), Errc::e2big);
  EXPECT_EQ(answer(recv(r, bob(), id, 9, 0, 0, at(5000))), Errc::e2big);  // does not park
  EXPECT_EQ(r.parked_count(), 0u);
  EXPECT_EQ(stat(r, id), before);  // qnum, cbytes, rtime, lrpid unchanged
  EXPECT_EQ(take(r, id, 0), "0123456789");
}

TEST(Msgrcv, Rule3_1_NothingSelectedWithIpcNowaitIsEnomsg) {
  Registry r;
  const int id = queue_with(r, {{1, "a"}});
  EXPECT_EQ(answer(recv(r, alice(), id, 10, 2, kIpcNowait)), Errc::enomsg);
  const int empty = create(r, alice());
  EXPECT_EQ(answer(recv(r, alice(), empty, 10, 0, kIpcNowait)), Errc::enomsg);
  EXPECT_EQ(stat(r, id).qnum, 1u);
}

TEST(Msgrcv, Rule3_1_NothingSelectedWithoutIpcNowaitParks) {
  Registry r;
  const int id = queue_with(r, {{1, "a"}});
  auto o = recv(r, alice(), id, 10, 2, 0);
  EXPECT_TRUE(o.parked());
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_EQ(r.find(id)->parked_receivers(), 1u);
}

// ---- Rule 3.2: msgsz ----

TEST(Msgrcv, Rule3_2_MsgszMayExceedMsgmax) {
  Registry r;
  const int id = queue_with(r, {{1, "abc"}});
  auto o = recv(r, alice(), id, std::int64_t{1} << 40, 0, kIpcNowait);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(str(o.value().text), "abc");
}

TEST(Msgrcv, Rule3_2_MsgszZeroReceivesZeroLengthMessages) {
  Registry r;
  const int id = queue_with(r, {{4, ""}, {5, "x"}});
  auto o = recv(r, alice(), id, 0, 0, kIpcNowait);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value().mtype, 4);
  EXPECT_TRUE(o.value().text.empty());
  EXPECT_EQ(answer(recv(r, alice(), id, 0, 0, kIpcNowait)), Errc::e2big);
}

// ---- Rule 3.3: the selector table ----

TEST(Msgrcv, Rule3_3_TypeZeroTakesTheOldest) {
  Registry r;
  const int id = queue_with(r, {{3, "a"}, {1, "b"}, {2, "c"}});
  EXPECT_EQ(take(r, id, 0), "a");
  EXPECT_EQ(take(r, id, 0), "b");
  EXPECT_EQ(take(r, id, 0), "c");
}

TEST(Msgrcv, Rule3_3_TypeZeroIgnoresMsgExcept) {
  Registry r;
  const int id = queue_with(r, {{3, "a"}, {1, "b"}});
  EXPECT_EQ(take(r, id, 0, kMsgExcept), "a");
}

TEST(Msgrcv, Rule3_3_PositiveTypeTakesTheOldestOfThatType) {
  Registry r;
  const int id = queue_with(r, {{1, "a"}, {2, "b"}, {1, "c"}, {2, "d"}});
  EXPECT_EQ(take(r, id, 2), "b");
  EXPECT_EQ(take(r, id, 2), "d");
  EXPECT_EQ(answer(recv(r, alice(), id, 10, 2, kIpcNowait)), Errc::enomsg);
}

TEST(Msgrcv, Rule3_3_PositiveTypeWithMsgExceptTakesTheOldestOfAnotherType) {
  Registry r;
  const int id = queue_with(r, {{1, "a"}, {1, "b"}, {3, "c"}, {2, "d"}});
  EXPECT_EQ(take(r, id, 1, kMsgExcept), "c");
  EXPECT_EQ(take(r, id, 1, kMsgExcept), "d");
  EXPECT_EQ(answer(recv(r, alice(), id, 10, 1, kMsgExcept | kIpcNowait)), Errc::enomsg);
}

TEST(Msgrcv, Rule3_3_NegativeTypeTakesTheSmallestTypeAtMostAbs) {
  Registry r;
  const int id = queue_with(r, {{5, "five"}, {3, "three"}, {4, "four"}, {1, "one"}});
  EXPECT_EQ(take(r, id, -4), "one");
  EXPECT_EQ(take(r, id, -4), "three");
  EXPECT_EQ(take(r, id, -4), "four");
  EXPECT_EQ(answer(recv(r, alice(), id, 10, -4, kIpcNowait)), Errc::enomsg);  // 5 > 4
  EXPECT_EQ(take(r, id, -5), "five");
}

TEST(Msgrcv, Rule3_3_NegativeTypeTakesTheOldestAmongEquals) {
  Registry r;
  const int id = queue_with(r, {{3, "a"}, {2, "b"}, {2, "c"}, {3, "d"}});
  EXPECT_EQ(take(r, id, -3), "b");
  EXPECT_EQ(take(r, id, -3), "c");
  EXPECT_EQ(take(r, id, -3), "a");
  EXPECT_EQ(take(r, id, -3), "d");
}

TEST(Msgrcv, Rule3_3_NegativeTypeIncludesTheEqualType) {
  Registry r;  // LTP msgrcv08: msgtyp -121 finds a message of type 121
  const int id = queue_with(r, {{122, "no"}, {121, "yes"}});
  EXPECT_EQ(take(r, id, -121, kMsgNoerror), "yes");
}

TEST(Msgrcv, Rule3_3_NegativeTypeIgnoresMsgExcept) {
  Registry r;
  const int id = queue_with(r, {{2, "two"}, {1, "one"}});
  EXPECT_EQ(take(r, id, -2, kMsgExcept), "one");
}

TEST(Msgrcv, Rule3_3_LongMinMeansTheSmallestTypePresent) {
  Registry r;
  const int id = queue_with(r, {{kLongMax, "max"}, {7, "seven"}, {kLongMax - 1, "big"}});
  EXPECT_EQ(take(r, id, kLongMin), "seven");
  EXPECT_EQ(take(r, id, kLongMin), "big");
  EXPECT_EQ(take(r, id, kLongMin), "max");
}

TEST(Msgrcv, Rule3_3_LongMaxAsNegativeLimitTakesEveryType) {
  Registry r;
  const int id = queue_with(r, {{kLongMax, "max"}});
  EXPECT_EQ(take(r, id, -kLongMax), "max");
}

// ---- Rule 3.4: success ----

TEST(Msgrcv, Rule3_4_SuccessReturnsTypeAndTextAndUpdatesTheQueue) {
  Registry r;
  const int id = queue_with(r, {{9, "hello"}, {8, "world!"}});
  auto o = recv(r, bob(), id, 100, 0, kIpcNowait, at(3000));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value().mtype, 9);
  EXPECT_EQ(str(o.value().text), "hello");
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 6u);
  EXPECT_EQ(ds.rtime, 3000);
  EXPECT_EQ(ds.lrpid, bob().process.host_pid);
  EXPECT_EQ(r.usage().queued_messages, 1u);
  EXPECT_EQ(r.usage().queued_bytes, 6u);
}

TEST(Msgrcv, Rule3_4_MsgNoerrorTruncatesAndDiscardsTheRest) {
  Registry r;
  const int id = queue_with(r, {{1, "abcdefghij"}});
  auto o = recv(r, alice(), id, 4, 0, kMsgNoerror | kIpcNowait);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(str(o.value().text), "abcd");  // n = min(msgsz, length)
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 0u);
  EXPECT_EQ(ds.cbytes, 0u);  // the whole length leaves
  EXPECT_EQ(r.usage().queued_bytes, 0u);
}

TEST(Msgrcv, Rule3_4_MsgNoerrorDoesNotPadShortMessages) {
  Registry r;
  const int id = queue_with(r, {{1, "ab"}});
  auto o = recv(r, alice(), id, 100, 0, kMsgNoerror | kIpcNowait);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value().text.size(), 2u);
}

// ---- Rule 3.5: MSG_COPY ----

TEST(Msgrcv, Rule3_5_MsgCopyPositionCountsEveryMessage) {
  Registry r;
  const int id = queue_with(r, {{5, "a"}, {6, "b"}, {7, "c"}});
  const int flg = kMsgCopy | kIpcNowait;
  for (std::int64_t pos = 0; pos < 3; ++pos) {
    auto o = recv(r, alice(), id, 10, pos, flg);
    ASSERT_TRUE(o.ok()) << pos;
    EXPECT_EQ(o.value().mtype, 5 + pos);
    EXPECT_EQ(str(o.value().text), std::string(1, static_cast<char>('a' + pos)));
  }
}

TEST(Msgrcv, Rule3_5_MsgCopyOutOfRangePositionIsEnomsg) {
  Registry r;
  const int id = queue_with(r, {{1, "a"}, {1, "b"}});
  const int flg = kMsgCopy | kIpcNowait;
  EXPECT_EQ(answer(recv(r, alice(), id, 10, -1, flg)), Errc::enomsg);
  EXPECT_EQ(answer(recv(r, alice(), id, 10, kLongMin, flg)), Errc::enomsg);
  EXPECT_EQ(answer(recv(r, alice(), id, 10, 2, flg)), Errc::enomsg);
  const int empty = create(r, alice());
  EXPECT_EQ(answer(recv(r, alice(), empty, 10, 0, flg)), Errc::enomsg);
  EXPECT_EQ(r.parked_count(), 0u);  // never parks
}

TEST(Msgrcv, Rule3_5_MsgCopyTooLongIsE2bigWithoutNoerrorAndEinvalWithIt) {
  Registry r;
  const int id = queue_with(r, {{1, "abcdef"}});
  EXPECT_EQ(answer(recv(r, alice(), id, 5, 0, kMsgCopy | kIpcNowait)), Errc::e2big);
  EXPECT_EQ(answer(recv(r, alice(), id, 5, 0, kMsgCopy | kMsgNoerror | kIpcNowait)), Errc::einval);
  EXPECT_EQ(stat(r, id).qnum, 1u);
}

TEST(Msgrcv, Rule3_5_MsgCopyReturnsTheFullMessageAndLeavesEverything) {
  Registry r;
  const int id = queue_with(r, {{1, "first"}, {2, "second"}});
  const MsqidDs before = stat(r, id);
  auto o = recv(r, bob(), id, 6, 1, kMsgCopy | kMsgNoerror | kIpcNowait, at(7000));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value().mtype, 2);
  EXPECT_EQ(str(o.value().text), "second");
  EXPECT_EQ(stat(r, id), before);  // qnum, cbytes, rtime, lrpid unchanged
  EXPECT_EQ(take(r, id, 0), "first");
  EXPECT_EQ(take(r, id, 0), "second");
}

TEST(Msgrcv, Rule3_5_MsgCopyDoesNotWakeSenders) {
  Registry r(limits_with_msgmnb(5));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "12345", kIpcNowait)), Errc::ok);
  parked_id(send(r, alice(), id, 1, "x", 0));
  ASSERT_TRUE(recv(r, alice(), id, 10, 0, kMsgCopy | kIpcNowait).ok());
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(r.find(id)->parked_senders(), 1u);
}

TEST(Msgrcv, Rule3_5_MsgCopyMsgszAboveMsgmaxIsFine) {
  Registry r;
  const int id = queue_with(r, {{1, "abc"}});
  auto o = recv(r, alice(), id, std::int64_t{1} << 40, 0, kMsgCopy | kIpcNowait);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.value().text.size(), 3u);
}

TEST(Msgrcv, Rule3_5_MsgCopyNeedsReadPermission) {
  Registry r;
  const int id = create(r, root(), 0622);
  ASSERT_EQ(answer(send(r, nobody(), id, 1, "a", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(recv(r, nobody(), id, 10, 0, kMsgCopy | kIpcNowait)), Errc::eacces);
}

// ---- Rule 3.6: messages are never reordered ----

TEST(Msgrcv, Rule3_6_TakingFromTheMiddleKeepsTheRestInSendOrder) {
  Registry r;
  const int id = queue_with(r, {{1, "a"}, {2, "b"}, {1, "c"}, {3, "d"}, {2, "e"}});
  EXPECT_EQ(take(r, id, 2), "b");
  EXPECT_EQ(take(r, id, -1), "a");
  const char* expected[] = {"c", "d", "e"};
  for (int pos = 0; pos < 3; ++pos) {
    auto o = peek(r, id, pos);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(str(o.value().text), expected[pos]);
  }
}

}  // namespace
}  // namespace sysvmq::core::test
