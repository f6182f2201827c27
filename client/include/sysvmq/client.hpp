// client.hpp: the C++ API of libsysvmq. One sysvmq::Client is one connection to sysvmqd.
// Errors are values: every call returns a Result<T> holding the value or a
// std::error_code in std::generic_category() whose value is the errno the matching libc
// call would set (plus ECONNREFUSED / ECONNRESET / EPROTO for the daemon's reachability,
// EAGAIN for a connection refused by the daemon's connection limits,
// as in sysvmq.h). Nothing throws except std::bad_alloc and Result::value() on an error.
// A Client is not thread-safe: use one per thread. After fork() the child's copy opens
// a new connection on its next call. Blocking calls (msgsnd, msgrcv without IPC_NOWAIT)
// end with EINTR when a signal handler runs while they wait, as the kernel's do.
// Not here: the C API (sysvmq.h).
#pragma once

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

#include <sysvmq/export.h>

namespace sysvmq {

namespace detail {
class Connection;
}

// A value or the errno that prevented it.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(std::error_code error) : v_(std::in_place_index<1>, error) {}  // NOLINT: implicit

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // The value; throws std::bad_variant_access when !ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // A default (zero) error_code when ok().
  std::error_code error() const noexcept {
    return ok() ? std::error_code() : std::get<1>(v_);
  }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code error) : error_(error) {}  // NOLINT: implicit

  bool ok() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept { return error_; }

 private:
  std::error_code error_;
};

// A message as msgrcv(2) returns it.
struct Message {
  long mtype = 0;
  std::string text;
};

// MSG_STAT / MSG_STAT_ANY: the full id of the queue in a slot, and its msqid_ds.
struct SlotStat {
  int msqid = 0;
  struct msqid_ds ds {};
};

// IPC_INFO / MSG_INFO: the highest slot index in use (0 when none) and struct msginfo.
struct Info {
  int highest_index = 0;
  struct msginfo info {};
};

// What the daemon announced when this connection was opened (HELLO).
struct Limits {
  int msgmax = 0;
  int msgmnb = 0;
  int msgmni = 0;
  std::uint32_t max_frame_bytes = 0;
};

class SYSVMQ_EXPORT Client {
 public:
  // Connects lazily, on the first call, to $SYSVMQ_SOCKET or /run/sysvmq/sysvmq.sock.
  Client();
  // Connects lazily to `socket_path`, whatever the environment says.
  explicit Client(std::string socket_path);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens the connection now (it is opened by the first call otherwise).
  Result<Limits> connect();

  // msgget(2).
  Result<int> msgget(key_t key, int msgflg);
  // msgsnd(2) of `text` with type `mtype`.
  Result<void> msgsnd(int msqid, long mtype, std::string_view text, int flags = 0);
  // msgrcv(2) with a buffer of `maxsize` bytes; MSG_NOERROR, MSG_EXCEPT, MSG_COPY and
  // IPC_NOWAIT in `flags` as in the kernel.
  Result<Message> msgrcv(int msqid, std::size_t maxsize, long msgtyp, int flags = 0);
  // msgctl(IPC_STAT).
  Result<struct msqid_ds> stat(int msqid);
  // msgctl(MSG_STAT_ANY), or MSG_STAT when `any` is false (that one needs read access).
  Result<SlotStat> stat_slot(int index, bool any = true);
  // msgctl(IPC_SET): uses msg_perm.uid, msg_perm.gid, msg_perm.mode and msg_qbytes.
  Result<void> set(int msqid, const struct msqid_ds& ds);
  // msgctl(IPC_RMID).
  Result<void> remove(int msqid);
  // msgctl(IPC_INFO) or msgctl(MSG_INFO).
  Result<Info> info(int cmd);
  // The daemon's ADMIN call: a JSON request ({"op":"stats"}, {"op":"queues"},
  // {"op":"limits"}, {"op":"set_limits",...}; proto/PROTOCOL.md) and its JSON answer.
  // A refused request gives its status (EINVAL, or EPERM for set_limits without
  // CAP_SYS_ADMIN).
  Result<std::string> admin(std::string_view json);

  // The socket path this client connects to (or did).
  std::string socket_path() const;

 private:
  detail::Connection& connection();

  std::unique_ptr<detail::Connection> connection_;
};

}  // namespace sysvmq
