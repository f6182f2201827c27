// msgsnd_test.cpp: SEMANTICS.md section 2 — msgsnd's check order, the fit rule, hand-off
// versus enqueue, and the daemon's quota, against core::Registry.
// Not here: parked senders' wake order and RMID/IPC_SET wake-ups (waiters_test.cpp),
// the full field table (fields_test.cpp).

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcNowait;

MsgsndArgs args_of(int id, std::int64_t mtype, std::int64_t msgsz, Bytes text, bool fault = false) {
  return MsgsndArgs{id, mtype, msgsz, kIpcNowait, std::move(text), fault};
}

// ---- Rule 2.1: check order ----

TEST(Msgsnd, Rule2_1_MsgszAboveMsgmaxIsEinval) {
  Registry r;
  const int id = create(r, alice());
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(8193), kIpcNowait)), Errc::einval);
  EXPECT_EQ(stat(r, id).qnum, 0u);
}

TEST(Msgsnd, Rule2_1_NegativeMsgszIsEinval) {
  Registry r;
  const int id = create(r, alice());
  EXPECT_EQ(answer(r.msgsnd(alice(), args_of(id, 1, -1, {}), at(kLater))), Errc::einval);
}

TEST(Msgsnd, Rule2_1_NegativeMsqidIsEinval) {
  Registry r;
  create(r, alice());
  EXPECT_EQ(answer(send(r, alice(), -1, 1, "x", kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(send(r, alice(), std::numeric_limits<int>::min(), 1, "x", kIpcNowait)),
            Errc::einval);
}

TEST(Msgsnd, Rule2_1_MsgszEinvalWinsOverEacces) {
  Registry r;
  const int id = create(r, root(), 0);
  EXPECT_EQ(answer(send(r, nobody(), id, 1, text_of(8193), kIpcNowait)), Errc::einval);
  EXPECT_EQ(answer(r.msgsnd(nobody(), args_of(id, 1, -1, {}), at(kLater))), Errc::einval);
}

TEST(Msgsnd, Rule2_1_MtypeBelowOneIsEinvalAndWinsOverEacces) {
  Registry r;
  const int open = create(r, alice(), 0600);
  const int closed = create(r, root(), 0);
  for (std::int64_t mtype :
       {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min()}) {
    EXPECT_EQ(answer(send(r, alice(), open, mtype, "x", kIpcNowait)), Errc::einval) << mtype;
    EXPECT_EQ(answer(send(r, nobody(), closed, mtype, "x", kIpcNowait)), Errc::einval) << mtype;
  }
  EXPECT_EQ(stat(r, open).qnum, 0u);
}

TEST(Msgsnd, Rule2_1_TextFaultComesAfterSizeAndMtypeChecks) {
  Registry r;
  const int id = create(r, alice());
  EXPECT_EQ(answer(r.msgsnd(alice(), args_of(id, 1, 8193, {}, true), at(kLater))), Errc::einval);
  EXPECT_EQ(answer(r.msgsnd(alice(), args_of(id, 0, 3, {}, true), at(kLater))), Errc::einval);
  EXPECT_EQ(answer(r.msgsnd(alice(), args_of(id, 1, 3, {}, true), at(kLater))), Errc::efault);
}

TEST(Msgsnd, Rule2_1_TextFaultComesBeforeLookupAndPermission) {
  Registry r;
  const int closed = create(r, root(), 0);
  EXPECT_EQ(answer(r.msgsnd(alice(), args_of(77, 1, 3, {}, true), at(kLater))), Errc::efault);
  EXPECT_EQ(answer(r.msgsnd(nobody(), args_of(closed, 1, 3, {}, true), at(kLater))), Errc::efault);
}

TEST(Msgsnd, Rule2_1_TextThatCannotBeCarriedIsEnomemAtStep4) {
  Registry r;
  const int closed = create(r, root(), 0);
  MsgsndArgs a = args_of(77, 1, 3, {});
  a.text_too_large = true;
  EXPECT_EQ(answer(r.msgsnd(alice(), a, at(kLater))), Errc::enomem);  // before the lookup
  a.msqid = closed;
  EXPECT_EQ(answer(r.msgsnd(nobody(), a, at(kLater))), Errc::enomem);  // before EACCES
  a.mtype = 0;
  EXPECT_EQ(answer(r.msgsnd(nobody(), a, at(kLater))), Errc::einval);  // after step 3
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Msgsnd, Rule2_1_BadIdAfterValidArgumentsIsEinval) {
  Registry r;
  EXPECT_EQ(answer(send(r, alice(), 3, 1, "x", kIpcNowait)), Errc::einval);
}

TEST(Msgsnd, Rule2_1_EaccesWithoutWritePermission) {
  Registry r;
  const int id = create(r, root(), 0644);
  EXPECT_EQ(answer(send(r, nobody(), id, 1, "x", kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(send(r, nobody(), id, 1, "x", 0)), Errc::eacces);  // never parks
  EXPECT_EQ(r.parked_count(), 0u);
  EXPECT_EQ(stat(r, id).qnum, 0u);
}

TEST(Msgsnd, Rule2_1_EaccesWinsOverFullQueue) {
  Registry r(limits_with_msgmnb(4));
  const int id = create(r, root(), 0644);
  ASSERT_EQ(answer(send(r, root(), id, 1, "full", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(send(r, nobody(), id, 1, "x", kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(send(r, nobody(), id, 1, "x", 0)), Errc::eacces);
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Msgsnd, Rule2_1_FullQueueWithNowaitIsEagainWithoutNowaitParks) {
  Registry r(limits_with_msgmnb(4));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "full", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "x", kIpcNowait)), Errc::eagain);
  EXPECT_EQ(r.parked_count(), 0u);
  auto parked = send(r, alice(), id, 1, "x", 0);
  EXPECT_TRUE(parked.parked());
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_EQ(r.find(id)->parked_senders(), 1u);
  EXPECT_EQ(stat(r, id).qnum, 1u);  // the parked message is not in the queue
}

// ---- Rule 2.2: mtype is signed 64-bit; zero-length messages are real ----

TEST(Msgsnd, Rule2_2_MtypeIsStoredAsSigned64Bit) {
  Registry r;
  const int id = create(r, alice());
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  ASSERT_EQ(answer(send(r, alice(), id, big, "a", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, std::int64_t{1} << 40, "b", kIpcNowait)), Errc::ok);
  auto first = recv(r, alice(), id, 10, 0, kIpcNowait);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.value().mtype, big);
  auto second = recv(r, alice(), id, 10, std::int64_t{1} << 40, kIpcNowait);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.value().mtype, std::int64_t{1} << 40);
}

TEST(Msgsnd, Rule2_2_ZeroLengthMessageIsARealMessage) {
  Registry r;
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 7, "", kIpcNowait)), Errc::ok);
  MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 0u);
  auto got = recv(r, alice(), id, 0, 0, kIpcNowait);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().mtype, 7);
  EXPECT_TRUE(got.value().text.empty());
  EXPECT_EQ(stat(r, id).qnum, 0u);
}

