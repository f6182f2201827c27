// blocking_test.cpp: what happens to callers parked in msgsnd/msgrcv — hand-off order,
// E2BIG refusals, the fit rule, sender wake-ups, IPC_SET and IPC_RMID, signals. Every
// scenario runs twice with the same expectations: on the kernel (forked children blocked
// in the real syscalls, in a private IPC namespace) and on the core (parked calls of a
// core::Registry). The expectations are SEMANTICS.md's rules, cited by number.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/identity.hpp"
#include "tests/support/kernel_oracle.hpp"
#include "tests/support/parked_calls.hpp"

namespace sysvmq::test {
namespace {

using proto::kIpcNowait;
using proto::kMsgNoerror;

core::Bytes bytes(std::string_view s) {
  core::Bytes b(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
  return b;
}

class BlockingTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kernel") {
      ASSERT_EQ(geteuid(), 0u) << "kernel tests need root";
      const std::string err = enter_private_ipc_namespace();
      ASSERT_TRUE(err.empty()) << err;
      b_ = make_kernel_parking();
    } else {
      b_ = make_core_parking();
    }
  }

  void TearDown() override {
    // IPC_RMID ends whatever still waits (EIDRM); the backend reaps the rest.
    for (int id : queues_) (void)b_->direct().msgctl(CtlArgs{id, proto::kIpcRmid, std::nullopt});
    b_.reset();
  }

  ParkingBackend& b() { return *b_; }

  // A private queue of mode `mode`, owned by root, with msg_qbytes `qbytes` if given.
  int create(int mode = 0666, std::optional<std::uint64_t> qbytes = std::nullopt) {
    const OpResult r = b().direct().msgget(proto::kIpcPrivate, proto::kIpcCreat | mode);
    EXPECT_TRUE(r.ok()) << describe(r);
    const int id = static_cast<int>(r.ret);
    queues_.push_back(id);
    if (qbytes) set(id, static_cast<std::uint32_t>(mode), *qbytes);
    return id;
  }

  void set(int id, std::uint32_t mode, std::uint64_t qbytes) {
    const OpResult r =
        b().direct().msgctl(CtlArgs{id, proto::kIpcSet, proto::MsqidSet{0, 0, mode, qbytes}});
    EXPECT_EQ(r.ret, 0) << describe(r);
  }

  OpResult send(int id, std::int64_t mtype, std::string_view text, int flg = kIpcNowait) {
    return b().direct().msgsnd(
        SndArgs{id, mtype, static_cast<std::int64_t>(text.size()), flg, bytes(text)});
  }

  OpResult receive(int id, std::int64_t msgsz, std::int64_t msgtyp, int flg = kIpcNowait) {
    return b().direct().msgrcv(RcvArgs{id, msgsz, msgtyp, flg});
  }

  proto::MsqidDs stat(int id) {
    const OpResult r = b().direct().msgctl(CtlArgs{id, proto::kIpcStat, std::nullopt});
    EXPECT_TRUE(r.ok() && r.ds) << describe(r);
    return r.ds.value_or(proto::MsqidDs{});
  }

  CallId park_receiver(int id, std::int64_t msgsz, std::int64_t msgtyp, int flg = 0,
                       CallOptions o = {}) {
    const CallId c = b().start_msgrcv(RcvArgs{id, msgsz, msgtyp, flg}, o);
    EXPECT_TRUE(b().parked(c)) << "receiver " << c
                               << " should be parked: " << describe(b().result(c));
    return c;
  }

  CallId park_sender(int id, std::int64_t mtype, std::string_view text, CallOptions o = {}) {
    const CallId c = b().start_msgsnd(
        SndArgs{id, mtype, static_cast<std::int64_t>(text.size()), 0, bytes(text)}, o);
    EXPECT_TRUE(b().parked(c)) << "sender " << c
                               << " should be parked: " << describe(b().result(c));
    return c;
  }

  // For a call that is woken and must park again (kernel: IPC_SET re-parks receivers).
  bool eventually_parked(CallId c) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (std::chrono::steady_clock::now() < until) {
      if (b().parked(c)) return true;
      usleep(1000);  // polling an observable state, not a synchronisation by delay
    }
    return false;
  }

  void expect_received(CallId c, std::int64_t mtype, std::string_view text) {
    const OpResult r = b().result(c);
    EXPECT_EQ(r.ret, static_cast<long>(text.size())) << describe(r);
    EXPECT_EQ(r.mtype, mtype) << describe(r);
    EXPECT_EQ(r.data, bytes(text)) << describe(r);
  }

  void expect_error(CallId c, int err) {
    const OpResult r = b().result(c);
    EXPECT_EQ(r.ret, -1) << describe(r);
    EXPECT_EQ(errno_name(r.err), errno_name(err)) << describe(r);
  }

  void expect_sent(CallId c) {
    const OpResult r = b().result(c);
    EXPECT_EQ(r.ret, 0) << describe(r);
  }

  void expect_parked_count(std::size_t n) {
    if (auto count = b().parked_count()) {
      EXPECT_EQ(*count, n);
    }
  }

  const std::int32_t self_ = static_cast<std::int32_t>(getpid());

 private:
  std::unique_ptr<ParkingBackend> b_;
  std::vector<int> queues_;
};

