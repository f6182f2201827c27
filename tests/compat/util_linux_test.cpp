// util-linux through `sysvmq exec`: ipcmk -Q and ipcrm -q/-Q act on the daemon, while
// ipcs -q, which reads /proc/sysvipc/msg, keeps showing the kernel's (empty) table: the
// documented difference of SEMANTICS.md 8.9.
#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

// The data rows of `ipcs -q`: lines that start with a key ("0x…").
std::vector<std::string> ipcs_rows(const Finished& r) {
  std::vector<std::string> rows;
  for (const auto& l : r.lines()) {
    if (l.starts_with("0x")) rows.push_back(l);
  }
  return rows;
}

TEST_F(CompatTest, IpcmkAndIpcrmActOnTheDaemonWhileIpcsShowsTheKernel) {
  if (!have_file("/usr/bin/ipcmk") || !have_file("/usr/bin/ipcrm") || !have_file("/usr/bin/ipcs")) {
    GTEST_SKIP() << "no ipcmk/ipcrm/ipcs";
  }
  const Finished first = exec({"ipcmk", "-Q"});
  ASSERT_EQ(first.status, 0) << first.describe();
  const auto first_id = first.after("Message queue id: ");
  ASSERT_TRUE(first_id) << first.out;
  EXPECT_EQ(*first_id, "0") << "the daemon's first queue";
  const Finished second = exec({"ipcmk", "-Q", "-p", "0640"});
  ASSERT_EQ(second.status, 0) << second.describe();
  const auto second_id = second.after("Message queue id: ");
  ASSERT_TRUE(second_id) << second.out;

  auto list = queues();
  ASSERT_EQ(list.size(), 2u) << list.dump();
  EXPECT_EQ(list[0]["msqid"], 0);
  EXPECT_EQ(list[0]["mode"], 0644);  // ipcmk's default
  EXPECT_EQ(list[1]["msqid"], std::stoi(*second_id));
  EXPECT_EQ(list[1]["mode"], 0640);
  const std::int32_t second_key = list[1]["key"];

  // 8.9: ipcs reads the kernel's proc file, with or without the shim.
  for (const bool shim : {false, true}) {
    const Finished ipcs = shim ? exec({"ipcs", "-q"}) : run({"ipcs", "-q"});
    EXPECT_EQ(ipcs.status, 0) << ipcs.describe();
    EXPECT_NE(ipcs.out.find("Message Queues"), std::string::npos) << ipcs.out;
    EXPECT_TRUE(ipcs_rows(ipcs).empty()) << (shim ? "under the shim\n" : "") << ipcs.out;
  }

  const Finished by_id = exec({"ipcrm", "-q", *first_id});
  EXPECT_EQ(by_id.status, 0) << by_id.describe();
  char key_text[16];
  std::snprintf(key_text, sizeof key_text, "0x%08x", static_cast<unsigned>(second_key));
  const Finished by_key = exec({"ipcrm", "-Q", key_text});
  EXPECT_EQ(by_key.status, 0) << by_key.describe();
  EXPECT_TRUE(queues().empty()) << queues().dump();

  // Rule 1.9: a removed id is EINVAL, which ipcrm reports and exits 1 for.
  const Finished again = exec({"ipcrm", "-q", *first_id});
  EXPECT_EQ(again.status, 1) << again.describe();
  EXPECT_NE(again.err.find("invalid"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace sysvmq::test
