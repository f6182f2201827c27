// waiters_test.cpp: parked msgsnd/msgrcv calls — parking, the hand-off scan (Rules 2.7,
// 3.9, 3.10), the sender walk (Rule 2.10), IPC_SET and IPC_RMID wake-ups (Rules 2.11,
// 3.12, 4.4 step 7, 4.5), cancel (Rules 2.12, 3.11), Completions, parked_count and the
// invariant of Rule 3.8, against core::Registry.
// Not here: the non-parking halves of msgsnd/msgrcv (msgsnd_test.cpp, msgrcv_test.cpp).

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "daemon/core/selector.hpp"
#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcNowait;
using proto::kMsgCopy;
using proto::kMsgExcept;
using proto::kMsgNoerror;

// What a test expects of one Completion.
void expect_received(const Completion& c, WaiterId w, std::int64_t mtype, std::string_view text) {
  EXPECT_EQ(c.waiter, w);
  EXPECT_EQ(c.error, Errc::ok);
  ASSERT_TRUE(c.received) << "waiter " << w;
  EXPECT_EQ(c.received->mtype, mtype);
  EXPECT_EQ(str(c.received->text), text);
}
void expect_error(const Completion& c, WaiterId w, Errc e) {
  EXPECT_EQ(c.waiter, w);
  EXPECT_EQ(c.error, e);
  EXPECT_FALSE(c.received);
}

// A Caller in another process, for telling receivers apart in msg_lrpid.
Caller process(std::int32_t pid) { return user(1000, 1000, pid); }

// ---- Rule 3.7: parking ----

TEST(Waiters, Rule3_7_ReceiverParksWithoutChangingTheQueue) {
  Registry r;
  const int id = create(r, alice(), 0666, proto::kIpcPrivate, at(100));
  const MsqidDs before = stat(r, id);
  auto o = recv(r, bob(), id, 10, 0, 0, at(200));
  ASSERT_TRUE(o.parked());
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_EQ(r.find(id)->parked_receivers(), 1u);
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(stat(r, id), before);
}

TEST(Waiters, Rule3_7_ParkedReceiverKeepsItsLimit) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId strict = parked_id(recv(r, bob(), id, 3, 1, 0));
  const WaiterId lenient = parked_id(recv(r, bob(), id, 3, 2, kMsgNoerror));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "abcde", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 2, "vwxyz", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_error(done[0], strict, Errc::e2big);
  expect_received(done[1], lenient, 2, "vwx");
}

// ---- Rules 2.7 and 3.9: which parked receiver gets a message ----

TEST(Waiters, Rule3_9_FirstMatchingReceiverInParkingOrder_R1toR4) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId r1 = parked_id(recv(r, process(201), id, 100, 1, 0));
  const WaiterId r2 = parked_id(recv(r, process(202), id, 100, 0, 0));
  const WaiterId r3 = parked_id(recv(r, process(203), id, 100, 2, 0));
  const WaiterId r4 = parked_id(recv(r, process(204), id, 100, 1, 0));
  EXPECT_EQ(r.parked_count(), 4u);

  ASSERT_EQ(answer(send(r, alice(), id, 2, "two", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], r2, 2, "two");  // R2 (any) parked before R3 (type 2)
  EXPECT_EQ(stat(r, id).lrpid, 202);

  ASSERT_EQ(answer(send(r, alice(), id, 1, "one-a", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "one-b", kIpcNowait)), Errc::ok);
  done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_received(done[0], r1, 1, "one-a");
  expect_received(done[1], r4, 1, "one-b");
  EXPECT_EQ(stat(r, id).lrpid, 204);

  EXPECT_EQ(r.parked_count(), 1u);  // R3 keeps waiting
  EXPECT_EQ(stat(r, id).qnum, 0u);
  ASSERT_EQ(answer(send(r, alice(), id, 2, "late", kIpcNowait)), Errc::ok);
  done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], r3, 2, "late");
}

