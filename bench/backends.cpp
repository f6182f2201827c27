// backends.cpp: the kernel and libsysvmq as benchmark backends, a private sysvmqd, and
// the /proc readers. See backends.hpp.
#include "bench/backends.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace sysvmq::bench {

Backend kernel_backend() { return Backend{"kernel", ::msgget, ::msgsnd, ::msgrcv, ::msgctl, 0, {}}; }

Backend sysvmq_backend(pid_t daemon_pid, bool fast_path) {
  return Backend{fast_path ? "sysvmq-ring" : "sysvmq", sysvmq_msgget, sysvmq_msgsnd,
                 sysvmq_msgrcv, sysvmq_msgctl, daemon_pid, fast_path ? "1" : "0"};
}

bool PrivateServer::make_dir(const std::string& name, std::string& why) {
  std::string tmpl = "/tmp/" + name + ".XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    why = std::string("mkdtemp: ") + std::strerror(errno);
    return false;
  }
  dir_ = tmpl;
  return true;
}

bool PrivateServer::run(const std::vector<std::string>& argv, bool quiet_stdout,
                        const std::function<bool()>& ready, const std::string& readiness,
                        std::string& why) {
  pid_ = ::fork();
  if (pid_ < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // stops with the bench, even a killed one
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      if (quiet_stdout) ::dup2(devnull, 1);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "sysvmq-bench: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  for (int i = 0; i < 500; ++i) {  // a bounded poll of something observable
    if (ready()) return true;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why = argv[0] + " exited before " + readiness;
      stop();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  why = argv[0] + ": not ready within 5 s (waiting until " + readiness + ")";
  stop();
  return false;
}

void PrivateServer::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

bool OwnDaemon::start(const std::string& binary, unsigned long msgmnb, std::string& why) {
  if (!server_.make_dir("sysvmq-bench", why)) return false;
  socket_ = server_.dir() + "/sysvmq.sock";
  std::vector<std::string> argv{binary, "--socket", socket_, "--log-level", "warn"};
  if (msgmnb > 16384) {
    const std::string config = server_.dir() + "/sysvmqd.json";
    std::ofstream(config) << "{\"limits\": {\"msgmnb\": " << msgmnb << "}}\n";
    argv.insert(argv.end(), {"--config", config});
  }
  return server_.run(argv, /*quiet_stdout=*/false, [this] { return can_connect(socket_); },
                     "its socket accepted", why);
}

namespace {

int connect_to(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return -1;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::optional<long> field_kib(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream fields(line.substr(key.size()));
      long kib;
      if (fields >> kib) return kib;
    }
  }
  return std::nullopt;
}

}  // namespace

bool can_connect(const std::string& path) {
  int fd = connect_to(path);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

pid_t peer_pid(const std::string& path) {
  int fd = connect_to(path);
  if (fd < 0) return 0;
  ucred cred{};
  socklen_t len = sizeof cred;
  pid_t pid = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
  ::close(fd);
  return pid;
}

std::optional<double> process_cpu_seconds(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  // proc(5): after "(comm)" come state (field 3) ... utime (14) and stime (15).
  std::istringstream fields(text.substr(close_paren + 1));
  std::string skip;
  for (int field = 3; field <= 13; ++field) fields >> skip;
  unsigned long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::optional<long> process_rss_kib(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  return field_kib("/proc/" + std::to_string(pid) + "/status", "VmRSS:");
}

std::optional<long> kernel_message_memory_kib(std::string* source) {
  // msg_msg-* hold a message's first part; the rest (msg_msgseg) comes from kmalloc-cg-*.
  std::ifstream in("/proc/slabinfo");
  std::string line;
  long long bytes = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.rfind("msg_msg", 0) != 0 && line.rfind("kmalloc-cg-", 0) != 0) continue;
    // slabinfo(5): name active_objs num_objs objsize ...
    std::istringstream fields(line);
    std::string name;
    long long active = 0, total = 0, objsize = 0;
    if (fields >> name >> active >> total >> objsize) {
      bytes += active * objsize;
      found = true;
    }
  }
  if (found) {
    if (source) *source = "/proc/slabinfo msg_msg* and kmalloc-cg-* objects";
    return static_cast<long>(bytes / 1024);
  }
  return std::nullopt;
}

int make_queue(const Backend& b, unsigned long qbytes, std::string& why) {
  int id = b.msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) {
    why = b.name + ": msgget(IPC_PRIVATE): " + std::strerror(errno);
    return -1;
  }
  msqid_ds ds{};
  if (b.msgctl(id, IPC_STAT, &ds) != 0) {
    why = b.name + ": msgctl(IPC_STAT): " + std::strerror(errno);
    remove_queue(b, id);
    return -1;
  }
  if (ds.msg_qbytes != qbytes) {
    ds.msg_qbytes = qbytes;
    if (b.msgctl(id, IPC_SET, &ds) != 0) {
      why = b.name + ": msgctl(IPC_SET msg_qbytes=" + std::to_string(qbytes) +
            "): " + std::strerror(errno);
      remove_queue(b, id);
      return -1;
    }
  }
  return id;
}

void remove_queue(const Backend& b, int id) {
  if (id >= 0) b.msgctl(id, IPC_RMID, nullptr);
}

}  // namespace sysvmq::bench
