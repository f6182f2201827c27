// The soak (issue #8, item 4): 32 processes doing random msgsnd/msgrcv/IPC_STAT on a few
// queues for SYSVMQ_SOAK_SECONDS (default 60; 20 on the socket path and in sanitizer
// builds), showered with signals that interrupt their waits. Afterwards every message
// whose msgsnd returned 0 was received exactly once or is still queued, judged by the
// unique id in its text, nothing else ever arrived, and each queue's msg_qnum and
// msg_cbytes are what draining it finds.
// Not here: processes that die (kill_test.cpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sysvmq/client.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tests/integration/integration_util.hpp"
#include "tests/support/child_process.hpp"  // eventually
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr int kProcesses = 32;
constexpr int kQueues = 4;
constexpr long kTypes = 5;
constexpr std::uint32_t kLogCapacity = 1u << 20;

// SYSVMQ_SOAK_SECONDS, else 60 s on the fast path of a plain build; the socket-path copy
// and sanitizer builds (CI runs the suite three times) take 20 s.
int soak_seconds() {
  if (const char* s = std::getenv("SYSVMQ_SOAK_SECONDS"); s != nullptr && *s != '\0')
    return std::max(1, std::atoi(s));
  const char* fast = std::getenv("SYSVMQ_FASTPATH");
  const bool socket_only = fast != nullptr && std::string(fast) == "0";
  return socket_only || kSanitized ? 20 : 60;
}

// Message text: 16 hex digits of id, 4 of the whole length, then filler that depends on
// the id; the mtype is 1 + id % kTypes. A receiver checks all of it.
constexpr std::size_t kHeader = 20;
long mtype_of(std::uint64_t id) { return 1 + static_cast<long>(id % kTypes); }
char filler_of(std::uint64_t id) { return static_cast<char>('a' + id % 26); }

std::size_t make_text(std::uint64_t id, std::size_t len, char* out) {
  char head[kHeader + 1];
  std::snprintf(head, sizeof head, "%016" PRIx64 "%04zx", id, len);
  std::memcpy(out, head, kHeader);
  std::memset(out + kHeader, filler_of(id), len - kHeader);
  return len;
}

// What one process did, in memory shared with the test (made before fork()).
struct SoakLog {
  std::atomic<std::uint32_t> sent_count{0}, received_count{0};
  std::atomic<std::uint64_t> eintr{0}, e2big{0}, enomsg{0}, eagain{0}, stats{0};
  char failure[256] = {};  // the first thing that went wrong, or ""
  std::uint64_t sent[kLogCapacity];
  std::uint64_t received[kLogCapacity];
};

class SharedLogs {
 public:
  explicit SharedLogs(int n) : n_(n) {
    p_ = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p_ == MAP_FAILED) return;
    for (int i = 0; i < n_; ++i) new (&(*this)[i]) SoakLog;
  }
  ~SharedLogs() {
    if (p_ != MAP_FAILED) ::munmap(p_, bytes());
  }
  SharedLogs(const SharedLogs&) = delete;
  SharedLogs& operator=(const SharedLogs&) = delete;
  bool ok() const { return p_ != MAP_FAILED; }
  SoakLog& operator[](int i) const { return static_cast<SoakLog*>(p_)[i]; }

 private:
  std::size_t bytes() const { return sizeof(SoakLog) * static_cast<std::size_t>(n_); }
  int n_;
  void* p_ = MAP_FAILED;
};

extern "C" void on_sigusr1(int) {}