TEST(Waiters, Rule2_7_TheScanStopsAtTheReceiverThatTakesTheMessage) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId first = parked_id(recv(r, process(201), id, 100, 0, 0));
  const WaiterId second = parked_id(recv(r, process(202), id, 100, 0, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "m", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], first, 1, "m");
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_TRUE(r.cancel(second));
}

TEST(Waiters, Rule2_7_HandOffByNegativeTypeReceiver) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId w = parked_id(recv(r, bob(), id, 100, -3, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 4, "no", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 3, "yes", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], w, 3, "yes");
  EXPECT_EQ(stat(r, id).qnum, 1u);
}

TEST(Waiters, Rule2_7_HandOffByMsgExceptReceiver) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId w = parked_id(recv(r, bob(), id, 100, 1, kMsgExcept));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "no", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 2, "yes", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], w, 2, "yes");
}

// ---- Rule 3.10: E2BIG passes the message on ----

TEST(Waiters, Rule3_10_TooSmallReceiverGetsE2bigAndTheMessageMovesOn) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId small = parked_id(recv(r, process(201), id, 2, 1, 0, at(100)));
  const WaiterId large = parked_id(recv(r, process(202), id, 10, 1, 0, at(100)));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "12345", kIpcNowait, at(300))), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_error(done[0], small, Errc::e2big);
  expect_received(done[1], large, 1, "12345");
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.lrpid, 202);
  EXPECT_EQ(ds.rtime, 300);
  EXPECT_EQ(ds.qnum, 0u);
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Waiters, Rule3_10_RefusedByEveryReceiverTheMessageIsQueued) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId a = parked_id(recv(r, process(201), id, 2, 0, 0));
  const WaiterId b = parked_id(recv(r, process(202), id, 4, -9, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "12345", kIpcNowait, at(300))), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_error(done[0], a, Errc::e2big);
  expect_error(done[1], b, Errc::e2big);
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 5u);
  EXPECT_EQ(ds.rtime, 0);  // no msg_rtime / msg_lrpid for a refusal
  EXPECT_EQ(ds.lrpid, 0);
  EXPECT_EQ(ds.stime, 300);
}

TEST(Waiters, Rule3_10_MsgNoerrorReceiverGetsTheTruncatedText) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId w = parked_id(recv(r, bob(), id, 3, 0, kMsgNoerror));
  ASSERT_EQ(answer(send(r, alice(), id, 6, "abcdefgh", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], w, 6, "abc");
  EXPECT_EQ(stat(r, id).qnum, 0u);
  EXPECT_EQ(stat(r, id).cbytes, 0u);
}

TEST(Waiters, Rule3_10_ANonMatchingSmallReceiverIsNotRefused) {
  Registry r;
  const int id = create(r, alice());
  parked_id(recv(r, bob(), id, 1, 2, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "long text", kIpcNowait)), Errc::ok);
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(r.parked_count(), 1u);
}

TEST(Waiters, Rule2_10_AnE2bigRefusalDoesNotWakeSenders) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(8), kIpcNowait)), Errc::ok);
  const WaiterId sender = parked_id(send(r, alice(), id, 1, text_of(5), 0));
  const WaiterId receiver = parked_id(recv(r, bob(), id, 0, 2, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 2, "x", kIpcNowait)), Errc::ok);  // 8 + 1 <= 10
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], receiver, Errc::e2big);
  EXPECT_EQ(r.find(id)->parked_senders(), 1u);
  EXPECT_TRUE(r.cancel(sender));
}

// ---- Rule 3.8: the invariant ----

TEST(Waiters, Rule3_8_AReceiverNeverParksWhileAMatchingMessageIsQueued) {
  Registry r;
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "long text", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(recv(r, bob(), id, 2, 1, 0)), Errc::e2big);  // E2BIG, not parked
  EXPECT_EQ(r.parked_count(), 0u);
}

