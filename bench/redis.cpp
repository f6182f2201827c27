// redis.cpp: the Redis backend — a private redis-server, a minimal RESP client, and the
// msg* look-alikes over LPUSH/BRPOP. See redis.hpp.
#include "bench/redis.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "bench/payload.hpp"

namespace sysvmq::bench {
namespace {

struct Reply {
  char type = 0;  // '+', '-', ':', '$', '*'
  bool nil = false;
  long long integer = 0;
  std::string text;
  std::vector<Reply> items;
};

// One RESP connection: commands as arrays of bulk strings, replies parsed in full.
class Conn {
 public:
  explicit Conn(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) return;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  bool ok() const { return fd_ >= 0; }

  // Sends the command and reads its reply; false (errno set) on a broken connection.
  bool call(const std::vector<std::string_view>& args, Reply& reply) {
    out_.clear();
    out_ += '*' + std::to_string(args.size()) + "\r\n";
    for (auto a : args) {
      out_ += '$' + std::to_string(a.size()) + "\r\n";
      out_.append(a.data(), a.size());
      out_ += "\r\n";
    }
    std::size_t done = 0;
    while (done < out_.size()) {
      ssize_t w = ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;  // a reply half-read would desynchronise us
      if (w <= 0) return false;
      done += static_cast<std::size_t>(w);
    }
    return read_reply(reply);
  }

 private:
  bool fill() {
    if (pos_ > 0) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    char buf[65536];
    for (;;) {
      ssize_t r = ::read(fd_, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        if (r == 0) errno = ECONNRESET;
        return false;
      }
      in_.append(buf, static_cast<std::size_t>(r));
      return true;
    }
  }
  bool line(std::string& out) {
    for (;;) {
      auto end = in_.find("\r\n", pos_);
      if (end != std::string::npos) {
        out.assign(in_, pos_, end - pos_);
        pos_ = end + 2;
        return true;
      }
      if (!fill()) return false;
    }
  }
  bool read_reply(Reply& r) {
    std::string head;
    if (!line(head) || head.empty()) return false;
    r = Reply{};
    r.type = head[0];
    const std::string rest = head.substr(1);
    switch (r.type) {
      case '+':
      case '-':
        r.text = rest;
        return true;
      case ':':
        r.integer = std::atoll(rest.c_str());
        return true;
      case '$': {
        long long n = std::atoll(rest.c_str());
        if (n < 0) {
          r.nil = true;
          return true;
        }
        const auto need = static_cast<std::size_t>(n) + 2;
        while (in_.size() - pos_ < need)
          if (!fill()) return false;
        r.text.assign(in_, pos_, static_cast<std::size_t>(n));
        pos_ += need;
        return true;
      }
      case '*': {
        long long n = std::atoll(rest.c_str());
        if (n < 0) {
          r.nil = true;
          return true;
        }
        r.items.resize(static_cast<std::size_t>(n));
        for (auto& item : r.items)
          if (!read_reply(item)) return false;
        return true;
      }
      default:
        errno = EPROTO;
        return false;
    }
  }