// One soak process: random calls until the shared stop word is set. Exits 0, or 1 with
// `log.failure` saying what went wrong.
[[noreturn]] void soak_process(int index, const std::vector<int>& queues, std::uint32_t seed,
                               const std::atomic<int>& stop, SoakLog& log) {
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sa.sa_flags = 0;  // no SA_RESTART: a wait ends in EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, nullptr);
  std::mt19937 rng(seed);
  auto fail = [&](const std::string& why) {
    std::snprintf(log.failure, sizeof log.failure, "process %d: %s", index, why.c_str());
    ::_exit(1);
  };
  std::uint64_t seq = 0;
  MsgBuf m;
  while (stop.load(std::memory_order_acquire) == 0) {
    const int q = queues[rng() % queues.size()];
    const unsigned op = rng() % 100;
    if (op < 45) {
      if (log.sent_count + 1 >= kLogCapacity) continue;
      const std::uint64_t id = (static_cast<std::uint64_t>(index) << 40) | seq++;
      const std::size_t len = make_text(id, kHeader + rng() % 200, m.mtext);
      m.mtype = mtype_of(id);
      const int flg = rng() % 3 == 0 ? IPC_NOWAIT : 0;
      if (sysvmq_msgsnd(q, &m, len, flg) == 0) {
        const auto n = log.sent_count.load(std::memory_order_relaxed);
        log.sent[n] = id;
        log.sent_count.store(n + 1, std::memory_order_release);
      } else if (errno == EINTR) {
        ++log.eintr;
      } else if (errno == EAGAIN && flg == IPC_NOWAIT) {
        ++log.eagain;
      } else {
        fail("msgsnd: " + std::string(std::strerror(errno)));
      }
    } else if (op < 95) {
      if (log.received_count + 1 >= kLogCapacity) continue;
      const unsigned kind = rng() % 4;  // 0, > 0, < 0, MSG_EXCEPT
      const long t = 1 + static_cast<long>(rng() % kTypes);
      const long msgtyp = kind == 0 ? 0 : kind == 2 ? -t : t;
      int flg = kind == 3 ? MSG_EXCEPT : 0;
      if (rng() % 3 == 0) flg |= IPC_NOWAIT;
      if (rng() % 4 == 0) flg |= MSG_NOERROR;
      const std::size_t msgsz = rng() % 2 == 0 ? sizeof m.mtext : kHeader + rng() % 200;
      const ssize_t n = sysvmq_msgrcv(q, &m, msgsz, msgtyp, flg);
      if (n < 0) {
        if (errno == EINTR) {
          ++log.eintr;
        } else if (errno == ENOMSG && (flg & IPC_NOWAIT)) {
          ++log.enomsg;
        } else if (errno == E2BIG && !(flg & MSG_NOERROR)) {
          ++log.e2big;
        } else {
          fail("msgrcv: " + std::string(std::strerror(errno)));
        }
        continue;
      }
      if (static_cast<std::size_t>(n) < kHeader) fail("msgrcv: a text shorter than its header");
      const std::uint64_t id = std::strtoull(std::string(m.mtext, 16).c_str(), nullptr, 16);
      const std::size_t len = std::strtoul(std::string(m.mtext + 16, 4).c_str(), nullptr, 16);
      // Recorded first, so a failure below still accounts for the message.
      const auto k = log.received_count.load(std::memory_order_relaxed);
      log.received[k] = id;
      log.received_count.store(k + 1, std::memory_order_release);
      if (m.mtype != mtype_of(id)) fail("msgrcv: mtype does not match the id");
      if (static_cast<std::size_t>(n) != std::min(len, msgsz)) fail("msgrcv: wrong length");
      for (ssize_t i = kHeader; i < n; ++i)
        if (m.mtext[i] != filler_of(id)) fail("msgrcv: text corrupted");
      // The selector's rule (msgrcv(2)).
      if (kind == 1 && m.mtype != t) fail("msgrcv: msgtyp > 0 gave another type");
      if (kind == 2 && m.mtype > t) fail("msgrcv: msgtyp < 0 gave a type above |msgtyp|");
      if (kind == 3 && m.mtype == t) fail("msgrcv: MSG_EXCEPT gave the excepted type");
    } else {
      struct msqid_ds ds {};
      if (sysvmq_msgctl(q, IPC_STAT, &ds) != 0)
        fail("IPC_STAT: " + std::string(std::strerror(errno)));
      if (ds.msg_cbytes > ds.msg_qbytes) fail("IPC_STAT: msg_cbytes above msg_qbytes");
      ++log.stats;
    }
  }
  ::_exit(0);
}

class Soak : public DaemonTest {};

