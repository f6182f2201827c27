// workloads.cpp: the workloads as processes. Each repetition forks its producers and
// consumers, lets them connect and touch the queue, then opens a gate and times until the
// last one exits. Children record what they received in shared memory; the parent checks
// it. See workloads.hpp.
#include "bench/workloads.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <sysvmq/client.hpp>

#include "bench/payload.hpp"
#include "bench/redis.hpp"

namespace sysvmq::bench {
namespace {

volatile sig_atomic_t g_alarm = 0;
void on_alarm(int) { g_alarm = 1; }

double now_s() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::uint64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

double children_cpu_s() {
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  auto s = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// Anonymous shared memory, visible to the children forked after it was made.
class Mapping {
 public:
  explicit Mapping(std::size_t bytes) : bytes_(std::max<std::size_t>(bytes, 1)) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    addr_ = p;
  }
  ~Mapping() { ::munmap(addr_, bytes_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  template <class T>
  T* as() {
    return static_cast<T*>(addr_);
  }

 private:
  std::size_t bytes_;
  void* addr_;
};

// What the children report: a count of receipts per (producer, seq) and the first error.
struct Ledger {
  std::atomic<std::uint64_t> errors{0};
  std::atomic<int> claimed{0};
  char first_error[256] = {};
};

class Tally {
 public:
  explicit Tally(std::size_t slots) : map_(sizeof(Ledger) + slots), slots_(slots) {
    new (map_.as<Ledger>()) Ledger();
  }
  Ledger& ledger() { return *map_.as<Ledger>(); }
  unsigned char* seen() { return map_.as<unsigned char>() + sizeof(Ledger); }
  void mark(std::size_t slot) {
    std::atomic_ref<unsigned char>(seen()[slot]).fetch_add(1, std::memory_order_relaxed);
  }
  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (ledger().claimed.exchange(1) == 0) {
      va_list ap;
      va_start(ap, fmt);
      std::vsnprintf(ledger().first_error, sizeof ledger().first_error, fmt, ap);
      va_end(ap);
    }
    ledger().errors.fetch_add(1);
  }
  // false and `why` unless every slot was received exactly once and nothing failed.
  bool verify(std::string& why) {
    if (ledger().errors.load() != 0) {
      why = ledger().first_error;
      if (ledger().errors.load() > 1)
        why += " (and " + std::to_string(ledger().errors.load() - 1) + " more errors)";
      return false;
    }
    std::size_t lost = 0, duplicated = 0, first_bad = slots_;
    for (std::size_t i = 0; i < slots_; ++i) {
      unsigned char n = std::atomic_ref<unsigned char>(seen()[i]).load();
      if (n == 1) continue;
      (n == 0 ? lost : duplicated) += 1;
      first_bad = std::min(first_bad, i);
    }
    if (lost == 0 && duplicated == 0) return true;
    why = std::to_string(lost) + " messages lost and " + std::to_string(duplicated) +
          " duplicated of " + std::to_string(slots_) + " (first: message #" +
          std::to_string(first_bad) + ")";
    return false;
  }

 private:
  Mapping map_;
  std::size_t slots_;
};

// The processes of one repetition: each is forked, does its set-up, says it is ready and
// waits at a gate; go() opens the gate for all at once.
class Crew {
 public:
  using Body = std::function<int(const std::function<void()>& ready)>;

  Crew() {
    if (::pipe2(gate_, O_CLOEXEC) != 0 || ::pipe2(ready_, O_CLOEXEC) != 0) throw std::bad_alloc();
  }
  ~Crew() {
    kill_all();
    for (int fd : {gate_[0], gate_[1], ready_[0], ready_[1]})
      if (fd >= 0) ::close(fd);
  }
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;

  // The child runs `body` and _exit()s with its result: it never returns here.
  pid_t spawn(const Body& body) {
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no stray workers if the bench is killed
      ::close(gate_[1]);
      ::close(ready_[0]);
      int gate = gate_[0], ready = ready_[1];
      int rc = body([gate, ready] {
        char c = 'r';
        if (::write(ready, &c, 1) != 1) ::_exit(3);
        while (::read(gate, &c, 1) < 0 && errno == EINTR) {
        }
      });
      ::_exit(rc);
    }
    pids_.push_back(pid);
    return pid;
  }

  // Waits until every spawned child is ready; false if one died first.
  bool wait_ready() {
    ::close(ready_[1]);
    ready_[1] = -1;
    std::size_t n = 0;
    char buf[64];
    while (n < pids_.size()) {
      ssize_t r = ::read(ready_[0], buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      n += static_cast<std::size_t>(r);
    }
    return true;
  }

  void go(unsigned timeout_s) {
    g_alarm = 0;
    ::alarm(timeout_s);
    ::close(gate_[1]);
    gate_[1] = -1;
  }

  // Waits for `pid`; false when it failed or the alarm rang (then everyone is killed).
  bool wait(pid_t pid, std::string& why) {
    int status = 0;
    for (;;) {
      if (::waitpid(pid, &status, 0) == pid) break;
      if (errno == EINTR && !g_alarm) continue;
      why = g_alarm ? "timed out: a message was lost or a process hung"
                    : std::string("waitpid: ") + std::strerror(errno);
      kill_all();
      return false;
    }
    std::erase(pids_, pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    why = WIFEXITED(status) ? "a process exited with status " + std::to_string(WEXITSTATUS(status))
                            : "a process died of signal " + std::to_string(WTERMSIG(status));
    return false;
  }

  bool wait_all(std::string& why) {
    while (!pids_.empty())
      if (!wait(pids_.front(), why)) return false;
    ::alarm(0);
    return true;
  }

  void kill_all() {
    ::alarm(0);
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (pid_t pid : pids_) {
      int status;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    pids_.clear();
  }

 private:
  int gate_[2] = {-1, -1};
  int ready_[2] = {-1, -1};
  std::vector<pid_t> pids_;
};

// The queue of one repetition, removed when it ends.
struct QueueGuard {
  const Backend& b;
  int id;
  ~QueueGuard() { remove_queue(b, id); }
};

// msgsnd/msgrcv that ride out EINTR (the bench's own SIGALRM is fatal through g_alarm).
bool send(const Backend& b, int q, const MsgBuf& m, std::size_t n, int flags = 0) {
  while (b.msgsnd(q, &m, n, flags) != 0) {
    if (errno != EINTR || g_alarm) return false;
  }
  return true;
}
ssize_t receive(const Backend& b, int q, MsgBuf& m, long msgtyp, int flags = 0) {
  for (;;) {
    ssize_t n = b.msgrcv(q, &m, kMaxText, msgtyp, flags);
    if (n >= 0 || errno != EINTR || g_alarm) return n;
  }
}

// The child's first call: opens its connection (sysvmq) before the clock starts.
void warm_up(const Backend& b, int q) {
  msqid_ds ds{};
  b.msgctl(q, IPC_STAT, &ds);
}

struct Clock {
  const Backend& b;
  double wall0 = now_s(), cpu0 = children_cpu_s();
  std::optional<double> server0 = process_cpu_seconds(b.server_pid);
  double wall() const { return now_s() - wall0; }
  // CPU of every process of the run: the children, and the server behind the backend.
  double cpu() const {
    double c = children_cpu_s() - cpu0;
    if (server0) c += process_cpu_seconds(b.server_pid).value_or(*server0) - *server0;
    return c;
  }
};

std::string label(const Backend& b, const char* what) { return b.name + ": " + what; }

// The verdict of a repetition: what the children found wrong comes first, then how the
// processes ended (`ran`, with `why`), then the exactly-once count.
bool settle(bool ran, Tally& tally, const Backend& b, std::string& why) {
  std::string detail;
  if ((ran || tally.ledger().errors.load() != 0) && !tally.verify(detail)) {
    why = label(b, detail.c_str());
    return false;
  }
  if (!ran) why = label(b, why.c_str());
  return ran;
}

// Starts a crew that is set up, waits for it, checks the tally, and reports messages/s
// and CPU microseconds per message for `total` messages.
bool run_and_time(Crew& crew, Tally& tally, const Backend& b, const Params& p, std::size_t total,
                  Figures& out, std::string& why) {
  if (!crew.wait_ready()) {
    why = label(b, "a process died during set-up");
    return false;
  }
  Clock clock{b};
  crew.go(p.timeout_s);
  if (!crew.wait_all(why)) return settle(false, tally, b, why);
  const double wall = clock.wall(), cpu = clock.cpu();
  if (!settle(true, tally, b, why)) return false;
  const double n = static_cast<double>(total);
  out = {{"msgs", n / wall}, {"cpu", cpu / n * 1e6}};
  return true;
}


// Test-only: SYSVMQ_BENCH_TEST_FAULT=lose|duplicate|corrupt makes stream's producer 0
// mishandle its middle message, so that the smoke test sees the bench refuse the run.
enum class TestFault { none, lose, duplicate, corrupt };
TestFault test_fault() {
  const char* v = std::getenv("SYSVMQ_BENCH_TEST_FAULT");
  if (v == nullptr) return TestFault::none;
  const std::string f = v;
  return f == "lose"        ? TestFault::lose
         : f == "duplicate" ? TestFault::duplicate
         : f == "corrupt"   ? TestFault::corrupt
                            : TestFault::none;
}

}  // namespace

void install_alarm_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a hung waitpid() or msgsnd() must come back
  ::sigaction(SIGALRM, &sa, nullptr);
}

bool run_stream(const Backend& b, const Params& p, Figures& out, std::string& why) {
  const TestFault fault = test_fault();
  int q = make_queue(b, 16384, why);  // msgmnb's default on both: what users get
  if (q < 0) return false;
  QueueGuard guard{b, q};
  const std::size_t per = std::max<std::size_t>(1, p.messages / p.producers);
  const std::size_t total = per * p.producers;
  Tally tally(total);
  Crew crew;
  for (int c = 0; c < p.consumers; ++c) {
    crew.spawn([&, c](const std::function<void()>& ready) {
      warm_up(b, q);
      ready();
      MsgBuf m;
      for (;;) {
        ssize_t n = receive(b, q, m, 0);
        if (n < 0) {
          tally.fail("consumer %d: msgrcv: %s", c, std::strerror(errno));
          return 1;
        }
        Stamp s = read_stamp(m, static_cast<std::size_t>(n));
        if (!s.intact) {
          tally.fail("corrupted message (%zd bytes, bad checksum)", n);
          continue;
        }
        if (s.producer == kStopProducer) return 0;
        if (m.mtype != 1 || static_cast<std::size_t>(n) != p.size ||
            s.producer >= static_cast<std::uint32_t>(p.producers) || s.seq >= per) {
          tally.fail("wrong message: type %ld, %zd bytes, producer %u seq %u", m.mtype, n,
                     s.producer, s.seq);
          continue;
        }
        tally.mark(s.producer * per + s.seq);
      }
    });
  }
  std::vector<pid_t> producers;
  for (int i = 0; i < p.producers; ++i) {
    producers.push_back(crew.spawn([&, i](const std::function<void()>& ready) {
      auto payload = std::make_unique<Payload>(static_cast<std::uint32_t>(i), p.size);
      warm_up(b, q);
      ready();
      for (std::uint32_t seq = 0; seq < per; ++seq) {
        MsgBuf& m = payload->stamp(1, seq);
        int copies = 1;
        if (i == 0 && seq == per / 2 && fault != TestFault::none) {
          if (fault == TestFault::lose) copies = 0;
          if (fault == TestFault::duplicate) copies = 2;
          if (fault == TestFault::corrupt) m.text[p.size - 1] ^= 0x40;
        }
        for (int k = 0; k < copies; ++k) {
          if (!send(b, q, m, p.size)) {
            tally.fail("producer %d: msgsnd: %s", i, std::strerror(errno));
            return 1;
          }
        }
        if (fault == TestFault::corrupt) payload->stamp(1, seq);  // mends the filler
      }
      return 0;
    }));
  }
  if (!crew.wait_ready()) {
    why = label(b, "a process died during set-up");
    return false;
  }
  Clock clock{b};
  crew.go(p.timeout_s);
  for (pid_t pid : producers)
    if (!crew.wait(pid, why)) return settle(false, tally, b, why);
  // The stops go in after every data message, so FIFO order ends each consumer last.
  auto stop = std::make_unique<Payload>(kStopProducer, kHeaderBytes);
  for (int c = 0; c < p.consumers; ++c) {
    if (!send(b, q, stop->stamp(1, static_cast<std::uint32_t>(c)), kHeaderBytes)) {
      why = label(b, "msgsnd of a stop message failed or timed out");
      return false;
    }
  }
  if (!crew.wait_all(why)) return settle(false, tally, b, why);
  const double wall = clock.wall(), cpu = clock.cpu();
  if (!settle(true, tally, b, why)) return false;
  const double n = static_cast<double>(total);
  out = {{"msgs", n / wall},
         {"mbs", n * static_cast<double>(p.size) / wall / 1e6},
         {"cpu", cpu / n * 1e6}};
  return true;
}

bool run_pingpong(const Backend& b, const Params& p, Figures& out, std::string& why) {
  int q = make_queue(b, 16384, why);
  if (q < 0) return false;
  QueueGuard guard{b, q};
  const std::size_t rounds = std::max<std::size_t>(p.messages, 10);
  const std::size_t warm = std::min<std::size_t>(100, rounds / 10);
  Mapping lat_map(rounds * sizeof(std::uint64_t));
  std::uint64_t* lat = lat_map.as<std::uint64_t>();
  Tally tally(0);
  Crew crew;
  crew.spawn([&](const std::function<void()>& ready) {  // the server: echoes as type 2
    warm_up(b, q);
    ready();
    MsgBuf m;
    for (;;) {
      ssize_t n = receive(b, q, m, 1);
      if (n < 0) {
        tally.fail("server: msgrcv: %s", std::strerror(errno));
        return 1;
      }
      Stamp s = read_stamp(m, static_cast<std::size_t>(n));
      if (s.intact && s.producer == kStopProducer) return 0;
      if (m.mtype != 1) tally.fail("server: request of type %ld", m.mtype);
      m.mtype = 2;
      if (!send(b, q, m, static_cast<std::size_t>(n))) {
        tally.fail("server: msgsnd: %s", std::strerror(errno));
        return 1;
      }
    }
  });
  crew.spawn([&](const std::function<void()>& ready) {  // the client: times each round
    auto payload = std::make_unique<Payload>(0, p.size);
    warm_up(b, q);
    ready();
    MsgBuf m;
    for (std::size_t i = 0; i < warm + rounds; ++i) {
      const auto seq = static_cast<std::uint32_t>(i);
      const std::uint64_t t0 = now_ns();
      ssize_t n = -1;
      if (send(b, q, payload->stamp(1, seq), p.size)) n = receive(b, q, m, 2);
      const std::uint64_t t1 = now_ns();
      if (n < 0) {
        tally.fail("client: %s", std::strerror(errno));
        return 1;
      }
      Stamp s = read_stamp(m, static_cast<std::size_t>(n));
      if (!s.intact || m.mtype != 2 || static_cast<std::size_t>(n) != p.size || s.producer != 0 ||
          s.seq != seq) {
        tally.fail("client: round %u got a wrong reply (type %ld, %zd bytes, seq %u%s)", seq,
                   m.mtype, n, s.seq, s.intact ? "" : ", bad checksum");
        return 1;
      }
      if (i >= warm) lat[i - warm] = t1 - t0;
    }
    auto stop = std::make_unique<Payload>(kStopProducer, kHeaderBytes);
    return send(b, q, stop->stamp(1, 0), kHeaderBytes) ? 0 : 1;
  });
  if (!crew.wait_ready()) {
    why = label(b, "a process died during set-up");
    return false;
  }
  crew.go(p.timeout_s);
  if (!settle(crew.wait_all(why), tally, b, why)) return false;
  std::vector<std::uint64_t> v(lat, lat + rounds);
  std::sort(v.begin(), v.end());
  auto pct = [&](double q) {  // nearest rank
    std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<std::size_t>(rank, 1, v.size()) - 1]) / 1e3;
  };
  out = {{"p50", pct(0.50)}, {"p99", pct(0.99)}, {"p999", pct(0.999)}};
  return true;
}

bool run_fanin(const Backend& b, const Params& p, Figures& out, std::string& why) {
  int q = make_queue(b, 16384, why);
  if (q < 0) return false;
  QueueGuard guard{b, q};
  const int senders = 16;
  const std::size_t per = std::max<std::size_t>(1, p.messages / senders);
  const std::size_t total = per * senders;
  auto type_of = [](std::uint32_t producer, std::uint32_t seq) {
    return static_cast<long>(1 + (producer + seq) % 4);
  };
  Tally tally(total);
  Crew crew;
  crew.spawn([&](const std::function<void()>& ready) {
    warm_up(b, q);
    ready();
    MsgBuf m;
    for (std::size_t i = 0; i < total; ++i) {
      // Every other receive asks for types <= 2 without waiting, falling back to <= 4:
      // the lowest type present leaves first (msgrcv(2), msgtyp < 0).
      long asked = -4;
      ssize_t n = -1;
      if (i % 2 == 0) {
        asked = -2;
        n = receive(b, q, m, -2, IPC_NOWAIT);
        if (n < 0 && errno != ENOMSG) {
          tally.fail("receiver: msgrcv(-2, IPC_NOWAIT): %s", std::strerror(errno));
          return 1;
        }
      }
      if (n < 0) {
        asked = -4;
        n = receive(b, q, m, -4);
      }
      if (n < 0) {
        tally.fail("receiver: msgrcv(-4): %s", std::strerror(errno));
        return 1;
      }
      Stamp s = read_stamp(m, static_cast<std::size_t>(n));
      if (!s.intact || static_cast<std::size_t>(n) != p.size ||
          s.producer >= static_cast<std::uint32_t>(senders) || s.seq >= per ||
          m.mtype != type_of(s.producer, s.seq) || m.mtype > -asked) {
        tally.fail(
            "receiver: wrong message for msgtyp %ld: type %ld, %zd bytes, "
            "producer %u seq %u%s",
            asked, m.mtype, n, s.producer, s.seq, s.intact ? "" : ", bad checksum");
        continue;
      }
      tally.mark(s.producer * per + s.seq);
    }
    return 0;
  });
  for (int i = 0; i < senders; ++i) {
    crew.spawn([&, i](const std::function<void()>& ready) {
      auto payload = std::make_unique<Payload>(static_cast<std::uint32_t>(i), p.size);
      warm_up(b, q);
      ready();
      for (std::uint32_t seq = 0; seq < per; ++seq) {
        auto producer = static_cast<std::uint32_t>(i);
        if (!send(b, q, payload->stamp(type_of(producer, seq), seq), p.size)) {
          tally.fail("sender %d: msgsnd: %s", i, std::strerror(errno));
          return 1;
        }
      }
      return 0;
    });
  }
  if (!run_and_time(crew, tally, b, p, total, out, why)) return false;
  return true;
}

bool run_queues(const Backend& b, const Params& p, Figures& out, std::string& why) {
  const std::size_t nq = 1000;
  std::vector<int> ids;
  struct Cleanup {
    const Backend& b;
    std::vector<int>& ids;
    ~Cleanup() {
      for (int id : ids) remove_queue(b, id);
    }
  } cleanup{b, ids};
  const double t0 = now_s();
  for (std::size_t i = 0; i < nq; ++i) {
    int id = b.msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id < 0) {
      why = b.name + ": msgget of queue " + std::to_string(i + 1) +
            " of 1000: " + std::strerror(errno);
      return false;
    }
    ids.push_back(id);
  }
  const double create_ms = (now_s() - t0) * 1e3;
  const std::size_t total = std::max<std::size_t>(p.messages, 1);
  Tally tally(0);
  Crew crew;
  crew.spawn([&](const std::function<void()>& ready) {
    auto payload = std::make_unique<Payload>(0, p.size);
    warm_up(b, ids[0]);
    ready();
    for (std::size_t i = 0; i < total; ++i) {
      if (!send(b, ids[i % nq], payload->stamp(1, static_cast<std::uint32_t>(i)), p.size)) {
        tally.fail("producer: msgsnd: %s", std::strerror(errno));
        return 1;
      }
    }
    return 0;
  });
  crew.spawn([&](const std::function<void()>& ready) {
    warm_up(b, ids[0]);
    ready();
    MsgBuf m;
    for (std::size_t i = 0; i < total; ++i) {
      ssize_t n = receive(b, ids[i % nq], m, 0);
      if (n < 0) {
        tally.fail("consumer: msgrcv: %s", std::strerror(errno));
        return 1;
      }
      // One producer, FIFO per queue, round robin on both sides: message i comes next.
      Stamp s = read_stamp(m, static_cast<std::size_t>(n));
      if (!s.intact || m.mtype != 1 || static_cast<std::size_t>(n) != p.size || s.seq != i) {
        tally.fail(
            "consumer: queue %zu: expected message %zu, got type %ld, %zd bytes, "
            "seq %u%s",
            i % nq, i, m.mtype, n, s.seq, s.intact ? "" : ", bad checksum");
        return 1;
      }
    }
    return 0;
  });
  if (!run_and_time(crew, tally, b, p, total, out, why)) return false;
  // A Redis list exists once pushed to: there is nothing to create, so no figure (n/a).
  if (b.name != "redis") out.push_back({"create", create_ms});
  return true;
}