// Rule 3.9: R1(type 1), R2(any), R3(type 2), R4(type 1) parked in that order; a type-2
// message goes to R2 (the first whose selector matches), type-1 messages to R1 then R4,
// and R3 keeps waiting. Rule 2.7 / 6.2: each hand-off sets msg_lrpid and msg_rtime,
// msg_stime and msg_lspid, and never touches msg_qnum.
TEST_P(BlockingTest, Rule3_9_FirstMatchingReceiverInParkingOrderTakesTheMessage) {
  const int q = create();
  const CallId r1 = park_receiver(q, 64, 1);
  const CallId r2 = park_receiver(q, 64, 0);
  const CallId r3 = park_receiver(q, 64, 2);
  const CallId r4 = park_receiver(q, 64, 1);
  expect_parked_count(4);
  const proto::MsqidDs before = stat(q);
  EXPECT_EQ(before.rtime, 0);
  EXPECT_EQ(before.lrpid, 0);

  ASSERT_EQ(send(q, 2, "two").ret, 0);
  expect_received(r2, 2, "two");
  proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 0u);
  EXPECT_EQ(ds.cbytes, 0u);
  EXPECT_EQ(ds.lrpid, b().pid_of(r2));
  EXPECT_NE(ds.rtime, 0);
  EXPECT_GE(ds.rtime, ds.ctime);
  EXPECT_EQ(ds.lspid, self_);
  EXPECT_NE(ds.stime, 0);

  ASSERT_EQ(send(q, 1, "one-a").ret, 0);
  expect_received(r1, 1, "one-a");
  EXPECT_EQ(stat(q).lrpid, b().pid_of(r1));
  ASSERT_EQ(send(q, 1, "one-b").ret, 0);
  expect_received(r4, 1, "one-b");
  EXPECT_EQ(stat(q).lrpid, b().pid_of(r4));

  EXPECT_TRUE(b().parked(r3));
  expect_parked_count(1);
  EXPECT_EQ(stat(q).qnum, 0u);
  ASSERT_EQ(send(q, 3, "three").ret, 0);  // R3 wants type 2 only
  EXPECT_TRUE(b().parked(r3));
  EXPECT_EQ(stat(q).qnum, 1u);
  ASSERT_EQ(b().direct().msgctl(CtlArgs{q, proto::kIpcRmid, std::nullopt}).ret, 0);
  expect_error(r3, EIDRM);
}

// Rules 2.7 / 3.10: a matching receiver whose msgsz is too small gets E2BIG and the
// message moves on; with MSG_NOERROR the receiver gets the truncated text. The refusal
// leaves msg_rtime / msg_lrpid alone; the hand-off sets them.
TEST_P(BlockingTest, Rule3_10_TooSmallReceiverGetsE2bigAndTheMessageMovesOn) {
  const int q = create();
  const CallId small = park_receiver(q, 4, 0);
  const CallId trunc = park_receiver(q, 4, 0, kMsgNoerror);
  const CallId big = park_receiver(q, 100, 0);

  ASSERT_EQ(send(q, 5, "0123456789").ret, 0);
  expect_error(small, E2BIG);
  expect_received(trunc, 5, "0123");
  EXPECT_TRUE(b().parked(big));
  proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.lrpid, b().pid_of(trunc));
  EXPECT_NE(ds.rtime, 0);
  EXPECT_EQ(ds.qnum, 0u);

  ASSERT_EQ(send(q, 6, "abcdefghij").ret, 0);
  expect_received(big, 6, "abcdefghij");
  EXPECT_EQ(stat(q).lrpid, b().pid_of(big));
  expect_parked_count(0);
}

// Rule 3.10: when every matching receiver refuses, the message is queued; a receiver
// that does not match keeps waiting; no msg_rtime / msg_lrpid for the refusal.
TEST_P(BlockingTest, Rule3_10_MessageRefusedByEveryReceiverIsQueued) {
  const int q = create();
  const CallId tiny = park_receiver(q, 3, 0);
  const CallId other = park_receiver(q, 100, 9);
  ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
  expect_error(tiny, E2BIG);
  EXPECT_TRUE(b().parked(other));
  const proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 10u);
  EXPECT_EQ(ds.rtime, 0);
  EXPECT_EQ(ds.lrpid, 0);
  EXPECT_EQ(ds.lspid, self_);
  EXPECT_NE(ds.stime, 0);
}