// ---- Rule 2.3: the fit rule ----

TEST(Msgsnd, Rule2_3_BytesMustFitInQbytes) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(6), kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(5), kIpcNowait)), Errc::eagain);
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(4), kIpcNowait)), Errc::ok);  // exactly full
  EXPECT_EQ(stat(r, id).cbytes, 10u);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::ok);  // 3 <= 10 messages
  EXPECT_EQ(answer(send(r, alice(), id, 1, "x", kIpcNowait)), Errc::eagain);
}

TEST(Msgsnd, Rule2_3_QbytesAlsoCapsMessageCount) {
  Registry r(limits_with_msgmnb(5));
  const int id = create(r, alice());
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::ok) << i;
  EXPECT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::eagain);
  EXPECT_EQ(stat(r, id).qnum, 5u);
  EXPECT_EQ(stat(r, id).cbytes, 0u);
}

TEST(Msgsnd, Rule2_3_QbytesZeroFitsNothing) {
  Registry r(limits_with_msgmnb(0));
  const int id = create(r, alice());
  EXPECT_EQ(stat(r, id).qbytes, 0u);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::eagain);
}

// ---- Rule 2.4: bigger than msg_qbytes but within msgmax ----

TEST(Msgsnd, Rule2_4_LargerThanQbytesIsEagainNotEinval) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  EXPECT_EQ(answer(send(r, alice(), id, 1, text_of(11), kIpcNowait)), Errc::eagain);
}