TEST_F(Soak, EveryMessageSentIsReceivedExactlyOnceOrStillQueued) {
  const int seconds = soak_seconds();
  const auto seed = std::random_device{}();
  std::cout << "[          ] " << kProcesses << " processes for " << seconds << " s, seed " << seed
            << "\n";
  std::vector<std::unique_ptr<Queue>> queues;
  std::vector<int> ids;
  for (int i = 0; i < kQueues; ++i) {
    queues.push_back(std::make_unique<Queue>());
    ASSERT_GE(queues.back()->id(), 0);
    ids.push_back(queues.back()->id());
  }
  SharedLogs logs(kProcesses);
  ASSERT_TRUE(logs.ok());
  auto* stop = static_cast<std::atomic<int>*>(::mmap(nullptr, sizeof(std::atomic<int>),
                                                     PROT_READ | PROT_WRITE,
                                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(stop, MAP_FAILED);
  new (stop) std::atomic<int>(0);

  // The handler is in place before fork(): a child that the shower reaches before its
  // own sigaction must not die of SIGUSR1's default action.
  struct sigaction sa {}, saved {};
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, &saved);
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) soak_process(i, ids, seed + static_cast<std::uint32_t>(i), *stop, logs[i]);
    ASSERT_GT(pid, 0);
    pids.push_back(pid);
  }
  // Signals at random processes, ~500 a second, for the whole run.
  std::mt19937 rng(seed);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    ::kill(pids[rng() % pids.size()], SIGUSR1);
    std::this_thread::sleep_for(2ms);
  }
  // Stop: set the word, then interrupt whoever waits until every process has exited.
  stop->store(1, std::memory_order_release);
  std::vector<int> status(kProcesses, -1);
  int running = kProcesses;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (running > 0 && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < kProcesses; ++i) {
      if (status[i] != -1) continue;
      int st = 0;
      if (::waitpid(pids[i], &st, WNOHANG) == pids[i]) {
        status[i] = st;
        --running;
      } else {
        ::kill(pids[i], SIGUSR1);
      }
    }
    std::this_thread::sleep_for(1ms);
  }
  for (int i = 0; i < kProcesses; ++i) {
    if (status[i] == -1) {
      ::kill(pids[i], SIGKILL);
      ::waitpid(pids[i], nullptr, 0);
      ADD_FAILURE() << "process " << i << " did not stop (stuck in a call?)";
    } else {
      EXPECT_TRUE(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0)
          << "process " << i << " status " << status[i] << ": " << logs[i].failure;
    }
  }
  ::sigaction(SIGUSR1, &saved, nullptr);
  ::munmap(stop, sizeof(std::atomic<int>));
  EXPECT_TRUE(eventually([] {
    sysvmq::Client c;
    auto a = c.admin(R"({"op":"stats"})");
    return a && nlohmann::json::parse(*a).value("parked_calls", -1) == 0;
  })) << "a waiter was left parked";

  // Each queue's msqid_ds against what draining it finds.
  std::vector<std::uint64_t> drained;
  for (int q : ids) {
    struct msqid_ds ds {};
    ASSERT_EQ(sysvmq_msgctl(q, IPC_STAT, &ds), 0);
    std::uint64_t count = 0, bytes = 0;
    MsgBuf m;
    for (;;) {
      const ssize_t n = sysvmq_msgrcv(q, &m, sizeof m.mtext, 0, IPC_NOWAIT);
      if (n < 0) break;
      ++count;
      bytes += static_cast<std::uint64_t>(n);
      ASSERT_GE(n, static_cast<ssize_t>(kHeader));
      drained.push_back(std::strtoull(std::string(m.mtext, 16).c_str(), nullptr, 16));
    }
    ASSERT_EQ(errno, ENOMSG);
    EXPECT_EQ(ds.msg_qnum, count) << "queue " << q;
    EXPECT_EQ(ds.msg_cbytes, bytes) << "queue " << q;
  }

  // Exactly once, by content.
  std::unordered_map<std::uint64_t, int> seen;  // id -> times received
  std::uint64_t sent = 0, received = 0, eintr = 0, e2big = 0, enomsg = 0, eagain = 0;
  for (int i = 0; i < kProcesses; ++i) {
    const SoakLog& l = logs[i];
    for (std::uint32_t k = 0; k < l.sent_count; ++k) {
      ASSERT_TRUE(seen.emplace(l.sent[k], 0).second) << "id sent twice";
    }
    sent += l.sent_count;
    eintr += l.eintr;
    e2big += l.e2big;
    enomsg += l.enomsg;
    eagain += l.eagain;
  }
  std::size_t unknown = 0, duplicates = 0;
  auto count = [&](std::uint64_t id) {
    auto it = seen.find(id);
    if (it == seen.end()) {
      ++unknown;
    } else if (++it->second > 1) {
      ++duplicates;
    }
  };
  for (int i = 0; i < kProcesses; ++i) {
    const SoakLog& l = logs[i];
    for (std::uint32_t k = 0; k < l.received_count; ++k) count(l.received[k]);
    received += l.received_count;
  }
  for (std::uint64_t id : drained) count(id);
  std::size_t lost = 0;
  for (const auto& [id, n] : seen) lost += n == 0;
  std::cout << "[          ] " << sent << " sent, " << received << " received, " << drained.size()
            << " left queued; " << eintr << " EINTR, " << e2big << " E2BIG, " << enomsg
            << " ENOMSG, " << eagain << " EAGAIN\n";
  EXPECT_EQ(lost, 0u) << "messages sent and never received";
  EXPECT_EQ(duplicates, 0u) << "messages received twice";
  EXPECT_EQ(unknown, 0u) << "messages received that no msgsnd reported sent";
  EXPECT_GT(received, 0u);
  EXPECT_GT(eintr, 0u) << "no wait was ever interrupted: the signals did not reach";
}

}  // namespace
}  // namespace sysvmq::test
