// daemon_fixture.hpp: a real sysvmqd for a test — started on a socket in a fresh
// temporary directory, ready once connect() succeeds, stopped with SIGTERM.
// Not here: the client library (tests reach the daemon through client/ or raw sockets).
// Used by tests/integration and any later suite that needs a live daemon.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace sysvmq::test {

// The sysvmqd binary under test: $SYSVMQ_DAEMON if set, else the one this build made
// (compile definition SYSVMQ_DAEMON_PATH); "" when there is none.
std::string daemon_path();

class Daemon {
 public:
  Daemon() = default;
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts sysvmqd with `extra_args` on <dir>/sysvmq.sock, making the directory on the
  // first start (a restart reuses it), and waits up to 5 s until connect() succeeds.
  // false and `why` when it could not.
  bool start(std::string& why, const std::vector<std::string>& extra_args = {});

  // Makes the directory now (start() does it otherwise), e.g. to put a --config file
  // there before the first start. false and `why` when it could not.
  bool make_dir(std::string& why);

  // SIGTERM (or `signo`), then waits for the process. Its wait status, or nullopt if
  // it was not running. The directory stays until remove_dir() or destruction.
  std::optional<int> stop(int signo = 15);

  // Stops the daemon if needed and removes the directory with everything in it.
  void remove_dir();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& socket_path() const { return socket_path_; }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string socket_path_;
};

// True when a connect() to `path` succeeds now.
bool can_connect(const std::string& path);

// "ASAN_OPTIONS=…" for a daemon whose peak memory a test bounds: the inherited options
// with ASan's quarantine off. The quarantine keeps freed memory resident (256 MB by
// default), so such a bound would measure the quarantine, not the daemon. Builds without
// ASan ignore the variable.
std::string asan_options_for_memory_bounds();

// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), or -1.
long status_kib(pid_t pid, const std::string& field);

// A test with its own daemon: SetUp starts one and points SYSVMQ_SOCKET at it (skipping
// the test when no daemon binary exists); TearDown stops it and restores the variable.
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  Daemon daemon_;

 private:
  bool socket_env_set_ = false;
  std::optional<std::string> saved_socket_env_;
};

}  // namespace sysvmq::test