TEST(Msgsnd, Rule2_4_LargerThanQbytesParksUntilIpcSetRaisesIt) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  const WaiterId w = parked_id(send(r, alice(), id, 1, text_of(11), 0));
  set_qbytes(r, id, 10);  // unchanged: still does not fit
  EXPECT_TRUE(r.take_completions().empty());
  set_qbytes(r, id, 11);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, w);
  EXPECT_EQ(done[0].error, Errc::ok);
  EXPECT_EQ(stat(r, id).cbytes, 11u);
}

TEST(Msgsnd, Rule2_4_LargerThanQbytesParksUntilRmid) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  const WaiterId w = parked_id(send(r, alice(), id, 1, text_of(11), 0));
  ASSERT_EQ(answer(rmid(r, alice(), id)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, w);
  EXPECT_EQ(done[0].error, Errc::eidrm);
}

// ---- Rule 2.5: the fit rule comes first, even with a parked receiver ----

TEST(Msgsnd, Rule2_5_FitRuleComesBeforeHandOff) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(10), kIpcNowait)), Errc::ok);  // full of type 1
  const WaiterId receiver = parked_id(recv(r, bob(), id, 100, 2, 0));
  EXPECT_EQ(answer(send(r, alice(), id, 2, "y", kIpcNowait)), Errc::eagain);
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(r.parked_count(), 1u);
  // A 0-byte message fits (10 + 0 <= 10 bytes, 2 <= 10 messages) and is handed over.
  EXPECT_EQ(answer(send(r, alice(), id, 2, "", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, receiver);
  EXPECT_EQ(done[0].error, Errc::ok);
  ASSERT_TRUE(done[0].received);
  EXPECT_EQ(done[0].received->mtype, 2);
  EXPECT_EQ(stat(r, id).qnum, 1u);
}

// ---- Rule 2.6: no fairness for newcomers ----

TEST(Msgsnd, Rule2_6_NewcomerThatFitsGoesAheadOfParkedSenders) {
  Registry r(limits_with_msgmnb(60));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(20), kIpcNowait)), Errc::ok);
  const WaiterId big = parked_id(send(r, bob(), id, 1, text_of(50), 0));
  EXPECT_EQ(answer(send(r, carol(), id, 1, text_of(10), kIpcNowait)), Errc::ok);
  EXPECT_EQ(stat(r, id).cbytes, 30u);
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_TRUE(r.cancel(big));
}

// ---- Rule 2.7: hand-off or enqueue ----

TEST(Msgsnd, Rule2_7_HandOffLeavesQnumAndCbytesAlone) {
  Registry r;
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 5, "queued", kIpcNowait)), Errc::ok);
  const WaiterId w = parked_id(recv(r, bob(), id, 100, 6, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 6, "direct", kIpcNowait)), Errc::ok);
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 6u);
  EXPECT_EQ(ds.lrpid, bob().process.host_pid);
  EXPECT_EQ(ds.rtime, kLater);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, w);
  ASSERT_TRUE(done[0].received);
  EXPECT_EQ(str(done[0].received->text), "direct");
  EXPECT_EQ(r.usage().queued_messages, 1u);
  EXPECT_EQ(r.usage().queued_bytes, 6u);
}

TEST(Msgsnd, Rule2_7_WithoutAMatchingReceiverTheMessageIsAppended) {
  Registry r;
  const int id = create(r, alice());
  parked_id(recv(r, bob(), id, 100, 9, 0));  // wants type 9 only
  ASSERT_EQ(answer(send(r, alice(), id, 1, "first", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 2, "second", kIpcNowait)), Errc::ok);
  EXPECT_TRUE(r.take_completions().empty());
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 2u);
  EXPECT_EQ(ds.cbytes, 11u);
  EXPECT_EQ(ds.lrpid, 0);
  auto p0 = peek(r, id, 0);
  auto p1 = peek(r, id, 1);
  ASSERT_TRUE(p0.ok());
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(str(p0.value().text), "first");
  EXPECT_EQ(str(p1.value().text), "second");
}

// ---- Rule 2.8: msg_stime and msg_lspid, queued or handed over ----

