// connection.hpp: one connection to sysvmqd, owned by one thread of one process — the
// transport under both the C and the C++ API: connect + HELLO, identity checks, the
// calling thread's capabilities, the wait for a reply with CANCEL on EINTR, and the
// reconnect-and-reissue after a graceful daemon stop.
// Not here: what a call means or how caller memory is copied (calls.cpp, c_api.cpp).
// Not thread-safe: the C API keeps one per thread (thread_local), a Client owns one.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/codec.hpp"
#include "proto/ring.hpp"

namespace sysvmq::detail {

// The socket path for a connection without an explicit one: $SYSVMQ_SOCKET (ignored in
// secure-execution mode, i.e. setuid programs), else kDefaultSocketPath.
inline constexpr const char* kDefaultSocketPath = "/run/sysvmq/sysvmq.sock";
const char* default_socket_path();

// The device and inode a descriptor named when it was recorded (`known` false when the
// kernel would not say). A descriptor is ours only while it still names them.
struct FdIdentity {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  bool known = false;
};

// True when `fd` is a socket some Connection of this process opened and still owns (so
// the shim never writes its diagnostic into one, when stderr was closed and reused).
bool is_own_socket(int fd);

// errno-style results beyond the SysV ones.
//   ECONNREFUSED  the daemon could not be reached (connect or HELLO failed)
//   EAGAIN        the daemon refused the connection: too many connections, in total or
//                 for this uid (max_connections, max_connections_per_uid); try later
//   ECONNRESET    the connection was lost while a call was in flight
//   EPROTO        the daemon's answer broke the protocol; the connection is dropped
//   EMSGSIZE      the request does not fit in the daemon's max_frame_bytes
class Connection {
 public:
  Connection() = default;
  explicit Connection(std::string socket_path) : explicit_path_(std::move(socket_path)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Makes the connection usable for a call by this thread now: drops one inherited
  // through fork(), one opened under other credentials (SEMANTICS.md Rule 5.4.2) or one
  // the daemon has closed since the last call, forgets (without closing) one whose
  // descriptor the program closed or reused for another file, and connects if needed.
  // 0, ECONNREFUSED or EAGAIN (refused: connection limits).
  int ensure();

  // Issues `request` and waits for its reply. 0 with `reply` set (its status may be any
  // SysV answer), or an errno from the list above, or EINTR when `can_park` and a signal
  // handler ran while the daemon still had the call parked (SEMANTICS.md 8.1). Calls
  // that cannot park never return EINTR. A reply "shutting down" makes it reconnect,
  // waiting up to kReconnectWait, and issue the request again (SEMANTICS.md 8.14).
  int call(const proto::Request& request, bool can_park, proto::Reply& reply);

  // msgsnd on send credit (PROTOCOL.md "Send credit"): 0 when the message was published
  // and paid for — the send is complete, there is no reply — or EAGAIN when this
  // connection holds no credit that covers it (then use call()).
  int send_on_credit(const proto::MsgsndRequest& request);

  // msgrcv of a message lent to this connection (PROTOCOL.md "Lent messages"): 0 with
  // `mtype` and `text` (at most msgsz bytes) when one was claimed, E2BIG when the first
  // lent message is too long for msgsz without MSG_NOERROR (it stays), EAGAIN when
  // nothing lent fits this call (then use call()).
  int receive_lent(int msqid, std::size_t msgsz, long msgtyp, int msgflg, long& mtype,
                   proto::Bytes& text);

  // Valid after a successful ensure() or call().
  const proto::HelloReply& hello() const { return hello_; }

  // The path used by the last connection attempt and, when it failed, connect's errno
  // (for the shim's one-line diagnostic).
  const std::string& last_path() const { return last_path_; }
  int last_connect_errno() const { return last_connect_errno_; }
  // True when the last connection attempt was refused by the daemon's connection limits
  // (the call failed with EAGAIN): the shim names that reason on stderr.
  bool refused() const { return fd_ < 0 && last_connect_errno_ == EAGAIN; }
  std::string socket_path() const;

  bool connected() const { return fd_ >= 0; }
  // True while calls go through the shared-memory rings (PROTOCOL.md "Rings").
  bool on_fast_path() const { return ring_region_ != nullptr; }

  // Closes the socket (the daemon drops whatever this connection had parked).
  void drop();

 private:
  int call_in_flight(const proto::Request& request, bool can_park, proto::Reply& reply);
  int connect_and_hello();
  int send_all(const proto::Bytes& bytes, bool& sent_anything);
  int send_cancel(std::uint64_t request_id);
  // timeout_ms < 0: no timeout. `cancelled` is set once a CANCEL went out. With
  // `on_ring` the reply may come by the completion ring or the socket.
  int await_reply(std::uint64_t request_id, proto::Opcode opcode, bool can_park,
                  int timeout_ms, proto::Reply& reply, bool& cancelled, bool on_ring = false);
  // A whole reply frame for `request_id` from `decoder`: 0 (reply set), EAGAIN (none
  // yet) or EPROTO (the connection is dropped).
  int take_reply(proto::FrameDecoder& decoder, std::uint64_t request_id, proto::Opcode opcode,
                 proto::Reply& reply);
  ssize_t receive_some(std::span<std::byte> room);
  // The fast path: asks for rings after HELLO (0, or the daemon said no and calls stay on
  // the socket), publishes one frame, forgets the rings.
  int setup_ring();
  bool publish_on_ring(const proto::Bytes& frame);
  void ring_doorbell_if_idle();
  void unmap_ring();
  int reconnect_after_shutdown(bool can_park,
                               std::chrono::steady_clock::time_point deadline);
  bool identity_changed() const;
  // Whether the calling thread's ids that a grant on `basis` depends on (PROTOCOL.md
  // "Grants and identity") are still those of connect: zero, one or four system calls.
  bool grant_holds(proto::ring::Basis basis) const;
  // True when the daemon has hung up on this connection (it stopped or died), or the
  // descriptor no longer polls as a live socket. One system call, nothing read.
  bool daemon_hung_up() const;
  void record_identity();
  bool peer_gone();

  std::string explicit_path_;
  int fd_ = -1;
  FdIdentity fd_id_;  // what fd_ named at connect
  unsigned fork_generation_ = 0;
  pid_t pid_ = 0;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
  std::vector<gid_t> groups_;
  std::uint16_t caps_ = 0;  // thread_caps_flags() at connect
  proto::HelloReply hello_;
  std::uint64_t next_request_id_ = 1;
  proto::FrameDecoder decoder_{proto::kClientMaxReplyBytes};
  proto::Bytes out_;
  bool drop_after_call_ = false;  // a CANCEL could not be sent whole
  std::string last_path_;
  int last_connect_errno_ = 0;

  // The fast path (set up by setup_ring, gone with drop).
  std::byte* ring_region_ = nullptr;
  std::size_t ring_region_bytes_ = 0;
  proto::ring::RingWriter ring_sq_;
  proto::ring::RingReader ring_cq_;
  std::byte* ring_lq_ = nullptr;  // the lending ring's bytes (nullptr: none)
  std::uint64_t ring_lq_capacity_ = 0;
  proto::Bytes lent_;             // the lent entry being looked at
  proto::FrameDecoder ring_decoder_{proto::kClientMaxReplyBytes};
  int received_fd_ = -1;  // a descriptor that came with the last reply (RING_SETUP's)
};

// False when $SYSVMQ_FASTPATH is "0": calls then go over the socket only.
bool fast_path_enabled();

// The calling thread's connection of the C API (c_api.cpp); the preload shim reads its
// last_path() and last_connect_errno() for its one-line diagnostic.
Connection& c_api_connection();

}  // namespace sysvmq::detail
