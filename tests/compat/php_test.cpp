// PHP's sysvmsg extension (php8.2-cli) through `sysvmq exec`: the demo pair in
// examples/php, every rule of SEMANTICS.md section 7 that a script can see
// (scripts/php_features.php), a blocked msg_receive released by another PHP process, and
// one that outlives a restart of the daemon.
#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

const std::string kPhp = "/usr/bin/php";
constexpr std::int32_t kDemoKey = 0x73797376;  // examples/php: "sysv"

class PhpTest : public CompatTest {
 protected:
  void SetUp() override {
    if (!have_file(kPhp)) GTEST_SKIP() << "no " << kPhp;
    CompatTest::SetUp();
  }
};

TEST_F(PhpTest, DemoPairSendsThenReceivesThroughTheDaemon) {
  Program sender(exec_argv({kPhp, kExamples + "php/msg_send.php"}));
  const pid_t sender_pid = sender.pid();  // sysvmq exec replaces itself with php
  const Finished sent = sender.finish();
  ASSERT_EQ(sent.status, 0) << sent.describe();
  EXPECT_TRUE(sent.has_line("sent type 1")) << sent.out;
  EXPECT_TRUE(sent.has_line("sent type 2")) << sent.out;
  const PrintR after_send = parse_print_r(sent.out);
  ASSERT_EQ(after_send.size(), 1u) << sent.out;
  // Rule 7.6: exactly these ten keys, in this order.
  std::vector<std::string> keys;
  for (const auto& [k, v] : after_send[0]) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"msg_perm.uid", "msg_perm.gid", "msg_perm.mode",
                                            "msg_stime", "msg_rtime", "msg_ctime", "msg_qnum",
                                            "msg_qbytes", "msg_lspid", "msg_lrpid"}));
  auto st = as_map(after_send[0]);
  EXPECT_EQ(st["msg_perm.uid"], "0");
  EXPECT_EQ(st["msg_perm.mode"], "438");  // 0666
  EXPECT_EQ(st["msg_qnum"], "2");
  EXPECT_EQ(st["msg_qbytes"], "16384");
  EXPECT_EQ(st["msg_lspid"], std::to_string(sender_pid));
  EXPECT_EQ(st["msg_lrpid"], "0");
  EXPECT_GT(std::stoll(st["msg_stime"]), 0);
  EXPECT_GT(std::stoll(st["msg_ctime"]), 0);
  EXPECT_EQ(st["msg_rtime"], "0");

  // Between the two programs the messages wait in the daemon, not in the kernel.
  const auto q = queue_with_key(kDemoKey);
  ASSERT_TRUE(q.is_object()) << queues().dump();
  EXPECT_EQ(q["qnum"], 2);
  EXPECT_EQ(q["lspid"], sender_pid);
  EXPECT_EQ(kernel_table().rows, 0);

  Program receiver(exec_argv({kPhp, kExamples + "php/msg_receive.php"}));
  const pid_t receiver_pid = receiver.pid();
  const Finished got = receiver.finish();
  ASSERT_EQ(got.status, 0) << got.describe();
  EXPECT_TRUE(got.has_line("received type 1: \"hello from PHP\"")) << got.out;
  EXPECT_TRUE(got.has_line(R"(received type 2: {"order":42,"items":["tea","milk"]})")) << got.out;
  EXPECT_TRUE(got.has_line("bool(true)")) << got.out;
  const PrintR after_receive = parse_print_r(got.out);
  ASSERT_EQ(after_receive.size(), 2u) << got.out;
  for (std::size_t i = 0; i < 2; ++i) {
    st = as_map(after_receive[i]);
    EXPECT_EQ(after_receive[i].size(), 10u);
    EXPECT_EQ(st["msg_qnum"], std::to_string(1 - i));
    EXPECT_EQ(st["msg_qbytes"], "16384");
    EXPECT_EQ(st["msg_lspid"], std::to_string(sender_pid));  // Rule 6.3: kept after exit
    EXPECT_EQ(st["msg_lrpid"], std::to_string(receiver_pid));
    EXPECT_GT(std::stoll(st["msg_rtime"]), 0);
  }
  EXPECT_TRUE(queues().empty()) << "msg_remove_queue left " << queues().dump();
}

