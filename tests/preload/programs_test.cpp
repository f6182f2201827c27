// The shim as a file and with real programs: what it exports and needs, ipcmk/ipcrm and
// `sysvmq exec` through it, and a control showing that the kernel-table check used by
// every preload test does see a queue the kernel holds.
#include <filesystem>
#include <regex>
#include <set>

#include "tests/preload/preload_util.hpp"

namespace sysvmq::test {
namespace {

using Lines = std::vector<std::string>;

std::set<std::string> words_at(const std::string& text, int column) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (column < 0 && !f.empty()) out.insert(f.back());
    if (column >= 0 && static_cast<std::size_t>(column) < f.size()) out.insert(f[column]);
  }
  return out;
}

bool have_tool(const std::string& name) {
  return run({"sh", "-c", "command -v " + name}, no_shim()).status == 0;
}

// Exactly the four msg* calls and dlopen (deepbind.cpp); no sem*/shm*, nothing of the C
// API, proto/ or libstdc++.
TEST(PreloadShimFile, ExportsExactlyTheFourMsgCallsAndDlopen) {
  if (!have_tool("nm")) GTEST_SKIP() << "no nm";
  const Finished nm = run({"nm", "-D", "--defined-only", kShim}, no_shim());
  ASSERT_EQ(nm.status, 0) << nm.describe();
  EXPECT_EQ(words_at(nm.out, -1),
            (std::set<std::string>{"dlopen", "msgctl", "msgget", "msgrcv", "msgsnd"}))
      << nm.out;
  // Plain text symbols, unversioned: they bind the probe's msgget@GLIBC_2.2.5 etc.
  for (const auto& line : Finished{0, nm.out, ""}.lines()) {
    EXPECT_TRUE(std::regex_match(line, std::regex("[0-9a-f]+ T (msg(get|snd|rcv|ctl)|dlopen)")))
        << line;
  }
}

TEST(PreloadShimFile, NeedsNothingButLibcAndTheUnwinder) {
  if (!have_tool("readelf")) GTEST_SKIP() << "no readelf";
  const Finished elf = run({"readelf", "-d", kShim}, no_shim());
  ASSERT_EQ(elf.status, 0) << elf.describe();
  static const std::regex needed(R"(\(NEEDED\).*\[(.*)\])");
  const std::set<std::string> allowed = {"libc.so.6", "libgcc_s.so.1", "libm.so.6",
                                         "ld-linux-x86-64.so.2"};
  int count = 0;
  for (const auto& line : Finished{0, elf.out, ""}.lines()) {
    std::smatch m;
    if (!std::regex_search(line, m, needed)) continue;
    ++count;
    EXPECT_TRUE(allowed.contains(m[1].str())) << "needs " << m[1];
  }
  EXPECT_GT(count, 0) << elf.out;
}

// What the shim calls must not be something fakeroot (or a similar preload library)
// wraps. The one name in common, stat, belongs to sysvmq_ftok, which the shim never
// calls (linked in with the rest of the C API's objects).
TEST(PreloadShimFile, CallsNothingFakerootWraps) {
  const std::string fakeroot_lib = "/usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so";
  if (!have_tool("nm") || !std::filesystem::exists(fakeroot_lib)) {
    GTEST_SKIP() << "no nm or no " << fakeroot_lib;
  }
  const Finished ours = run({"nm", "-D", "--undefined-only", kShim}, no_shim());
  const Finished theirs = run({"nm", "-D", "--defined-only", fakeroot_lib}, no_shim());
  std::set<std::string> wrapped;
  for (const auto& w : words_at(theirs.out, -1)) wrapped.insert(w.substr(0, w.find('@')));
  std::set<std::string> common;
  for (const auto& w : words_at(ours.out, -1)) {
    const std::string name = w.substr(0, w.find('@'));
    if (wrapped.contains(name)) common.insert(name);
  }
  EXPECT_EQ(common, (std::set<std::string>{"stat"}));
}

// ---- programs -----------------------------------------------------------------------------

using PreloadProgramsTest = PreloadTest;

