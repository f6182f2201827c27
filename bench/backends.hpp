// backends.hpp: the queues under test — the kernel's msg* calls and libsysvmq's, behind
// the same four function pointers — and the servers behind them (a sysvmqd the bench
// starts or was pointed at). Also the /proc readers the figures need.
// Not here: the workloads (workloads.hpp), the report (report.hpp).
#pragma once

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>
#include <functional>

namespace sysvmq::bench {

// msgget/msgsnd/msgrcv/msgctl with libc's signatures and errno behaviour.
struct Backend {
  std::string name;
  int (*msgget)(key_t, int);
  int (*msgsnd)(int, const void*, size_t, int);
  ssize_t (*msgrcv)(int, void*, size_t, long, int);
  int (*msgctl)(int, int, struct msqid_ds*);
  pid_t server_pid = 0;  // whose CPU and memory count too (0: none, as for the kernel)
  // libsysvmq only: $SYSVMQ_FASTPATH for the processes of this backend's runs ("0": the
  // socket only; "1": the shared-memory fast path). Empty for the others.
  std::string fastpath;
};

Backend kernel_backend();
// libsysvmq's C API; its connections go to $SYSVMQ_SOCKET, which main() sets. "sysvmq"
// keeps to the socket (SYSVMQ_FASTPATH=0), "sysvmq-ring" takes the fast path.
Backend sysvmq_backend(pid_t daemon_pid, bool fast_path);

// A server process the bench runs for itself: a fresh temporary directory, the process
// (stdin and, if asked, stdout on /dev/null; it dies with the bench), a bounded wait
// until it is ready, and SIGTERM plus the directory's removal at the end.
class PrivateServer {
 public:
  PrivateServer() = default;
  ~PrivateServer() { stop(); }
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;

  // Makes /tmp/<name>.XXXXXX; false and `why` if not.
  bool make_dir(const std::string& name, std::string& why);
  // Runs argv (argv[0] looked up on $PATH) and polls `ready` every 10 ms for up to 5 s;
  // `readiness` says what is awaited ("its socket accepted"). false and `why` if the
  // process ends or time runs out (then it is stopped).
  bool run(const std::vector<std::string>& argv, bool quiet_stdout,
           const std::function<bool()>& ready, const std::string& readiness, std::string& why);
  void stop();
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

 private:
  pid_t pid_ = -1;
  std::string dir_;
};

// A sysvmqd started by the bench on a socket in a fresh temporary directory.
class OwnDaemon {
 public:
  // Starts `binary` (with msgmnb raised to `msgmnb` when above the default 16384) and
  // waits up to 5 s until its socket accepts. false and `why` if not.
  bool start(const std::string& binary, unsigned long msgmnb, std::string& why);
  void stop() { server_.stop(); }
  pid_t pid() const { return server_.pid(); }
  const std::string& socket_path() const { return socket_; }

 private:
  PrivateServer server_;
  std::string socket_;
};

bool can_connect(const std::string& path);
// The pid at the other end of a Unix socket (SO_PEERCRED); 0 when not visible here.
pid_t peer_pid(const std::string& path);
// utime + stime of `pid` in seconds, from /proc/<pid>/stat.
std::optional<double> process_cpu_seconds(pid_t pid);
// VmRSS of `pid` in KiB, from /proc/<pid>/status.
std::optional<long> process_rss_kib(pid_t pid);
// What the kernel holds for queued messages, in KiB, and where that was read: the active
// objects x object size of /proc/slabinfo's msg_msg-* and kmalloc-cg-* caches. nullopt
// when slabinfo is unreadable (root only): /proc/meminfo's Slab counters lag by more than
// a thousand small messages weigh, so they are no substitute.
std::optional<long> kernel_message_memory_kib(std::string* source = nullptr);

// Makes a private queue on `b` with room for `qbytes` bytes (IPC_SET; above msgmnb only
// with CAP_SYS_RESOURCE). -1 and `why` on failure.
int make_queue(const Backend& b, unsigned long qbytes, std::string& why);
void remove_queue(const Backend& b, int id);

}  // namespace sysvmq::bench