// A fixed pseudo-random mix of every operation on one queue. After each step: no parked
// receiver's selector matches a queued message (Rule 3.8), no parked sender's message
// fits (Rule 2.10: every event that makes room runs the walk), the counters agree with
// the contents, and parked_count agrees with what the test saw park and finish.
TEST(Waiters, Rule3_8_InvariantHoldsAcrossAMixOfOperations) {
  Registry r(limits_with_msgmnb(40));
  const int id = create(r, alice());
  std::mt19937 rng(20240611);  // mt19937's sequence is fixed by the standard
  auto pick = [&](std::uint32_t n) { return static_cast<std::int64_t>(rng() % n); };
  std::map<WaiterId, Selector> receivers;
  std::map<WaiterId, std::size_t> senders;  // message size
  std::map<WaiterId, std::int64_t> limits;  // receiver msgsz; -1 under MSG_NOERROR

  for (int step = 0; step < 20000; ++step) {
    const std::int64_t op = pick(100);
    if (op < 40) {
      const std::int64_t mtype = 1 + pick(4);
      const int flg = pick(2) ? kIpcNowait : 0;
      const auto size = static_cast<std::size_t>(pick(15));
      auto o = send(r, alice(), id, mtype, text_of(size), flg);
      if (o.parked()) senders[o.waiter()] = size;
    } else if (op < 80) {
      const std::int64_t msgtyp = pick(9) - 4;
      int flg = pick(2) ? kIpcNowait : 0;
      if (pick(4) == 0) flg |= kMsgExcept;
      if (pick(4) == 0) flg |= kMsgNoerror;
      const std::int64_t msgsz = pick(16);
      auto o = recv(r, bob(), id, msgsz, msgtyp, flg);
      if (o.parked()) {
        receivers.emplace(o.waiter(), Selector::from(msgtyp, flg));
        limits[o.waiter()] = (flg & kMsgNoerror) ? -1 : msgsz;
      }
    } else if (op < 85) {
      (void)recv(r, bob(), id, 100, pick(5), kMsgCopy | kIpcNowait);
    } else if (op < 92) {
      set_qbytes(r, id, static_cast<std::uint64_t>(pick(60)));
    } else if (!receivers.empty() || !senders.empty()) {
      WaiterId victim = 0;
      if (!receivers.empty() && (senders.empty() || pick(2))) {
        victim = receivers.begin()->first;
        receivers.erase(victim);
      } else {
        victim = senders.begin()->first;
        senders.erase(victim);
      }
      EXPECT_TRUE(r.cancel(victim));
    }
    for (const Completion& c : r.take_completions()) {
      if (auto it = receivers.find(c.waiter); it != receivers.end()) {
        if (c.received) {
          EXPECT_TRUE(it->second.matches(c.received->mtype));
          if (limits[c.waiter] >= 0) {
            EXPECT_LE(c.received->text.size(), static_cast<std::size_t>(limits[c.waiter]));
          }
        } else {
          EXPECT_EQ(c.error, Errc::e2big);
        }
        receivers.erase(it);
      } else {
        ASSERT_EQ(senders.erase(c.waiter), 1u) << "completion for an unknown waiter";
        EXPECT_EQ(c.error, Errc::ok);
      }
    }
    const Queue* q = r.find(id);
    ASSERT_NE(q, nullptr);
    std::uint64_t bytes_total = 0;
    for (const Message& m : q->messages()) {
      bytes_total += m.text.size();
      for (const auto& [w, sel] : receivers)
        ASSERT_FALSE(sel.matches(m.mtype)) << "step " << step << ": waiter " << w;
    }
    const MsqidDs ds = stat(r, id);
    ASSERT_EQ(ds.cbytes, bytes_total);
    ASSERT_EQ(ds.qnum, q->messages().size());
    ASSERT_EQ(r.usage().queued_bytes, bytes_total);
    ASSERT_EQ(r.usage().queued_messages, q->messages().size());
    ASSERT_EQ(r.parked_count(), receivers.size() + senders.size()) << "step " << step;
    ASSERT_EQ(q->parked_receivers(), receivers.size());
    ASSERT_EQ(q->parked_senders(), senders.size());
    for (const auto& [w, size] : senders) {
      const bool fits = ds.cbytes + size <= ds.qbytes && ds.qnum + 1 <= ds.qbytes;
      ASSERT_FALSE(fits) << "step " << step << ": sender " << w << " fits but is parked";
    }
  }
}

