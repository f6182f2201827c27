#include "tests/support/parked_calls.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "daemon/core/registry.hpp"

namespace sysvmq::test {

namespace {

constexpr auto kDeadline = std::chrono::seconds{10};

// ---------------------------------------------------------------- kernel: forked children

struct WireHeader {
  long ret;
  int err;
  std::int64_t mtype;
  std::uint64_t size;
};

bool write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

extern "C" void on_sigusr1(int) {}

class KernelParking final : public ParkingBackend {
 public:
  ~KernelParking() override {
    for (Child& c : children_) {
      if (!c.reaped) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
      }
      if (c.fd >= 0) close(c.fd);
    }
  }

  std::string_view name() const override { return "kernel"; }
  MsgBackend& direct() override { return direct_; }

  CallId start_msgsnd(const SndArgs& a, const CallOptions& o) override {
    return start(Blocking::msgsnd, o, [a](KernelBackend& k) { return k.msgsnd(a); });
  }
  CallId start_msgrcv(const RcvArgs& a, const CallOptions& o) override {
    return start(Blocking::msgrcv, o, [a](KernelBackend& k) { return k.msgrcv(a); });
  }

  bool parked(CallId id) override {
    Child& c = children_.at(id);
    if (c.answer || readable(c.fd, 0)) return false;
    return is_parked_in(c.pid, c.pid, c.kind);
  }

  OpResult result(CallId id) override {
    Child& c = children_.at(id);
    if (!c.answer) {
      if (!readable(c.fd, static_cast<int>(std::chrono::milliseconds(kDeadline).count()))) {
        OpResult none;
        none.parked = true;
        return none;
      }
      c.answer = read_answer(c.fd);
      waitpid(c.pid, nullptr, 0);
      c.reaped = true;
    }
    return *c.answer;
  }

  std::optional<bool> interrupt(CallId id) override {
    kill(children_.at(id).pid, SIGUSR1);
    return std::nullopt;
  }

  std::int32_t pid_of(CallId id) const override { return children_.at(id).pid; }
  std::optional<std::size_t> parked_count() const override { return std::nullopt; }

 private:
  struct Child {
    pid_t pid;
    int fd;
    Blocking kind;
    std::optional<OpResult> answer;
    bool reaped = false;
  };

  template <class Call>
  CallId start(Blocking kind, const CallOptions& o, Call call) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return fail_start(kind, errno);
    const pid_t pid = fork();
    if (pid < 0) {
      close(fds[0]);
      close(fds[1]);
      return fail_start(kind, errno);
    }
    if (pid == 0) {
      close(fds[0]);
      OpResult r = OpResult::error(EPERM);
      struct sigaction sa {};
      sa.sa_handler = on_sigusr1;
      sa.sa_flags = o.on_signal == OnSignal::handler_restart ? SA_RESTART : 0;
      sigemptyset(&sa.sa_mask);
      if (become_for_good(o.who) && sigaction(SIGUSR1, &sa, nullptr) == 0) {
        KernelBackend k;
        r = call(k);
      }
      const WireHeader h{r.ret, r.err, r.mtype, r.data.size()};
      const bool ok =
          write_all(fds[1], &h, sizeof h) && write_all(fds[1], r.data.data(), r.data.size());
      _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    children_.push_back(Child{pid, fds[0], kind, std::nullopt});
    const CallId id = children_.size() - 1;
    // Return once the child sleeps in the syscall (it is on the queue's list then) or
    // has answered. Polling /proc, with the pipe as the wait in between.
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!readable(fds[0], 0) && !is_parked_in(pid, pid, kind) &&
           std::chrono::steady_clock::now() < until) {
      readable(fds[0], 1);
    }
    return id;
  }

  CallId fail_start(Blocking kind, int err) {
    children_.push_back(Child{-1, -1, kind, OpResult::error(err), true});
    return children_.size() - 1;
  }

  static OpResult read_answer(int fd) {
    auto read_n = [fd](void* p, std::size_t n) {
      char* c = static_cast<char*>(p);
      while (n > 0) {
        const ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r;
        n -= static_cast<std::size_t>(r);
      }
      return true;
    };
    WireHeader h{};
    if (!read_n(&h, sizeof h) || h.size > kMaxTestMessage) return OpResult::error(EPIPE);
    OpResult r;
    r.ret = h.ret;
    r.err = h.err;
    r.mtype = h.mtype;
    r.data.resize(h.size);
    if (!read_n(r.data.data(), r.data.size())) return OpResult::error(EPIPE);
    return r;
  }

  KernelBackend direct_;
  std::vector<Child> children_;
};

// ---------------------------------------------------------------- core: parked calls

class CoreParking final : public ParkingBackend {
 public:
  CoreParking() : direct_(registry_) {}

  std::string_view name() const override { return "core"; }
  MsgBackend& direct() override { return direct_; }

  CallId start_msgsnd(const SndArgs& a, const CallOptions& o) override {
    const CallId id = calls_.size();
    calls_.push_back(Call{false, pid_for(id), 0, std::nullopt});
    settle(id, direct_.msgsnd_as(caller_for(o.who, calls_[id].pid), a));
    return id;
  }
  CallId start_msgrcv(const RcvArgs& a, const CallOptions& o) override {
    const CallId id = calls_.size();
    calls_.push_back(Call{true, pid_for(id), 0, std::nullopt});
    settle(id, direct_.msgrcv_as(caller_for(o.who, calls_[id].pid), a));
    return id;
  }

  bool parked(CallId id) override {
    drain();
    return !calls_.at(id).answer.has_value();
  }

  OpResult result(CallId id) override {
    drain();
    if (calls_.at(id).answer) return *calls_[id].answer;
    OpResult none;
    none.parked = true;
    return none;
  }

  std::optional<bool> interrupt(CallId id) override {
    drain();
    Call& c = calls_.at(id);
    const bool was_parked = registry_.cancel(c.waiter);
    // SEMANTICS 8.1: the daemon answers "cancelled" (EINTR) only if still parked.
    if (was_parked) c.answer = OpResult::error(EINTR);
    return was_parked;
  }

  std::int32_t pid_of(CallId id) const override { return calls_.at(id).pid; }
  std::optional<std::size_t> parked_count() const override { return registry_.parked_count(); }

 private:
  struct Call {
    bool receiver;
    std::int32_t pid;
    core::WaiterId waiter;
    std::optional<OpResult> answer;
  };

  // Pretend processes, distinct from the test's own pid.
  static std::int32_t pid_for(CallId id) { return 900000 + static_cast<std::int32_t>(id); }

  void settle(CallId id, const OpResult& r) {
    if (r.parked) {
      calls_[id].waiter = direct_.last_waiter();
      by_waiter_[calls_[id].waiter] = id;
    } else {
      calls_[id].answer = r;
    }
    drain();
  }

  void drain() {
    for (const core::Completion& c : registry_.take_completions()) {
      auto it = by_waiter_.find(c.waiter);
      if (it == by_waiter_.end()) continue;
      Call& call = calls_[it->second];
      call.answer = from_completion(c, call.receiver);
    }
  }

  core::Registry registry_;
  CoreBackend direct_;
  std::vector<Call> calls_;
  std::unordered_map<core::WaiterId, CallId> by_waiter_;
};

}  // namespace

std::unique_ptr<ParkingBackend> make_kernel_parking() { return std::make_unique<KernelParking>(); }
std::unique_ptr<ParkingBackend> make_core_parking() { return std::make_unique<CoreParking>(); }

}  // namespace sysvmq::test