// Rules 2.10 / 2.6: 20 bytes freed let a 10-byte sender parked later go ahead of a
// 60-byte one parked earlier; a newcomer that fits goes ahead of the parked one; the
// 60-byte sender completes once it fits, and the queue keeps send order (Rule 3.6).
TEST_P(BlockingTest, Rule2_10_FreedSpaceLetsALaterSmallerSenderGoFirst) {
  const int q = create(0666, 100);
  ASSERT_EQ(send(q, 1, std::string(20, 'a')).ret, 0);
  ASSERT_EQ(send(q, 2, std::string(80, 'b')).ret, 0);
  const CallId s60 = park_sender(q, 3, std::string(60, 'c'));
  const CallId s10 = park_sender(q, 4, std::string(10, 'd'));
  expect_parked_count(2);

  const OpResult got = receive(q, 100, 1);
  ASSERT_EQ(got.ret, 20) << describe(got);
  expect_sent(s10);
  EXPECT_TRUE(b().parked(s60));
  proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 2u);
  EXPECT_EQ(ds.cbytes, 90u);
  EXPECT_EQ(ds.lspid, b().pid_of(s10));

  ASSERT_EQ(send(q, 5, std::string(10, 'e')).ret, 0);  // Rule 2.6: no fairness
  EXPECT_TRUE(b().parked(s60));
  EXPECT_EQ(stat(q).cbytes, 100u);

  ASSERT_EQ(receive(q, 100, 2).ret, 80);
  expect_sent(s60);
  ds = stat(q);
  EXPECT_EQ(ds.qnum, 3u);
  EXPECT_EQ(ds.cbytes, 80u);
  EXPECT_EQ(ds.lspid, b().pid_of(s60));
  for (std::int64_t want : {4, 5, 3}) EXPECT_EQ(receive(q, 100, 0).mtype, want);
  expect_parked_count(0);
}

// Rule 2.5: the fit rule comes first even when a parked receiver would take the message:
// a 1-byte send to a full queue gets EAGAIN; a 0-byte send fits and is handed over.
TEST_P(BlockingTest, Rule2_5_FitRuleComesBeforeTheHandOff) {
  const int q = create(0666, 10);
  ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
  const CallId r = park_receiver(q, 10, 2);
  const OpResult one = send(q, 2, "x");
  EXPECT_EQ(one.ret, -1);
  EXPECT_EQ(errno_name(one.err), "EAGAIN");
  EXPECT_TRUE(b().parked(r));
  ASSERT_EQ(send(q, 2, "").ret, 0);
  expect_received(r, 2, "");
  const proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 10u);
  EXPECT_EQ(ds.lrpid, b().pid_of(r));
}

// Rules 2.11 / 3.12 / 4.5: IPC_RMID ends every parked sender and receiver with EIDRM;
// the id is dead afterwards (Rule 1.9: EINVAL, never EIDRM).
TEST_P(BlockingTest, Rule4_5_RmidEndsEveryParkedCallWithEidrm) {
  const int q = create(0666, 10);
  ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
  const CallId r2 = park_receiver(q, 64, 2);
  const CallId rx = park_receiver(q, 64, 1, proto::kMsgExcept);
  const CallId s1 = park_sender(q, 1, "12345");
  const CallId s2 = park_sender(q, 2, "z");  // Rule 2.5: does not fit, so it parks
  expect_parked_count(4);
  ASSERT_EQ(b().direct().msgctl(CtlArgs{q, proto::kIpcRmid, std::nullopt}).ret, 0);
  for (CallId c : {r2, rx, s1, s2}) expect_error(c, EIDRM);
  expect_parked_count(0);
  const OpResult after = send(q, 1, "x");
  EXPECT_EQ(errno_name(after.err), "EINVAL");
}

// Rules 4.4 step 7 / 2.10: an IPC_SET that raises msg_qbytes wakes a parked sender once
// its message fits; one that does not make room leaves it parked. IPC_SET sets ctime.
TEST_P(BlockingTest, Rule4_4_IpcSetRaisingQbytesWakesAParkedSender) {
  const int q = create(0666, 10);
  ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
  const CallId s = park_sender(q, 2, "abcde");
  set(q, 0666, 12);
  EXPECT_TRUE(b().parked(s));
  set(q, 0666, 15);
  expect_sent(s);
  const proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 2u);
  EXPECT_EQ(ds.cbytes, 15u);
  EXPECT_EQ(ds.qbytes, 15u);
  EXPECT_EQ(ds.lspid, b().pid_of(s));
  EXPECT_NE(ds.ctime, 0);
  expect_parked_count(0);
}