// ---- Rule 2.10: parked senders ----

TEST(Waiters, Rule2_10_TenByteSenderGoesAheadOfSixtyByteSenderParkedEarlier) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(20), kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 2, text_of(80), kIpcNowait)), Errc::ok);
  const WaiterId sixty = parked_id(send(r, process(201), id, 3, text_of(60), 0));
  const WaiterId ten = parked_id(send(r, process(202), id, 3, text_of(10), 0));
  ASSERT_TRUE(recv(r, bob(), id, 100, 1, kIpcNowait, at(500)).ok());  // 20 bytes leave
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], ten, Errc::ok);
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.cbytes, 90u);
  EXPECT_EQ(ds.lspid, 202);
  EXPECT_EQ(ds.stime, 500);
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_TRUE(r.cancel(sixty));
}

TEST(Waiters, Rule2_10_TheWalkCountsSendsCompletedEarlierInIt) {
  Registry r(limits_with_msgmnb(20));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(20), kIpcNowait)), Errc::ok);
  const WaiterId s1 = parked_id(send(r, alice(), id, 1, text_of(10), 0));
  const WaiterId s2 = parked_id(send(r, alice(), id, 1, text_of(10), 0));
  const WaiterId s3 = parked_id(send(r, alice(), id, 1, text_of(5), 0));
  ASSERT_TRUE(recv(r, bob(), id, 100, 0, kIpcNowait).ok());
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_error(done[0], s1, Errc::ok);
  expect_error(done[1], s2, Errc::ok);
  EXPECT_EQ(stat(r, id).cbytes, 20u);
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_TRUE(r.cancel(s3));
}

TEST(Waiters, Rule2_10_TheWalkAlsoCountsMessagesAgainstQbytes) {
  Registry r(limits_with_msgmnb(2));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "", kIpcNowait)), Errc::ok);
  const WaiterId s1 = parked_id(send(r, alice(), id, 1, "", 0));
  const WaiterId s2 = parked_id(send(r, alice(), id, 1, "", 0));
  ASSERT_TRUE(recv(r, bob(), id, 0, 0, kIpcNowait).ok());  // one slot for one message
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], s1, Errc::ok);
  EXPECT_EQ(stat(r, id).qnum, 2u);
  EXPECT_TRUE(r.cancel(s2));
}

TEST(Waiters, Rule2_10_SendersThatStillDoNotFitKeepTheirOrder) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(20, 'a'), kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(80, 'b'), kIpcNowait)), Errc::ok);
  const WaiterId s60 = parked_id(send(r, alice(), id, 1, text_of(60, 'c'), 0));
  const WaiterId s10 = parked_id(send(r, alice(), id, 1, text_of(10, 'd'), 0));
  const WaiterId s30 = parked_id(send(r, alice(), id, 1, text_of(30, 'e'), 0));
  ASSERT_TRUE(recv(r, bob(), id, 100, 0, kIpcNowait).ok());  // 20 free: only s10 fits
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], s10, Errc::ok);
  ASSERT_TRUE(recv(r, bob(), id, 100, 0, kIpcNowait).ok());  // 80 leave: 10 queued
  done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_error(done[0], s60, Errc::ok);  // FIFO among those that fit
  expect_error(done[1], s30, Errc::ok);
  std::string order;
  for (int pos = 0; pos < 3; ++pos) {
    auto o = peek(r, id, pos);
    ASSERT_TRUE(o.ok());
    order += str(o.value().text).substr(0, 1);
  }
  EXPECT_EQ(order, "dce");
  EXPECT_EQ(stat(r, id).cbytes, 100u);
}

