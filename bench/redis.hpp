// redis.hpp: Redis lists as a benchmark backend — a private redis-server the bench starts
// and stops, and msgget/msgsnd/msgrcv/msgctl look-alikes over a small RESP client.
// Not here: the kernel and sysvmq backends (backends.hpp), the workloads (workloads.hpp).
// Used in the bench's parent (start, queues) and in every forked worker (one connection
// per process, opened on its first call).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench/backends.hpp"

namespace sysvmq::bench {

// How SysV maps onto lists: queue id N is the keys "q:N:t<type>", one list per mtype, so
// msgtyp > 0 is BRPOP on that type's list and msgtyp -n is BRPOP over t1..tn (BRPOP takes
// the first non-empty key in order: the lowest type, as msgrcv(2) does). msgtyp 0 reads
// t1..t4 the same way (the bench's workloads that use it send type 1 only). Each list
// item is the 8-byte mtype followed by the text, and the receiver checks both. LPUSH
// never blocks: Redis has no msg_qbytes, so senders may run ahead of receivers.
inline constexpr long kRedisMaxType = 4;

// The redis-server at `socket` (set by RedisServer::start, or by the caller).
Backend redis_backend(const std::string& socket, pid_t server_pid);
// The socket redis_backend() was given.
const std::string& redis_socket();

// A private redis-server: Unix socket only, persistence off, in a fresh temporary dir.
class RedisServer {
 public:
  // Starts `binary` (looked up on $PATH) and polls PING, up to 5 s, until it answers
  // PONG; false and `why` if it does not.
  bool start(const std::string& binary, std::string& why);
  void stop() { server_.stop(); }
  pid_t pid() const { return server_.pid(); }
  const std::string& socket_path() const { return socket_; }

 private:
  PrivateServer server_;
  std::string socket_;
};

// One command on a fresh connection to `socket`: the reply as text (bulk or status or
// integer), nullopt on error. For PING and INFO from the parent.
std::optional<std::string> redis_command(const std::string& socket,
                                         const std::vector<std::string>& args);
// used_memory of INFO memory, in bytes.
std::optional<long long> redis_used_memory(const std::string& socket);

}  // namespace sysvmq::bench
