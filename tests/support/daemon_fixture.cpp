// daemon_fixture.cpp: see daemon_fixture.hpp.
#include "tests/support/daemon_fixture.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace sysvmq::test {

std::string daemon_path() {
  if (const char* env = std::getenv("SYSVMQ_DAEMON"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef SYSVMQ_DAEMON_PATH
  std::error_code ec;
  if (std::filesystem::exists(SYSVMQ_DAEMON_PATH, ec)) return SYSVMQ_DAEMON_PATH;
#endif
  return {};
}

bool can_connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string asan_options_for_memory_bounds() {
  const char* inherited = std::getenv("ASAN_OPTIONS");
  std::string v = "ASAN_OPTIONS=";
  if (inherited != nullptr && *inherited != '\0') v += std::string(inherited) + ":";
  return v + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
}

long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

Daemon::~Daemon() { remove_dir(); }

bool Daemon::start(std::string& why, const std::vector<std::string>& extra_args) {
  if (running()) {
    why = "already running";
    return false;
  }
  const std::string binary = daemon_path();
  if (binary.empty()) {
    why = "no sysvmqd binary (build the sysvmqd target or set SYSVMQ_DAEMON)";
    return false;
  }
  if (!make_dir(why)) return false;

  std::vector<std::string> args = {binary, "--socket", socket_path_, "--log-level", "warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // fork, not posix_spawn: the child must ask for PR_SET_PDEATHSIG before the exec, so a
  // test process that crashes or is killed takes its daemon along instead of leaving it
  // holding ctest's output pipe. Between fork and exec the child makes only syscalls
  // (everything it needs was built above).
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // prctl(2): the signal comes when the parent *thread* exits, so a Daemon must be
    // started on a thread that outlives it (gtest's main thread does). A parent that
    // died before the prctl is caught by the getppid() check.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    ::execve(binary.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!can_connect(socket_path_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why = "sysvmqd exited before listening (status " + std::to_string(status) + ")";
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      stop(SIGKILL);
      why = "sysvmqd did not listen on " + socket_path_ + " within 5 s";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool Daemon::make_dir(std::string& why) {
  if (!dir_.empty()) return true;
  std::string templ = (std::filesystem::temp_directory_path() / "sysvmq-test-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    why = std::string("mkdtemp: ") + std::strerror(errno);
    return false;
  }
  dir_ = templ;
  // Reachable by every user, as /run/sysvmq is: tests switch to other ids.
  ::chmod(dir_.c_str(), 0755);
  socket_path_ = dir_ + "/sysvmq.sock";
  return true;
}

std::optional<int> Daemon::stop(int signo) {
  if (!running()) return std::nullopt;
  ::kill(pid_, signo);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

void Daemon::remove_dir() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
    socket_path_.clear();
  }
}

void DaemonTest::SetUp() {
  if (daemon_path().empty()) GTEST_SKIP() << "no sysvmqd binary to test against";
  std::string why;
  ASSERT_TRUE(daemon_.start(why)) << why;
  if (const char* old = std::getenv("SYSVMQ_SOCKET")) saved_socket_env_ = old;
  ::setenv("SYSVMQ_SOCKET", daemon_.socket_path().c_str(), 1);
  socket_env_set_ = true;
}

void DaemonTest::TearDown() {
  daemon_.remove_dir();
  if (!socket_env_set_) return;
  socket_env_set_ = false;
  if (saved_socket_env_) {
    ::setenv("SYSVMQ_SOCKET", saved_socket_env_->c_str(), 1);
  } else {
    ::unsetenv("SYSVMQ_SOCKET");
  }
}

}  // namespace sysvmq::test