TEST_F(PhpTest, SysvmsgFunctionsKeepTheirErrorCodesAndFlags) {
  const std::uint64_t before = requests_total();
  const Finished r = exec({kPhp, kScripts + "php_features.php", "0x70687031"});
  expect_checks_passed(r, {"queue_absent_before",
                           "get_queue",
                           "queue_exists",
                           "other_key_absent",
                           "stat_keys",
                           "stat_fresh",
                           "set_queue",
                           "set_queue_applied",
                           "send_fits",
                           "send_nowait_full_eagain",
                           "receive_frees",
                           "set_queue_back",
                           "receive_nowait_enomsg",
                           "msg_except",
                           "type_zero_oldest",
                           "negative_type_smallest",
                           "negative_type_includes_equal",
                           "negative_type_none_left",
                           "e2big_without_noerror",
                           "noerror_truncates",
                           "send_binary",
                           "binary_roundtrip",
                           "serialized_roundtrip",
                           "serialized_no_trailing_nul",
                           "type_zero_einval",
                           "pids_are_mine",
                           "remove",
                           "gone",
                           "send_after_remove_einval"});
  // Some 50 msg* calls, every one answered by the daemon.
  EXPECT_GE(requests_total() - before, 40u);
}

TEST_F(PhpTest, BlockedReceiveIsReleasedBySendFromAnotherProcess) {
  Program receiver(exec_argv({kPhp, kScripts + "php_receive_one.php", "0x70687032", "7"}));
  // The receiver is parked in the daemon: that, not a sleep, is what the sender waits for.
  ASSERT_TRUE(parked_calls_reach(1)) << stats().dump();
  Program sender(
      exec_argv({kPhp, kScripts + "php_send_one.php", "0x70687032", "7", "hello parked"}));
  const pid_t sender_pid = sender.pid();
  const Finished sent = sender.finish();
  EXPECT_EQ(sent.status, 0) << sent.describe();
  EXPECT_EQ(sent.out, "sent\n");
  const Finished got = receiver.finish();
  ASSERT_EQ(got.status, 0) << got.describe();
  EXPECT_TRUE(got.has_line("received type 7: hello parked")) << got.out;
  // Rule 2.7: a hand-off sets lspid and lrpid and never queues the message.
  EXPECT_TRUE(got.has_line("pid " + std::to_string(receiver.pid()) + " lspid " +
                           std::to_string(sender_pid) + " lrpid " + std::to_string(receiver.pid()) +
                           " qnum 0"))
      << got.out;
  EXPECT_EQ(stats().value("parked_calls", ~0ULL), 0u);
}

// What `systemctl restart sysvmqd` does — SIGTERM, then a new daemon on the same socket
// and state directory — under a PHP script blocked in msg_receive: the script's queue
// id is still valid on the new daemon, and it receives the message sent there.
TEST_F(PhpTest, ABlockedMsgReceiveGetsTheMessageSentAfterADaemonRestart) {
  const std::string state = daemon_.dir() + "/state";
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string why;
  ASSERT_TRUE(daemon_.start(why, {"--state-dir", state})) << why;

  Program receiver(exec_argv({kPhp, kScripts + "php_receive_one.php", "0x70687033", "7"}));
  ASSERT_TRUE(parked_calls_reach(1)) << stats().dump();
  const auto status = daemon_.stop(SIGTERM);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  ASSERT_TRUE(daemon_.start(why, {"--state-dir", state})) << why;
  EXPECT_EQ(stats()["snapshots"].value("loaded_queues", 0), 1) << stats().dump();

  ASSERT_TRUE(parked_calls_reach(1)) << "the receiver did not issue its call again";
  Program sender(
      exec_argv({kPhp, kScripts + "php_send_one.php", "0x70687033", "7", "after the restart"}));
  const Finished sent = sender.finish();
  EXPECT_EQ(sent.status, 0) << sent.describe();
  const Finished got = receiver.finish();
  ASSERT_EQ(got.status, 0) << got.describe();
  EXPECT_TRUE(got.has_line("received type 7: after the restart")) << got.out;
  EXPECT_EQ(stats().value("parked_calls", ~0ULL), 0u);
}

}  // namespace
}  // namespace sysvmq::test