  int fd_ = -1;
  std::string out_, in_;
  std::size_t pos_ = 0;
};

// This process's connection: workers are forked, so each opens its own on first use.
std::string g_socket;
pid_t g_owner = 0;
std::unique_ptr<Conn> g_conn;

Conn* conn() {
  if (g_owner != ::getpid() || !g_conn) {
    // An inherited connection is the parent's: closing our copy of its fd leaves the
    // parent's stream alone; we open our own.
    g_conn.reset();
    g_owner = ::getpid();
    g_conn = std::make_unique<Conn>(g_socket);
  }
  if (!g_conn->ok()) {
    errno = ECONNREFUSED;
    return nullptr;
  }
  return g_conn.get();
}

std::string key(int id, long type) {
  return "q:" + std::to_string(id) + ":t" + std::to_string(type);
}

// Every call that fails on a reply it did not expect says EPROTO.
int redis_msgget(key_t, int) {
  Conn* c = conn();
  Reply r;
  if (!c || !c->call({"INCR", "bench:queues"}, r)) return -1;
  if (r.type != ':') return errno = EPROTO, -1;
  return static_cast<int>(r.integer);
}

int redis_msgsnd(int id, const void* msgp, size_t msgsz, int) {
  Conn* c = conn();
  if (!c) return -1;
  long mtype;
  std::memcpy(&mtype, msgp, sizeof mtype);
  if (mtype < 1 || mtype > kRedisMaxType || msgsz > kMaxText) return errno = EINVAL, -1;
  // The item: the mtype, then the text (msgbuf's layout, sent as is).
  std::string_view item(static_cast<const char*>(msgp), sizeof(long) + msgsz);
  const std::string k = key(id, mtype);
  Reply r;
  if (!c->call({"LPUSH", k, item}, r)) return -1;
  if (r.type != ':') return errno = EPROTO, -1;
  return 0;
}

ssize_t redis_msgrcv(int id, void* msgp, size_t msgsz, long msgtyp, int flags) {
  Conn* c = conn();
  if (!c) return -1;
  std::vector<std::string> keys;
  if (msgtyp > 0) {
    keys.push_back(key(id, msgtyp));
  } else {
    const long top = msgtyp == 0 ? kRedisMaxType : std::min(-msgtyp, kRedisMaxType);
    for (long t = 1; t <= top; ++t) keys.push_back(key(id, t));
  }
  Reply r;
  std::string item;
  if (flags & IPC_NOWAIT) {
    // RPOP each list in type order: the lowest type present, without waiting.
    for (const auto& k : keys) {
      if (!c->call({"RPOP", k}, r)) return -1;
      if (r.type == '$' && !r.nil) {
        item = std::move(r.text);
        break;
      }
    }
    if (item.empty()) return errno = ENOMSG, -1;
  } else {
    std::vector<std::string_view> args = {"BRPOP"};
    for (const auto& k : keys) args.push_back(k);
    args.push_back("0");
    if (!c->call(args, r)) return -1;
    if (r.type != '*' || r.nil || r.items.size() != 2) return errno = EPROTO, -1;
    item = std::move(r.items[1].text);
  }
  if (item.size() < sizeof(long)) return errno = EPROTO, -1;
  const std::size_t text = item.size() - sizeof(long);
  if (text > msgsz) return errno = E2BIG, -1;
  std::memcpy(msgp, item.data(), item.size());
  return static_cast<ssize_t>(text);
}

int redis_msgctl(int id, int cmd, struct msqid_ds* ds) {
  Conn* c = conn();
  if (!c) return -1;
  Reply r;
  if (cmd == IPC_STAT) {  // also the worker's warm-up: it opens the connection
    if (!c->call({"PING"}, r)) return -1;
    if (ds) {
      *ds = msqid_ds{};
      ds->msg_qbytes = 16384;  // no such limit on a list; the bench's queues ask for this
    }
    return 0;
  }
  if (cmd == IPC_SET) return 0;  // nothing to set: lists are unbounded
  if (cmd == IPC_RMID) {
    std::vector<std::string> keys;
    for (long t = 1; t <= kRedisMaxType; ++t) keys.push_back(key(id, t));
    std::vector<std::string_view> args = {"DEL"};
    for (const auto& k : keys) args.push_back(k);
    return c->call(args, r) ? 0 : -1;
  }
  return errno = EINVAL, -1;
}

}  // namespace

const std::string& redis_socket() { return g_socket; }

Backend redis_backend(const std::string& socket, pid_t server_pid) {
  g_socket = socket;
  g_conn.reset();
  return Backend{"redis", redis_msgget, redis_msgsnd, redis_msgrcv, redis_msgctl, server_pid, {}};
}

std::optional<std::string> redis_command(const std::string& socket,
                                         const std::vector<std::string>& args) {
  Conn c(socket);
  if (!c.ok()) return std::nullopt;
  std::vector<std::string_view> views(args.begin(), args.end());
  Reply r;
  if (!c.call(views, r) || r.type == '-' || r.type == '*' || r.nil) return std::nullopt;
  return r.type == ':' ? std::to_string(r.integer) : r.text;
}

std::optional<long long> redis_used_memory(const std::string& socket) {
  auto info = redis_command(socket, {"INFO", "memory"});
  if (!info) return std::nullopt;
  const std::string field = "\r\nused_memory:";
  auto at = info->find(field);
  if (at == std::string::npos) return std::nullopt;
  return std::atoll(info->c_str() + at + field.size());
}

bool RedisServer::start(const std::string& binary, std::string& why) {
  if (!server_.make_dir("sysvmq-bench-redis", why)) return false;
  socket_ = server_.dir() + "/redis.sock";
  const std::vector<std::string> argv{binary, "--port", "0", "--unixsocket", socket_,
                                      "--unixsocketperm", "700", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no",
                                      "--dir", server_.dir(), "--loglevel", "warning"};
  return server_.run(
      argv, /*quiet_stdout=*/true,
      [this] {
        auto pong = redis_command(socket_, {"PING"});
        return pong && *pong == "PONG";
      },
      "it answered PING", why);
}

}  // namespace sysvmq::bench
