// compat_util.hpp: running unmodified third-party programs (php, perl, python3,
// stress-ng, fakeroot-sysv, util-linux) through `sysvmq exec` against a daemon of the
// test's own, and proving the kernel saw nothing: every test runs in a private IPC
// namespace in which no kernel message queue may ever have existed.
// Not here: the daemon process (tests/support/daemon_fixture.hpp); the shim's own
// call-by-call behaviour (tests/preload/).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {

inline const std::string kShim = SYSVMQ_PRELOAD_PATH;
inline const std::string kCli = SYSVMQ_CLI_PATH;
inline const std::string kScripts = std::string(SYSVMQ_SOURCE_DIR) + "/tests/compat/scripts/";
inline const std::string kExamples = std::string(SYSVMQ_SOURCE_DIR) + "/examples/";
// Debian's interpreter, which has python3-sysv-ipc; not whatever python3 PATH finds first.
inline const std::string kPython = "/usr/bin/python3";

inline bool have_file(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// A program in a process group of its own, stdin empty, stdout and stderr in pipes; one
// that runs past its limit is killed with its whole group, so a hang fails one test
// instead of the suite.
inline ChildOptions compat_options(std::chrono::seconds limit) {
  ChildOptions o;
  o.own_process_group = true;
  o.limit = limit;
  return o;
}

class Program : public ChildProcess {
 public:
  explicit Program(const std::vector<std::string>& argv,
                   std::chrono::seconds limit = std::chrono::seconds(60))
      : ChildProcess(argv, compat_options(limit)) {}
};

inline Finished run(const std::vector<std::string>& argv,
                    std::chrono::seconds limit = std::chrono::seconds(60)) {
  return run_child(argv, compat_options(limit));
}


// The kernel's message-queue table of this process's IPC namespace.
struct KernelTable {
  int rows = 0;             // lines of /proc/sysvipc/msg after its header
  int msg_info_queues = 0;  // MSG_INFO's msgpool: the number of queues (Rule 4.9)
};
inline KernelTable kernel_table() {
  KernelTable t{};
  std::ifstream in("/proc/sysvipc/msg");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.find_first_not_of(' ') != std::string::npos) ++t.rows;
  }
  msginfo info{};
  // A raw syscall: the kernel answers, whatever is preloaded.
  const long rc = ::syscall(SYS_msgctl, 0, MSG_INFO, &info);
  t.msg_info_queues = rc < 0 ? -1 : info.msgpool;
  return t;
}

// The id the kernel gives a new private queue here (created and removed at once). In a
// fresh namespace that is 0, and it is 0 only if no queue ever existed in it: slots are
// handed out cyclically, so after any creation the next id is above it (Rule 1.8).
inline long kernel_next_id() {
  const long id = ::syscall(SYS_msgget, IPC_PRIVATE, 0600);
  if (id >= 0) ::syscall(SYS_msgctl, id, IPC_RMID, nullptr);
  return id;
}