bool run_memory(const Backend& b, const Params& p, Figures& out, std::string& why) {
  // msg_qbytes may go up to msgmnb without CAP_SYS_RESOURCE; count stays within it.
  std::size_t count = std::max<std::size_t>(p.messages, 1);
  count = std::min(count, std::max<std::size_t>(1, p.msgmnb / p.size - 1));
  const unsigned long qbytes = std::min<unsigned long>(p.msgmnb, (count + 1) * p.size);
  // A page of RSS or a slab is 4 KiB: a few messages say nothing per thousand.
  if (count < 100 && p.messages >= 100) return true;  // n/a
  auto payload = std::make_unique<Payload>(0, p.size);

  if (b.server_pid == 0 && b.name == "kernel") {
    int q = make_queue(b, qbytes, why);
    if (q < 0) return false;
    QueueGuard guard{b, q};
    auto before = kernel_message_memory_kib();
    if (!before) return true;  // n/a
    for (std::size_t i = 0; i < count; ++i) {
      if (!send(b, q, payload->stamp(1, static_cast<std::uint32_t>(i)), p.size, IPC_NOWAIT)) {
        why = "kernel: msgsnd: " + std::string(std::strerror(errno));
        return false;
      }
    }
    auto after = kernel_message_memory_kib();
    out = {{"kib", static_cast<double>(after.value_or(*before) - *before) * 1000.0 /
                       static_cast<double>(count)}};
    return true;
  }

  if (b.name == "redis") {
    // The growth of INFO's used_memory (the allocator's bytes in use, exact rather than
    // paged) while `count` messages sit in one list, which is then deleted.
    int q = make_queue(b, qbytes, why);
    if (q < 0) return false;
    QueueGuard guard{b, q};
    auto before = redis_used_memory(redis_socket());
    if (!before) {
      why = "redis: INFO memory has no used_memory";
      return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (!send(b, q, payload->stamp(1, static_cast<std::uint32_t>(i)), p.size)) {
        why = "redis: LPUSH: " + std::string(std::strerror(errno));
        return false;
      }
    }
    auto after = redis_used_memory(redis_socket());
    out = {{"kib", static_cast<double>(after.value_or(*before) - *before) / 1024.0 * 1000.0 /
                       static_cast<double>(count)}};
    return true;
  }

  // sysvmq: a fresh daemon each time, so that memory an earlier repetition freed (and
  // the allocator kept) does not hide this one's growth.
  OwnDaemon own;
  std::string socket;
  pid_t pid = b.server_pid;
  if (!p.daemon_binary.empty()) {
    if (!own.start(p.daemon_binary, p.msgmnb, why)) return false;
    socket = own.socket_path();
    pid = own.pid();
  }
  sysvmq::Client client = socket.empty() ? sysvmq::Client() : sysvmq::Client(socket);
  auto id = client.msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (!id) {
    why = b.name + ": msgget: " + id.error().message();
    return false;
  }
  auto ds = client.stat(*id);
  if (ds) {
    ds->msg_qbytes = qbytes;
    auto set = client.set(*id, *ds);
    if (!set) {
      why = b.name + ": msgctl(IPC_SET): " + set.error().message();
      return false;
    }
  }
  auto before = process_rss_kib(pid);
  if (!before) {
    why = b.name + ": the daemon's /proc/<pid>/status is not readable here";
    (void)client.remove(*id);
    return false;
  }
  for (std::size_t i = 0; i < count; ++i) {
    MsgBuf& m = payload->stamp(1, static_cast<std::uint32_t>(i));
    auto r = client.msgsnd(
        *id, m.mtype, std::string_view(reinterpret_cast<const char*>(m.text), p.size), IPC_NOWAIT);
    if (!r) {
      why = b.name + ": msgsnd: " + r.error().message();
      (void)client.remove(*id);
      return false;
    }
  }
  auto after = process_rss_kib(pid);
  (void)client.remove(*id);
  out = {{"kib", static_cast<double>(after.value_or(*before) - *before) * 1000.0 /
                     static_cast<double>(count)}};
  return true;
}

}  // namespace sysvmq::bench