TEST(Waiters, Rule2_10_AWokenSenderHandsItsMessageToAParkedReceiver) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(10), kIpcNowait)), Errc::ok);
  const WaiterId receiver = parked_id(recv(r, process(301), id, 100, 2, 0));
  const WaiterId sender = parked_id(send(r, process(302), id, 2, "hello", 0));
  ASSERT_TRUE(recv(r, bob(), id, 100, 1, kIpcNowait, at(900)).ok());
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_received(done[0], receiver, 2, "hello");
  expect_error(done[1], sender, Errc::ok);
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 0u);
  EXPECT_EQ(ds.lspid, 302);
  EXPECT_EQ(ds.lrpid, 301);
  EXPECT_EQ(ds.stime, 900);
  EXPECT_EQ(ds.rtime, 900);
  EXPECT_EQ(r.parked_count(), 0u);
}

TEST(Waiters, Rule2_10_ASenderWhoseWriteWasRevokedFailsWithEaccesOnlyOnceItFits) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice(), 0666);
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(10), kIpcNowait)), Errc::ok);
  const WaiterId w = parked_id(send(r, bob(), id, 1, text_of(5), 0));
  set_mode(r, id, 0644);  // bob loses write; the message still does not fit
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(r.parked_count(), 1u);
  const MsqidDs before = stat(r, id);
  ASSERT_TRUE(recv(r, alice(), id, 100, 0, kIpcNowait, at(3000)).ok());
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], w, Errc::eacces);
  const MsqidDs ds = stat(r, id);
  EXPECT_EQ(ds.qnum, 0u);  // its message never entered the queue
  EXPECT_EQ(ds.stime, before.stime);
  EXPECT_EQ(ds.lspid, before.lspid);
}

TEST(Waiters, Rule2_10_IpcSetRaisingQbytesWakesSendersThatFit) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(10), kIpcNowait)), Errc::ok);
  const WaiterId s8 = parked_id(send(r, alice(), id, 1, text_of(8), 0));
  const WaiterId s3 = parked_id(send(r, alice(), id, 1, text_of(3), 0));
  set_qbytes(r, id, 14, at(400));
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], s3, Errc::ok);
  EXPECT_EQ(stat(r, id).stime, 400);
  set_qbytes(r, id, 21);
  done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], s8, Errc::ok);
  EXPECT_EQ(stat(r, id).cbytes, 21u);
}

TEST(Waiters, Rule2_10_FailedIpcSetWakesNobody) {
  Registry r(limits_with_msgmnb(10));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, text_of(10), kIpcNowait)), Errc::ok);
  parked_id(send(r, alice(), id, 1, text_of(1), 0));
  MsqidSet s = set_of(stat(r, id));
  s.qbytes = 11;
  EXPECT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::eperm);  // above msgmnb
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(r.parked_count(), 1u);
}

// ---- Rules 2.11, 3.12, 4.5: IPC_RMID ends every parked call with EIDRM ----