inline nlohmann::json parse_json(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// A daemon of the test's own in a private IPC namespace of the test's own. The test
// runs programs with exec(); TearDown checks the namespace never held a kernel queue.
class CompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare(CLONE_NEWIPC))";
    if (!std::filesystem::exists(kShim)) GTEST_SKIP() << "no shim at " << kShim;
    // A new namespace per test: whatever an earlier test in this process did is gone.
    ASSERT_EQ(::unshare(CLONE_NEWIPC), 0) << std::strerror(errno);
    in_namespace_ = true;
    const KernelTable t = kernel_table();
    ASSERT_EQ(t.rows, 0);
    ASSERT_EQ(t.msg_info_queues, 0);
    std::string why;
    ASSERT_TRUE(daemon_.start(why)) << why;
  }

  void TearDown() override {
    daemon_.remove_dir();
    if (!in_namespace_) return;
    const KernelTable t = kernel_table();
    EXPECT_EQ(t.rows, 0) << "a queue is left in the kernel's /proc/sysvipc/msg";
    EXPECT_EQ(t.msg_info_queues, 0) << "MSG_INFO counts kernel queues";
    EXPECT_EQ(kernel_next_id(), 0) << "a kernel queue existed in this namespace at some point";
  }

  const std::string& sock() const { return daemon_.socket_path(); }

  // `sysvmq --socket <sock> args…`
  Finished cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {kCli, "--socket", sock()});
    return run(args);
  }
  // `sysvmq --socket <sock> exec -- command…`
  std::vector<std::string> exec_argv(std::vector<std::string> command) const {
    command.insert(command.begin(), {kCli, "--socket", sock(), "exec", "--"});
    return command;
  }
  Finished exec(std::vector<std::string> command,
                std::chrono::seconds limit = std::chrono::seconds(60)) const {
    return run(exec_argv(std::move(command)), limit);
  }

  // The daemon's ADMIN "stats" (`sysvmq stats --json`); null when it failed.
  nlohmann::json stats() const {
    const Finished r = cli({"stats", "--json"});
    return r.status == 0 ? parse_json(r.out) : nlohmann::json();
  }
  // The daemon's ADMIN "queues" list (`sysvmq ls --json`); an empty array when it failed.
  nlohmann::json queues() const {
    const Finished r = cli({"ls", "--json"});
    const auto j = r.status == 0 ? parse_json(r.out) : nlohmann::json();
    return j.is_object() && j.contains("queues") ? j["queues"] : nlohmann::json::array();
  }
  // The daemon's queue with `key`, or null.
  nlohmann::json queue_with_key(std::int32_t key) const {
    for (const auto& q : queues()) {
      if (q.value("key", 0) == key) return q;
    }
    return nullptr;
  }
  std::uint64_t requests_total() const { return stats().value("requests_total", 0ULL); }
  // Waits until exactly `n` calls are parked in the daemon.
  bool parked_calls_reach(std::uint64_t n) const {
    return eventually([&] { return stats().value("parked_calls", ~0ULL) == n; });
  }

  // A fresh directory that user `uid` owns, inside the daemon's directory (0755), for
  // programs that run as another user. Removed with the daemon's directory.
  std::string work_dir_for(uid_t uid) {
    const std::string dir = daemon_.dir() + "/work";
    std::filesystem::create_directories(dir);
    EXPECT_EQ(::chown(dir.c_str(), uid, uid), 0) << std::strerror(errno);
    return dir;
  }

  Daemon daemon_;

 private:
  bool in_namespace_ = false;
};

// `print_r` of flat arrays, as PHP prints msg_stat_queue: each array's (key, value)
// pairs in order.
using PrintR = std::vector<std::vector<std::pair<std::string, std::string>>>;
inline PrintR parse_print_r(const std::string& out) {
  PrintR arrays;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line == "Array") {
      arrays.emplace_back();
      continue;
    }
    const auto open = line.find('[');
    const auto arrow = line.find("] => ");
    if (arrays.empty() || open == std::string::npos || arrow == std::string::npos) continue;
    arrays.back().emplace_back(line.substr(open + 1, arrow - open - 1), line.substr(arrow + 5));
  }
  return arrays;
}
inline std::map<std::string, std::string> as_map(
    const std::vector<std::pair<std::string, std::string>>& v) {
  return {v.begin(), v.end()};
}

// A script's "ok <check>" lines; every name in `expected` must be there, and no line may
// start with FAIL.
inline void expect_checks_passed(const Finished& r, const std::vector<std::string>& expected) {
  EXPECT_EQ(r.status, 0) << r.describe();
  for (const auto& l : r.lines()) EXPECT_FALSE(l.starts_with("FAIL")) << l;
  for (const auto& name : expected) EXPECT_TRUE(r.has_line("ok " + name)) << name << "\n" << r.out;
}

}  // namespace sysvmq::test
