// child_process.hpp: running a program for a test — argv, environment changes, stdin,
// its stdout and stderr captured through pipes, a time limit that kills it (and, if
// asked, its whole process group) so a hang fails one test instead of the suite.
// Also `eventually`: wait on an observable condition, never on a bare sleep.
// Used by tests/cli, tests/preload and tests/compat through their own small adapters.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sysvmq::test {

// Polls `pred` every millisecond until it holds or `limit` passes; the condition, not
// the time, is what a test waits on.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

// How a child finished.
struct Finished {
  int status = -1;  // exit status, 128 + signal, or -2 when killed for running too long
  std::string out, err;

  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) v.push_back(line);
    return v;
  }
  bool has_line(const std::string& line) const {
    for (const auto& l : lines()) {
      if (l == line) return true;
    }
    return false;
  }
  // The rest of the first line that starts with `prefix`, or nullopt.
  std::optional<std::string> after(const std::string& prefix) const {
    for (const auto& l : lines()) {
      if (l.starts_with(prefix)) return l.substr(prefix.size());
    }
    return std::nullopt;
  }
  std::string describe() const {
    return "status " + std::to_string(status) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

struct ChildOptions {
  // NAME and its value in the child, applied in order; nullopt unsets it.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  // Written to stdin, which is then closed; nullopt keeps stdin open for write_line().
  std::optional<std::string> input = std::string();
  bool close_other_fds = false;    // the child keeps only fds 0, 1 and 2
  bool own_process_group = false;  // the time limit kills the whole group
  std::function<void()> in_child;  // runs in the child just before exec (e.g. unshare)
  std::chrono::milliseconds limit = std::chrono::seconds(60);
};

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const ChildOptions& o = {})
      : group_(o.own_process_group), deadline_(std::chrono::steady_clock::now() + o.limit) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      if (group_) ::setpgid(0, 0);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (o.close_other_fds) ::syscall(SYS_close_range, 3u, ~0u, 0u);
      for (const auto& [name, value] : o.env) {
        if (value) {
          ::setenv(name.c_str(), value->c_str(), 1);
        } else {
          ::unsetenv(name.c_str());
        }
      }
      if (o.in_child) o.in_child();
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    if (group_) ::setpgid(pid_, pid_);  // either side may win the race; both ask the same
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    if (o.input) {
      for (std::size_t off = 0; off < o.input->size();) {
        const ssize_t n = ::write(in_, o.input->data() + off, o.input->size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      close_stdin();
    }
  }
  ~ChildProcess() {
    if (pid_ > 0 && !done_) {
      kill_child();
      finish();
    }
    close_stdin();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  void write_line(const std::string& line = "go") {
    const std::string s = line + "\n";
    (void)!::write(in_, s.data(), s.size());
  }

  // The next line of stdout, or nullopt when none came within `limit`.
  std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Closes stdin, reads stdout and stderr to their end and waits for the child; past
  // the time limit it is killed and the status is -2.
  Finished finish() {
    Finished r;
    done_ = true;
    if (pid_ <= 0) return r;
    close_stdin();
    r.out = std::move(pending_);
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    bool killed = false;
    for (int open = 2; open > 0;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        if (killed) break;  // something outside the child still holds a pipe
        kill_child();
        killed = true;
        deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        continue;
      }
      const int n = ::poll(fds, 2, static_cast<int>(left.count()));
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < 2 && n > 0; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          sinks[i]->append(buf, static_cast<std::size_t>(got));
        } else {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        }
      }
    }
    for (auto& f : fds) {
      if (f.fd >= 0) ::close(f.fd);
    }
    // The pipes closed: the child is ending; it still gets only the rest of its time.
    int st = 0;
    while (!killed && ::waitpid(pid_, &st, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() >= deadline_) {
        kill_child();
        killed = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (killed) {
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      r.status = -2;
      r.err += "[test: killed after running past its limit]\n";
    } else {
      r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return r;
  }

 private:
  void kill_child() { ::kill(group_ ? -pid_ : pid_, SIGKILL); }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  bool group_;
  std::chrono::steady_clock::time_point deadline_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool done_ = false;
  std::string pending_;
};

inline Finished run_child(const std::vector<std::string>& argv, const ChildOptions& o = {}) {
  ChildProcess c(argv, o);
  return c.finish();
}

}  // namespace sysvmq::test
