// Perl's core IPC::Msg (snd, rcv, stat, set, remove) through `sysvmq exec`
// (scripts/perl_ipc_msg.pl), including the queue with id 0 that a fresh namespace hands
// out first and Perl must treat as a success (Rule 1.7, 7.10).
#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

TEST_F(CompatTest, PerlIpcMsgSendsReceivesStatsSetsAndRemoves) {
  if (!have_file("/usr/bin/perl")) GTEST_SKIP() << "no perl";
  const std::uint64_t before = requests_total();
  const Finished r = exec({"/usr/bin/perl", kScripts + "perl_ipc_msg.pl"});
  expect_checks_passed(r, {"new", "snd_text", "snd_binary", "stat_after_snd", "rcv_by_type",
                           "rcv_e2big", "rcv_noerror_truncates", "rcv_nowait_empty", "set",
                           "set_applied", "remove", "stat_after_remove", "snd_after_remove"});
  EXPECT_TRUE(r.has_line("id 0")) << "the daemon's first queue is id 0\n" << r.out;
  EXPECT_GE(requests_total() - before, 14u);
  EXPECT_TRUE(queues().empty()) << queues().dump();
}

}  // namespace
}  // namespace sysvmq::test