TEST(Waiters, Rule4_5_RmidEndsParkedSendersAndReceiversWithEidrm) {
  Registry r(limits_with_msgmnb(4));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "full", kIpcNowait)), Errc::ok);
  const WaiterId r1 = parked_id(recv(r, bob(), id, 100, 7, 0));
  const WaiterId r2 = parked_id(recv(r, bob(), id, 100, 8, 0));
  const WaiterId s1 = parked_id(send(r, carol(), id, 1, "abc", 0));
  const WaiterId s2 = parked_id(send(r, carol(), id, 7, "de", 0));
  ASSERT_EQ(r.parked_count(), 4u);
  ASSERT_EQ(answer(rmid(r, alice(), id)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 4u);
  std::map<WaiterId, Errc> got;
  for (const Completion& c : done) {
    EXPECT_FALSE(c.received);
    got[c.waiter] = c.error;
  }
  EXPECT_EQ(got, (std::map<WaiterId, Errc>{
                     {r1, Errc::eidrm}, {r2, Errc::eidrm}, {s1, Errc::eidrm}, {s2, Errc::eidrm}}));
  EXPECT_EQ(r.parked_count(), 0u);
  EXPECT_EQ(r.usage().queued_messages, 0u);  // the queued message is discarded
  EXPECT_EQ(r.usage().queued_bytes, 0u);
}

TEST(Waiters, Rule4_5_RmidAnswersOnlyTheCallsParkedOnThatQueue) {
  Registry r;
  const int a = create(r, alice());
  const int b = create(r, alice());
  const WaiterId on_a = parked_id(recv(r, bob(), a, 100, 0, 0));
  const WaiterId on_b = parked_id(recv(r, bob(), b, 100, 0, 0));
  ASSERT_EQ(answer(rmid(r, alice(), a)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], on_a, Errc::eidrm);
  EXPECT_EQ(r.parked_count(), 1u);
  EXPECT_FALSE(r.cancel(on_a));
  EXPECT_TRUE(r.cancel(on_b));
}

// ---- Rule 3.12 and 4.4 step 7: IPC_SET and parked receivers ----

TEST(Waiters, Rule3_12_IpcSetEndsReceiversThatLostReadAndKeepsTheOthersInOrder) {
  Registry r;
  const int id = create(r, alice(), 0666);  // alice's group is 1000
  const WaiterId r1 = parked_id(recv(r, bob(), id, 100, 0, 0));
  const WaiterId r2 = parked_id(recv(r, carol(), id, 100, 0, 0));
  const WaiterId r3 = parked_id(recv(r, bob(), id, 100, 0, 0));
  MsqidSet s = set_of(stat(r, id));
  s.gid = carol().gid;
  s.mode = 0606;  // carol is now in the group, whose triplet is empty; bob is "other"
  ASSERT_EQ(answer(ipc_set(r, alice(), id, s)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_error(done[0], r2, Errc::eacces);
  EXPECT_EQ(r.parked_count(), 2u);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "first", kIpcNowait)), Errc::ok);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "second", kIpcNowait)), Errc::ok);
  done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_received(done[0], r1, 1, "first");
  expect_received(done[1], r3, 1, "second");
}

TEST(Waiters, Rule3_12_ReceiverWithCapIpcOwnerSurvivesRevocation) {
  Registry r;
  const int id = create(r, alice(), 0666);
  const WaiterId w = parked_id(recv(r, with_cap(bob(), Capability::ipc_owner), id, 100, 0, 0));
  set_mode(r, id, 0600);
  EXPECT_TRUE(r.take_completions().empty());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "x", kIpcNowait)), Errc::ok);
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], w, 1, "x");
}

// ---- Rules 2.12 and 3.11: cancel ----

TEST(Waiters, Rule2_12_CancelWithdrawsAParkedSenderAndItsMessage) {
  Registry r(limits_with_msgmnb(5));
  const int id = create(r, alice());
  ASSERT_EQ(answer(send(r, alice(), id, 1, "12345", kIpcNowait)), Errc::ok);
  const WaiterId w = parked_id(send(r, bob(), id, 1, "abc", 0));
  EXPECT_TRUE(r.cancel(w));
  EXPECT_EQ(r.parked_count(), 0u);
  EXPECT_EQ(r.find(id)->parked_senders(), 0u);
  ASSERT_TRUE(recv(r, alice(), id, 100, 0, kIpcNowait).ok());
  EXPECT_TRUE(r.take_completions().empty());  // no answer: the server says EINTR
  EXPECT_EQ(stat(r, id).qnum, 0u);
  EXPECT_FALSE(r.cancel(w));
}