TEST(Msgsnd, Rule2_8_SuccessSetsStimeAndLspidButNotCtime) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(100));
  ASSERT_EQ(answer(send(r, bob(), id, 1, "q", kIpcNowait, at(200))), Errc::ok);
  MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.stime, 200);
  EXPECT_EQ(ds.lspid, bob().process.host_pid);
  EXPECT_EQ(ds.ctime, 100);
  parked_id(recv(r, alice(), id, 10, 2, 0, at(250)));
  ASSERT_EQ(answer(send(r, carol(), id, 2, "h", kIpcNowait, at(300))), Errc::ok);
  ds = stat(r, id);
  EXPECT_EQ(ds.stime, 300);
  EXPECT_EQ(ds.lspid, carol().process.host_pid);
  EXPECT_EQ(ds.ctime, 100);
}

TEST(Msgsnd, Rule2_8_FailedSendChangesNothing) {
  Registry r(limits_with_msgmnb(1));
  const int id = create(r, alice(), 0644, proto::kIpcPrivate, at(100));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "x", kIpcNowait, at(200))), Errc::ok);
  const MsqidDs before = stat(r, id);
  EXPECT_EQ(answer(send(r, alice(), id, 1, "y", kIpcNowait, at(300))), Errc::eagain);
  EXPECT_EQ(answer(send(r, bob(), id, 1, "y", kIpcNowait, at(300))), Errc::eacces);
  EXPECT_EQ(stat(r, id), before);
}

// ---- Rule 2.9: a send never wakes parked senders ----

TEST(Msgsnd, Rule2_9_SendsDoNotWakeParkedSenders) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(5), kIpcNowait)), Errc::ok);
  parked_id(send(r, bob(), id, 1, text_of(8), 0));
  parked_id(recv(r, carol(), id, 100, 3, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 3, text_of(4), kIpcNowait)), Errc::ok);  // handed over
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(4), kIpcNowait)), Errc::ok);  // enqueued
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);  // the receiver only
  EXPECT_TRUE(done[0].received);
  EXPECT_EQ(r.find(id)->parked_senders(), 1u);
}

// ---- Rule 2.13: the daemon's quota answers ENOMEM and never parks ----

TEST(Msgsnd, Rule2_13_QuotaRefusalIsEnomemAndNeverParks) {
  proto::Limits l;
  l.max_queued_bytes = 10;
  Registry r(l);
  const int a = create(r, alice());
  const int b = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), a, 1, text_of(8), kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(send(r, alice(), b, 1, text_of(5), 0)), Errc::enomem);
  EXPECT_EQ(answer(send(r, alice(), b, 1, text_of(5), kIpcNowait)), Errc::enomem);
  EXPECT_EQ(r.parked_count(), 0u);
  EXPECT_EQ(stat(r, b).qnum, 0u);
  EXPECT_EQ(stat(r, b).stime, 0);
  EXPECT_EQ(answer(send(r, alice(), b, 1, text_of(2), kIpcNowait)), Errc::ok);
}

TEST(Msgsnd, Rule2_13_HandOffIsNotSubjectToTheQuota) {
  proto::Limits l;
  l.max_queued_bytes = 4;
  Registry r(l);
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(4), kIpcNowait)), Errc::ok);
  const WaiterId w = parked_id(recv(r, bob(), id, 100, 2, 0));
  EXPECT_EQ(answer(send(r, alice(), id, 2, text_of(6), kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, w);
}

TEST(Msgsnd, Rule2_13_WokenSenderRefusedByQuotaGetsEnomem) {
  proto::Limits l;
  l.msgmnb = 10;
  l.max_queued_bytes = 15;
  Registry r(l);
  const int a = create(r, alice());
  const int b = create(r, alice());
  set_qbytes(r, b, 100);
  ASSERT_EQ(answer(send(r, alice(), a, 1, text_of(3), kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), b, 1, text_of(12), kIpcNowait)), Errc::ok);  // quota full
  const WaiterId w = parked_id(send(r, alice(), a, 1, text_of(8), 0));           // 3 + 8 > 10
  ASSERT_TRUE(recv(r, alice(), a, 100, 0, kIpcNowait).ok());  // fits now; quota 12 + 8 > 15
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].waiter, w);
  EXPECT_EQ(done[0].error, Errc::enomem);
  EXPECT_EQ(r.parked_count(), 0u);
  EXPECT_EQ(stat(r, a).qnum, 0u);
}

}  // namespace
}  // namespace sysvmq::core::test
