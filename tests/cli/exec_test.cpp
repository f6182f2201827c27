// `sysvmq exec`: where it looks for the preload shim, the LD_PRELOAD and SYSVMQ_SOCKET it
// hands to the command, and the exit statuses of env(1) (126, 127). The shim's own
// behaviour is tested with the shim; here a copy of the CLI in a temporary tree finds an
// empty stand-in file, which ld.so reports and ignores.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/cli/cli_util.hpp"

namespace sysvmq::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kShim = "libsysvmq_preload.so";
constexpr const char* kShowEnv = "printf '%s|%s\\n' \"$LD_PRELOAD\" \"$SYSVMQ_SOCKET\"";

// A copy of the CLI at <tmp>/tree/bin/sysvmq: it searches <tmp>/tree/lib first.
class ExecTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (HasFatalFailure()) return;
    tree_ = fs::path(dir_.path()) / "tree";
    fs::create_directories(tree_ / "bin");
    fs::copy_file(kCli, tree_ / "bin" / "sysvmq");
    cli_copy_ = (tree_ / "bin" / "sysvmq").string();
  }

  fs::path place_shim(const fs::path& dir) {
    fs::create_directories(dir);
    const fs::path p = dir / kShim;
    std::ofstream(p).flush();
    return p;
  }

  ProcessResult exec_copy(std::vector<std::string> command, const RunOptions& o = {}) {
    command.insert(command.begin(), {cli_copy_, "--socket", sock(), "exec", "--"});
    return run(command, o);
  }

  // The paths a failed search names, in order.
  static std::vector<std::string> looked_at(const std::string& err) {
    const std::string marker = "looked for ";
    const auto at = err.find(marker);
    std::vector<std::string> paths;
    if (at == std::string::npos) return paths;
    std::string list = err.substr(at + marker.size());
    if (!list.empty() && list.back() == '\n') list.pop_back();
    for (std::size_t pos = 0;;) {
      const auto comma = list.find(", ", pos);
      paths.push_back(list.substr(pos, comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 2;
    }
    return paths;
  }

  fs::path tree_;
  std::string cli_copy_;
};

TEST_F(ExecTest, WithoutTheShimItSaysWhereItLooked) {
  const ProcessResult r = exec_copy({"true"});
  if (r.status == 0) GTEST_SKIP() << "a shim is installed in the libdir this CLI was built for";
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(r.err.starts_with("sysvmq: cannot find libsysvmq_preload.so; looked for ")) << r.err;
  const auto paths = looked_at(r.err);
  ASSERT_GE(paths.size(), 2u) << r.err;
  EXPECT_EQ(paths.front(), (tree_ / "lib" / kShim).string());
  for (const auto& p : paths) {
    EXPECT_TRUE(p.starts_with("/") && p.ends_with(std::string("/") + kShim)) << p;
    EXPECT_FALSE(fs::exists(p)) << p;
  }
}

TEST_F(ExecTest, AddsTheShimToLdPreloadAndSetsTheSocket) {
  const fs::path shim = place_shim(tree_ / "lib");
  ProcessResult r = exec_copy({"sh", "-c", kShowEnv}, {{{"LD_PRELOAD", std::nullopt}}, ""});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, shim.string() + "|" + sock() + "\n");

  // Appended to what is there, which ld.so splits at spaces and colons alike.
  r = exec_copy({"sh", "-c", kShowEnv}, {{{"LD_PRELOAD", "/nowhere/a.so /nowhere/b.so"}}, ""});
  EXPECT_EQ(r.out, "/nowhere/a.so /nowhere/b.so:" + shim.string() + "|" + sock() + "\n");
  r = exec_copy({"sh", "-c", kShowEnv}, {{{"LD_PRELOAD", "/nowhere/a.so:"}}, ""});
  EXPECT_EQ(r.out, "/nowhere/a.so:" + shim.string() + "|" + sock() + "\n");
  r = exec_copy({"sh", "-c", kShowEnv}, {{{"LD_PRELOAD", " : "}}, ""});
  EXPECT_EQ(r.out, shim.string() + "|" + sock() + "\n");
  // Already there (a nested exec): left alone.
  r = exec_copy({"sh", "-c", kShowEnv}, {{{"LD_PRELOAD", shim.string() + " /nowhere/c.so"}}, ""});
  EXPECT_EQ(r.out, shim.string() + " /nowhere/c.so|" + sock() + "\n");
}

TEST_F(ExecTest, TheSocketComesFromTheEnvironmentWithoutSocketOption) {
  const fs::path shim = place_shim(tree_ / "lib");
  const ProcessResult r = run({cli_copy_, "exec", "sh", "-c", kShowEnv},
                    {{{"SYSVMQ_SOCKET", "/elsewhere/s.sock"}, {"LD_PRELOAD", std::nullopt}}, ""});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, shim.string() + "|/elsewhere/s.sock\n");
  const ProcessResult d = run({cli_copy_, "exec", "sh", "-c", kShowEnv},
                    {{{"SYSVMQ_SOCKET", std::nullopt}, {"LD_PRELOAD", std::nullopt}}, ""});
  EXPECT_EQ(d.out, shim.string() + "|/run/sysvmq/sysvmq.sock\n");
}

TEST_F(ExecTest, FindsTheShimInTheMultiarchDirectory) {
  const auto paths = looked_at(exec_copy({"true"}).err);
  if (paths.size() < 3) GTEST_SKIP() << "built without a multiarch triplet";
  const fs::path shim = place_shim(fs::path(paths[1]).parent_path());
  const ProcessResult r = exec_copy({"sh", "-c", kShowEnv}, {{{"LD_PRELOAD", std::nullopt}}, ""});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, shim.string() + "|" + sock() + "\n");
}

TEST_F(ExecTest, PassesArgumentsAndTheExitStatusThrough) {
  place_shim(tree_ / "lib");
  const ProcessResult r = exec_copy({"sh", "-c", "echo \"$1-$2\"; exit 7", "sh", "-x", "--y"});
  EXPECT_EQ(r.status, 7) << describe(r);
  EXPECT_EQ(r.out, "-x---y\n");
}

TEST_F(ExecTest, ExitsOneHundredTwentySevenOrSixForACommandItCannotRun) {
  place_shim(tree_ / "lib");
  ProcessResult r = exec_copy({"/nonexistent/command"});
  EXPECT_EQ(r.status, 127);
  EXPECT_NE(r.err.find("sysvmq: failed to execute /nonexistent/command: No such file or directory\n"),
            std::string::npos)
      << r.err;
  const std::string not_executable = dir_.file("not-executable");
  std::ofstream(not_executable) << "#!/bin/sh\n";
  ::chmod(not_executable.c_str(), 0644);
  r = exec_copy({not_executable});
  EXPECT_EQ(r.status, 126);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

// The CLI of this build: with the shim target built beside it, the real thing; before
// that, the error that names build/lib.
TEST_F(ExecTest, TheBuiltCliUsesTheBuiltShim) {
  const fs::path beside = (fs::path(kCli).parent_path() / ".." / "lib" / kShim).lexically_normal();
  const ProcessResult r = run({kCli, "--socket", sock(), "exec", "--", "sh", "-c", kShowEnv},
                    {{{"LD_PRELOAD", std::nullopt}}, ""});
  if (fs::exists(beside)) {
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_EQ(r.out, beside.string() + "|" + sock() + "\n");
  } else {
    EXPECT_EQ(r.status, 1) << describe(r);
    EXPECT_EQ(looked_at(r.err).at(0), beside.string()) << r.err;
  }
}

}  // namespace
}  // namespace sysvmq::test