TEST(Waiters, Rule2_12_CancelWithdrawsAParkedReceiver) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId w = parked_id(recv(r, bob(), id, 100, 0, 0));
  EXPECT_TRUE(r.cancel(w));
  EXPECT_EQ(r.parked_count(), 0u);
  ASSERT_EQ(answer(send(r, alice(), id, 1, "kept", kIpcNowait)), Errc::ok);
  EXPECT_TRUE(r.take_completions().empty());
  EXPECT_EQ(stat(r, id).qnum, 1u);
  EXPECT_EQ(stat(r, id).lrpid, 0);
}

TEST(Waiters, Rule3_11_CancelAfterAHandOffReturnsFalseAndTheAnswerStands) {
  Registry r;
  const int id = create(r, alice());
  const WaiterId w = parked_id(recv(r, bob(), id, 100, 0, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 4, "mine", kIpcNowait)), Errc::ok);
  EXPECT_FALSE(r.cancel(w));
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 1u);
  expect_received(done[0], w, 4, "mine");
}

TEST(Waiters, Rule2_12_CancelOfAnUnknownOrFinishedCallIsFalse) {
  Registry r;
  const int id = create(r, alice());
  EXPECT_FALSE(r.cancel(0));
  EXPECT_FALSE(r.cancel(987654));
  const WaiterId w = parked_id(recv(r, bob(), id, 100, 0, 0));
  ASSERT_EQ(answer(rmid(r, alice(), id)), Errc::ok);
  EXPECT_FALSE(r.cancel(w));
  EXPECT_EQ(r.take_completions().size(), 1u);
}

// ---- Completions and parked_count ----

TEST(Waiters, CompletionsCarryTheWaiterAndTheAnswerOnce) {
  Registry r(limits_with_msgmnb(3));
  const int id = create(r, alice());
  const WaiterId rcv = parked_id(recv(r, bob(), id, 100, 5, 0));
  ASSERT_EQ(answer(send(r, alice(), id, 1, "abc", kIpcNowait)), Errc::ok);
  const WaiterId snd = parked_id(send(r, alice(), id, 5, "xy", 0));
  EXPECT_NE(rcv, snd);
  ASSERT_TRUE(recv(r, bob(), id, 100, 1, kIpcNowait).ok());
  auto done = r.take_completions();
  ASSERT_EQ(done.size(), 2u);
  expect_received(done[0], rcv, 5, "xy");  // the woken sender hands over first...
  expect_error(done[1], snd, Errc::ok);    // ...then the sender's own answer
  EXPECT_TRUE(r.take_completions().empty());
}

TEST(Waiters, ParkedCountCoversSendersAndReceiversOfEveryQueue) {
  Registry r(limits_with_msgmnb(1));
  const int a = create(r, alice());
  const int b = create(r, alice());
  EXPECT_EQ(r.parked_count(), 0u);
  parked_id(recv(r, bob(), a, 100, 9, 0));
  ASSERT_EQ(answer(send(r, alice(), b, 1, "x", kIpcNowait)), Errc::ok);
  const WaiterId sb = parked_id(send(r, alice(), b, 1, "y", 0));
  parked_id(recv(r, bob(), b, 100, 9, 0));
  EXPECT_EQ(r.parked_count(), 3u);
  ASSERT_TRUE(recv(r, bob(), b, 100, 1, kIpcNowait).ok());  // wakes sb
  EXPECT_EQ(r.parked_count(), 2u);
  ASSERT_EQ(r.take_completions().size(), 1u);
  ASSERT_EQ(answer(rmid(r, alice(), a)), Errc::ok);
  EXPECT_EQ(r.parked_count(), 1u);
  (void)sb;
}

}  // namespace
}  // namespace sysvmq::core::test
