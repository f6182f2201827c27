// integration_util.hpp: helpers for the integration tests — message buffers, queues
// removed at the end of a test, and waiting until a thread is parked in poll().
// Not here: starting the daemon (tests/support/daemon_fixture.hpp).
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <sysvmq/client.hpp>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/child_process.hpp"  // eventually

namespace sysvmq::test {

// The struct msgbuf of msgop(2), with room for a default-msgmax message.
struct MsgBuf {
  long mtype = 0;
  char mtext[8192] = {};
};

inline MsgBuf make_msg(long mtype, std::string_view text) {
  MsgBuf m;
  m.mtype = mtype;
  std::memcpy(m.mtext, text.data(), text.size());
  return m;
}

// msg_qnum of msqid by IPC_STAT through the C API (all ones when the call fails).
inline msgqnum_t qnum(int msqid) {
  struct msqid_ds ds {};
  return sysvmq_msgctl(msqid, IPC_STAT, &ds) == 0 ? ds.msg_qnum : ~msgqnum_t{0};
}

// A queue created through the C API and removed when the test ends.
class Queue {
 public:
  explicit Queue(int msgflg = 0600) : id_(sysvmq_msgget(IPC_PRIVATE, msgflg)) {}
  ~Queue() {
    if (id_ >= 0) sysvmq_msgctl(id_, IPC_RMID, nullptr);
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  int id() const { return id_; }

 private:
  int id_;
};

// The daemon's ADMIN "stats" answer, over a connection of its own (the C++ API); an
// empty object when the call failed.
inline nlohmann::json daemon_stats() {
  sysvmq::Client c;
  auto answer = c.admin(R"({"op":"stats"})");
  return answer ? nlohmann::json::parse(*answer) : nlohmann::json::object();
}

// True once exactly `n` calls are parked in the daemon (waits up to 10 s).
inline bool parked_becomes(int n) {
  return eventually([&] { return daemon_stats().value("parked_calls", -1) == n; },
                    std::chrono::seconds(10));
}

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// True once thread `tid` of this process sleeps in poll()/ppoll() — where the client
// library waits for a parked call's reply, after the request was sent (the daemon
// reads a connection's requests in order, so a later CANCEL cannot overtake it).
inline bool wait_until_in_poll(pid_t tid, std::chrono::milliseconds limit =
                                              std::chrono::seconds(5)) {
  const std::string base = "/proc/self/task/" + std::to_string(tid);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream stat(base + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    const char state = close != std::string::npos && close + 2 < line.size() ? line[close + 2] : '?';
    std::ifstream sc(base + "/syscall");
    long nr = -1;
    sc >> nr;
    if (state == 'S' && (nr == SYS_poll || nr == SYS_ppoll)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

}  // namespace sysvmq::test