// Rule 2.7 after Rule 4.4 step 7: the sender woken by IPC_SET hands its message to a
// parked receiver, so msg_qnum does not change.
TEST_P(BlockingTest, Rule4_4_SenderWokenByIpcSetHandsOffToAParkedReceiver) {
  const int q = create(0666, 10);
  ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
  const CallId r = park_receiver(q, 64, 2);
  const CallId s = park_sender(q, 2, "abcde");
  set(q, 0666, 15);
  expect_sent(s);
  expect_received(r, 2, "abcde");
  const proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.lrpid, b().pid_of(r));
  EXPECT_EQ(ds.lspid, b().pid_of(s));
}

// Rule 3.12: IPC_SET re-checks read permission of parked receivers: lost → EACCES,
// kept → still parked, and still served.
TEST_P(BlockingTest, Rule3_12_IpcSetRechecksReadPermissionOfParkedReceivers) {
  const int q = create(0644);
  const CallId user = park_receiver(q, 64, 1, 0, CallOptions{Who::u1000});
  const CallId owner = park_receiver(q, 64, 1, 0, CallOptions{Who::root_no_ipc_caps});
  set(q, 0600, 16384);
  expect_error(user, EACCES);
  EXPECT_TRUE(eventually_parked(owner));
  ASSERT_EQ(send(q, 1, "hello").ret, 0);
  expect_received(owner, 1, "hello");
}

// Rule 2.10: a parked sender whose write permission was revoked stays parked until its
// message fits, then fails with EACCES; the queue is unchanged.
TEST_P(BlockingTest, Rule2_10_WokenSenderRechecksWritePermission) {
  const int q = create(0666, 10);
  ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
  const CallId s = park_sender(q, 2, "abcde", CallOptions{Who::u1000});
  set(q, 0644, 10);
  EXPECT_TRUE(b().parked(s));
  set(q, 0644, 15);
  expect_error(s, EACCES);
  const proto::MsqidDs ds = stat(q);
  EXPECT_EQ(ds.qnum, 1u);
  EXPECT_EQ(ds.cbytes, 10u);
  expect_parked_count(0);
}

// Rules 2.12 / 3.12: a signal whose handler runs ends a parked msgrcv or msgsnd with
// EINTR, with or without SA_RESTART (core: cancel() of a parked call returns true).
// The interrupted calls leave nothing behind: a later message is queued, not delivered.
TEST_P(BlockingTest, Rule2_12_SignalWithHandlerEndsParkedCallsWithEintr) {
  for (OnSignal how : {OnSignal::handler, OnSignal::handler_restart}) {
    SCOPED_TRACE(how == OnSignal::handler ? "handler without SA_RESTART" : "SA_RESTART handler");
    const int q = create(0666, 10);
    const CallId r = park_receiver(q, 64, 1, 0, CallOptions{Who::root, how});
    if (auto cancelled = b().interrupt(r)) {
      EXPECT_TRUE(*cancelled);
    }
    expect_error(r, EINTR);
    ASSERT_EQ(send(q, 1, "0123456789").ret, 0);
    EXPECT_EQ(stat(q).qnum, 1u);
    EXPECT_EQ(stat(q).lrpid, 0);

    const CallId s = park_sender(q, 2, "abc", CallOptions{Who::root, how});
    if (auto cancelled = b().interrupt(s)) {
      EXPECT_TRUE(*cancelled);
    }
    expect_error(s, EINTR);
    ASSERT_EQ(receive(q, 64, 1).ret, 10);
    EXPECT_EQ(stat(q).qnum, 0u);  // the interrupted sender's message never entered
    expect_parked_count(0);
  }
}

// Rule 3.11: a receiver that was handed a message keeps it even if interrupted right
// after (core: cancel() of an answered call returns false).
TEST_P(BlockingTest, Rule3_11_HandedOverMessageSurvivesALateInterrupt) {
  const int q = create();
  const CallId r = park_receiver(q, 64, 0);
  ASSERT_EQ(send(q, 7, "mine").ret, 0);
  if (auto cancelled = b().interrupt(r)) {
    EXPECT_FALSE(*cancelled);
  }
  expect_received(r, 7, "mine");
  EXPECT_EQ(stat(q).qnum, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, BlockingTest, testing::Values("kernel", "core"),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace sysvmq::test