// The check every preload test ends with does see the kernel: the probe without the
// shim creates a kernel queue in this test's namespace.
TEST_F(PreloadProgramsTest, KernelTableCheckSeesAKernelQueue) {
  const Finished made = run(probe_argv({"get", "0", "01600"}), no_shim());
  ASSERT_EQ(made.status, 0) << made.describe();
  EXPECT_EQ(kernel_queue_count(), 1);
  EXPECT_EQ(daemon_queues(), 0);
  const Finished removed = run(probe_argv({"rmid", made.lines().at(0).substr(4)}), no_shim());
  EXPECT_EQ(removed.lines(), Lines{"rmid 0"}) << removed.describe();
  EXPECT_EQ(kernel_queue_count(), 0);
}

// SEMANTICS.md 8.9: ipcmk and ipcrm call msgget/msgctl through libc, so under the shim
// they act on the daemon (ipcs, which reads /proc, does not).
TEST_F(PreloadProgramsTest, IpcmkAndIpcrmActOnTheDaemon) {
  if (!have_tool("ipcmk") || !have_tool("ipcrm")) GTEST_SKIP() << "no ipcmk/ipcrm";
  const Finished mk = run({"ipcmk", "-Q", "-p", "0640"});
  ASSERT_EQ(mk.status, 0) << mk.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(mk.out, m, std::regex("Message queue id: ([0-9]+)\n"))) << mk.out;
  const std::string id = m[1].str();
  EXPECT_EQ(daemon_queues(), 1);
  EXPECT_EQ(run(probe_argv({"stat", id})).lines(),
            Lines{"stat 0 qnum=0 mode=0640 uid=0 gid=0 cuid=0"});

  const Finished rm = run({"ipcrm", "-q", id});
  EXPECT_EQ(rm.status, 0) << rm.describe();
  EXPECT_EQ(rm.err, "");
  EXPECT_EQ(daemon_queues(), 0);
  // Gone: the daemon says EINVAL, which ipcrm reports as an invalid id.
  const Finished again = run({"ipcrm", "-q", id});
  EXPECT_NE(again.status, 0) << again.describe();
  EXPECT_NE(again.err.find("invalid id"), std::string::npos) << again.err;
}

// `sysvmq exec` finds the shim beside itself (build/lib) and points SYSVMQ_SOCKET at the
// daemon; the probe's calls reach it.
TEST_F(PreloadProgramsTest, SysvmqExecRunsAProgramWithTheShim) {
  const std::filesystem::path beside =
      (std::filesystem::path(kCli).parent_path() / ".." / "lib" / "libsysvmq_preload.so")
          .lexically_normal();
  ASSERT_TRUE(std::filesystem::equivalent(beside, kShim)) << beside << " vs " << kShim;
  const long before = stat_of("connections_total");
  const Finished r = run({kCli, "--socket", sock(), "exec", "--", kProbe, "get", "0", "01600",
                          "send", "@", "1", "via-exec", "recv", "@", "0", "rmid", "@"},
                         with_env({{"SYSVMQ_SOCKET", std::nullopt}}, false));
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(without_ids(r.lines()), (Lines{"get ID", "send 0", "recv 8 1 via-exec", "rmid 0"}));
  EXPECT_EQ(r.err, "");
  // The probe's connection, and the one that asks.
  EXPECT_EQ(stat_of("connections_total") - before, 2);
}

// A library opened with RTLD_DEEPBIND (PHP opens every extension so) would find libc's
// msgget before the shim's; the shim clears the flag, so it reaches the daemon.
TEST_F(PreloadProgramsTest, ALibraryOpenedWithDeepbindStillReachesTheDaemon) {
  const Finished r = run({SYSVMQ_DEEPBIND_PROBE_PATH, SYSVMQ_DEEPBIND_PLUGIN_PATH});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.lines(), Lines{"msgget 0"}) << r.describe();  // the daemon's first queue
  EXPECT_EQ(daemon_queues(), 1);
  EXPECT_EQ(kernel_queue_count(), 0);
  // Without the shim the same program reaches the kernel: the check can tell.
  const Finished k = run({SYSVMQ_DEEPBIND_PROBE_PATH, SYSVMQ_DEEPBIND_PLUGIN_PATH}, no_shim());
  ASSERT_EQ(k.status, 0) << k.describe();
  EXPECT_EQ(kernel_queue_count(), 1);
  run(probe_argv({"rmid", k.lines().at(0).substr(7)}), no_shim());
  EXPECT_EQ(kernel_queue_count(), 0);
}

}  // namespace
}  // namespace sysvmq::test
