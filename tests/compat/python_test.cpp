// python3-sysv-ipc's MessageQueue through `sysvmq exec` (scripts/py_sysv_ipc.py): typed
// send and receive, BusyError for block=False, current_messages, max_size, remove.
#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

TEST_F(CompatTest, PythonSysvIpcMessageQueueWorksUnchanged) {
  if (!have_file(kPython)) GTEST_SKIP() << "no " << kPython;
  const std::uint64_t before = requests_total();
  const Finished r = exec({kPython, kScripts + "py_sysv_ipc.py", "0x70793031"});
  if (r.err.find("No module named 'sysv_ipc'") != std::string::npos) {
    GTEST_SKIP() << "python3-sysv-ipc is not installed";
  }
  expect_checks_passed(
      r, {"absent_before", "create", "fresh", "crex_again_exists", "open_by_key",
          "current_messages", "last_send_pid", "receive_by_type", "receive_negative_type",
          "receive_binary", "last_receive_pid", "receive_nowait_busy", "max_size_set",
          "send_nowait_full_busy", "send_exact_fit", "removed", "send_after_remove_einval"});
  EXPECT_GE(requests_total() - before, 20u);
  EXPECT_TRUE(queues().empty()) << queues().dump();
}

}  // namespace
}  // namespace sysvmq::test
