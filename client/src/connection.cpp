// connection.cpp: the transport of libsysvmq — see connection.hpp.
// Ids, groups and capabilities are read with raw syscalls: another preload library
// (fakeroot) may wrap geteuid() and friends, and what must match is what the kernel
// reports to the daemon through SO_PEERCRED. So is the identity of our socket (statx,
// fstat): fakeroot wraps those too.
#include "client/src/connection.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <variant>

#include "client/src/pid_scope.hpp"

namespace sysvmq::detail {
namespace {

using Clock = std::chrono::steady_clock;

// How long a call caught by a graceful daemon stop waits for the daemon to come back
// (SEMANTICS.md 8.14), and how often it tries to connect meanwhile.
constexpr auto kReconnectWait = std::chrono::seconds(10);
constexpr int kReconnectStepMs = 50;
// How long HELLO may take before the daemon counts as unreachable.
constexpr int kHelloTimeoutMs = 10000;
// How long to look for a refusal already written when HELLO could not be sent.
constexpr int kRefusalReadMs = 1000;
constexpr std::size_t kReadChunk = 64 * 1024;

// How a caller waits for a reply on the fast path: polls the completion ring kSpinPolls
// times with a CPU pause between, then kYieldPolls times with sched_yield() between (on
// two cores the daemon may need this core), then says it sleeps and waits in poll() for
// the daemon's WAKE (bench/experiments/wait-strategy.md).
constexpr int kSpinPolls = 64;
constexpr int kYieldPolls = 48;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

bool is_wake_notice(const proto::FrameHeader& h) {
  return h.opcode == (static_cast<std::uint16_t>(proto::Opcode::doorbell) | proto::kReplyBit);
}

// ---- our sockets and their identity ------------------------------------------------
// A program may close a descriptor it does not own — fakeroot's faked closes every one
// after fork(), others close a range and open files — and the number then names some
// other file. Each socket is remembered with the device and inode it had when it was
// opened, and a number is used, polled or closed only while it still names that socket.

// The identity of whatever `fd` names now, with raw syscalls; false when it is closed
// or the kernel would not say.
bool read_fd_identity(int fd, FdIdentity& out) {
  struct statx stx {};
  if (::syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_INO, &stx) == 0) {
    out.dev = (static_cast<std::uint64_t>(stx.stx_dev_major) << 32) | stx.stx_dev_minor;
    out.ino = stx.stx_ino;
    out.known = true;
    return true;
  }
#if defined(SYS_fstat) && (defined(__x86_64__) || defined(__aarch64__))
  // Kernels before 4.11, or a seccomp filter that refuses statx; on these ABIs the
  // kernel's struct stat is glibc's.
  if (errno == ENOSYS || errno == EPERM) {
    struct stat st {};
    if (::syscall(SYS_fstat, fd, &st) == 0) {
      out.dev = static_cast<std::uint64_t>(st.st_dev);
      out.ino = static_cast<std::uint64_t>(st.st_ino);
      out.known = true;
      return true;
    }
  }
#endif
  return false;
}

// True while `fd` still names the socket whose identity was recorded as `id` (always,
// when none could be recorded).
bool names_socket(int fd, const FdIdentity& id) {
  if (!id.known) return true;
  FdIdentity now;
  return read_fd_identity(fd, now) && now.dev == id.dev && now.ino == id.ino;
}

struct ListedSocket {
  int fd;
  FdIdentity id;
};

// ---- fork -----------------------------------------------------------------------------
// Every socket of every Connection in the process, so that the child of fork() closes
// the ones it inherited (SEMANTICS.md 8.3: an inherited copy would keep a dead parent's
// parked call alive) — those of other threads too, whose Connection objects the child
// never runs. The atfork handlers hold g_fds_mutex across fork(), so the child finds
// the list consistent. A socket is created and closed under the mutex: no fork can see
// one that is open but not listed, or listed but already closed.
pthread_mutex_t g_fds_mutex = PTHREAD_MUTEX_INITIALIZER;
std::vector<ListedSocket>* g_fds = nullptr;  // allocated once, never freed (used until exit)
std::atomic<unsigned> g_fork_generation{0};

void before_fork() { pthread_mutex_lock(&g_fds_mutex); }
void after_fork_in_parent() { pthread_mutex_unlock(&g_fds_mutex); }
void after_fork_in_child() {
  const int saved_errno = errno;  // fork() succeeded; the child's errno is the parent's
  if (g_fds != nullptr) {
    // A listed number the program has since given to another file stays open.
    for (const ListedSocket& s : *g_fds) {
      if (names_socket(s.fd, s.id)) ::close(s.fd);
    }
    g_fds->clear();
  }
  g_fork_generation.fetch_add(1, std::memory_order_release);
  pthread_mutex_unlock(&g_fds_mutex);
  errno = saved_errno;
}

void register_atfork_once() {
  // glibc unregisters the handlers of a library when it is dlclose'd.
  static const bool registered = [] {
    ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
    return true;
  }();
  (void)registered;
}

class FdsLock {
 public:
  FdsLock() { pthread_mutex_lock(&g_fds_mutex); }
  ~FdsLock() { pthread_mutex_unlock(&g_fds_mutex); }
  FdsLock(const FdsLock&) = delete;
  FdsLock& operator=(const FdsLock&) = delete;
};

// A listed SOCK_CLOEXEC stream socket, its identity and the fork generation it belongs
// to (read under the same lock, so a fork() cannot fall in between), or -1 with errno.
int open_listed_socket(FdIdentity& id, unsigned& generation) {
  FdsLock lock;
  generation = g_fork_generation.load(std::memory_order_acquire);
  if (g_fds == nullptr) g_fds = new std::vector<ListedSocket>();
  g_fds->reserve(g_fds->size() + 1);  // the only allocation; before the socket exists
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    const int saved_errno = errno;
    id = FdIdentity{};
    read_fd_identity(fd, id);
    errno = saved_errno;
    g_fds->push_back(ListedSocket{fd, id});
  }
  return fd;
}

// Unlists the socket (fd, id); closes it only if `fd` still names it.
void close_listed_socket(int fd, const FdIdentity& id, bool close_it = true) {
  FdsLock lock;
  bool listed = false;
  if (g_fds != nullptr) {
    const auto it = std::find_if(g_fds->begin(), g_fds->end(), [&](const ListedSocket& s) {
      return s.fd == fd && s.id.known == id.known && s.id.dev == id.dev && s.id.ino == id.ino;
    });
    if (it != g_fds->end()) {
      g_fds->erase(it);
      listed = true;
    }
  }
  if (close_it && listed && names_socket(fd, id)) ::close(fd);
}

// ---- identity -------------------------------------------------------------------------
uid_t raw_geteuid() { return static_cast<uid_t>(::syscall(SYS_geteuid)); }
gid_t raw_getegid() { return static_cast<gid_t>(::syscall(SYS_getegid)); }

// The supplementary groups, or false when the kernel would not say.
bool raw_getgroups(std::vector<gid_t>& out) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    const long n = ::syscall(SYS_getgroups, 0, nullptr);
    if (n < 0) return false;
    out.resize(static_cast<std::size_t>(n));
    const long m = ::syscall(SYS_getgroups, n, out.data());
    if (m >= 0) {
      out.resize(static_cast<std::size_t>(m));
      return true;
    }
    if (errno != EINVAL) return false;  // EINVAL: the list grew in between; ask again
  }
  return false;
}

// The calling thread's effective capabilities among those the daemon asks about, as
// request flags (SEMANTICS.md Rule 5.4.6); 0 (no kFlagCaps) when capget fails, and then
// the daemon judges by what it verified at connect time.
std::uint16_t thread_caps_flags() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;  // the calling thread
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return 0;
  const std::uint32_t effective = data[0].effective;  // capabilities 0..31
  std::uint16_t flags = proto::kFlagCaps;
  if (effective & (1u << CAP_IPC_OWNER)) flags |= proto::kFlagCapIpcOwner;
  if (effective & (1u << CAP_SYS_ADMIN)) flags |= proto::kFlagCapSysAdmin;
  if (effective & (1u << CAP_SYS_RESOURCE)) flags |= proto::kFlagCapSysResource;
  return flags;
}

std::int32_t status_of(const proto::Reply& reply) {
  return std::visit([](const auto& r) { return r.status; }, reply);
}

// Sleeps `ms` milliseconds; false when a signal handler cut the sleep short.
bool sleep_ms(int ms) { return ::poll(nullptr, 0, ms) >= 0 || errno != EINTR; }

}  // namespace

unsigned fork_generation() {
  register_atfork_once();
  return g_fork_generation.load(std::memory_order_acquire);
}

bool is_own_socket(int fd) {
  FdsLock lock;
  if (g_fds == nullptr) return false;
  return std::any_of(g_fds->begin(), g_fds->end(),
                     [&](const ListedSocket& s) { return s.fd == fd && names_socket(fd, s.id); });
}

const char* default_socket_path() {
  // secure_getenv: a setuid program must not be pointed at a daemon of the caller's.
  const char* path = ::secure_getenv("SYSVMQ_SOCKET");
  return (path != nullptr && *path != '\0') ? path : kDefaultSocketPath;
}

Connection::~Connection() { drop(); }

std::string Connection::socket_path() const {
  return explicit_path_.empty() ? std::string(default_socket_path()) : explicit_path_;
}

void Connection::drop() {
  if (fd_ >= 0) {
    // After fork() the child's handler has closed it already, and the number may now
    // belong to something else.
    if (fork_generation_ == g_fork_generation.load(std::memory_order_acquire)) {
      close_listed_socket(fd_, fd_id_);
    }
    fd_ = -1;
  }
  decoder_ = proto::FrameDecoder(proto::kClientMaxReplyBytes);
  drop_after_call_ = false;
  unmap_ring();
  if (received_fd_ >= 0) {
    ::close(received_fd_);
    received_fd_ = -1;
  }
}

void Connection::unmap_ring() {
  if (ring_region_ != nullptr) {
    // The mapping is MADV_DONTFORK: in a child (or a raw clone) it is not there, and the
    // address may since hold something of the child's.
    if (fork_generation_ == g_fork_generation.load(std::memory_order_acquire) &&
        pid_ == current_pid()) {
      ::munmap(ring_region_, ring_region_bytes_);
    }
    ring_region_ = nullptr;
    ring_region_bytes_ = 0;
  }
  ring_sq_ = {};
  ring_cq_ = {};
  ring_lq_ = nullptr;
  ring_lq_capacity_ = 0;
  ring_decoder_ = proto::FrameDecoder(proto::kClientMaxReplyBytes);
}

bool fast_path_enabled() {
  const char* v = ::getenv("SYSVMQ_FASTPATH");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

int Connection::setup_ring() {
  const std::uint64_t id = next_request_id_++;
  out_.clear();
  proto::encode_request(id, 0, proto::RingSetupRequest{}, out_);
  bool sent_anything = false;
  proto::Reply reply;
  bool cancelled = false;
  if (send_all(out_, sent_anything) != 0 ||
      await_reply(id, proto::Opcode::ring_setup, false, kHelloTimeoutMs, reply, cancelled) != 0) {
    drop();
    return ECONNRESET;
  }
  const int fd = std::exchange(received_fd_, -1);
  const auto* r = std::get_if<proto::RingSetupReply>(&reply);
  if (r == nullptr || r->status != proto::kStatusOk || fd < 0) {
    if (fd >= 0) ::close(fd);
    return 0;  // ENOSYS (fast path off) or no descriptor: the socket carries every call
  }
  const proto::ring::Layout layout{r->region_bytes, r->sq_offset,   r->sq_capacity,
                                   r->cq_offset,    r->cq_capacity, r->lq_offset,
                                   r->lq_capacity};
  struct stat st {};
  // Raw fstat (fakeroot wraps the libc one); the region must be exactly what was said.
  const bool size_ok = ::syscall(SYS_fstat, fd, &st) == 0 &&
                       static_cast<std::uint64_t>(st.st_size) == layout.region_bytes;
  void* p = MAP_FAILED;
  if (size_ok && proto::ring::layout_valid(layout, layout.region_bytes)) {
    p = ::mmap(nullptr, static_cast<std::size_t>(layout.region_bytes), PROT_READ | PROT_WRITE,
               MAP_SHARED, fd, 0);
  }
  ::close(fd);
  if (p == MAP_FAILED) return 0;
  auto* region = static_cast<std::byte*>(p);
  if (proto::ring::word32(region, proto::ring::kMagicOffset).load() != proto::ring::kRegionMagic ||
      proto::ring::word32(region, proto::ring::kVersionOffset).load() != proto::ring::kRegionVersion) {
    ::munmap(p, static_cast<std::size_t>(layout.region_bytes));
    return 0;
  }
  // A child of fork() must not write into its parent's rings: it gets no mapping at all.
  ::madvise(p, static_cast<std::size_t>(layout.region_bytes), MADV_DONTFORK);
  ring_region_ = region;
  ring_region_bytes_ = static_cast<std::size_t>(layout.region_bytes);
  ring_sq_ = proto::ring::RingWriter(region, layout.sq_offset, layout.sq_capacity,
                                     proto::ring::kSqHeadOffset, proto::ring::kSqTailOffset,
                                     /*tail_carries_credit=*/true);
  ring_cq_ = proto::ring::RingReader(region, layout.cq_offset, layout.cq_capacity,
                                     proto::ring::kCqHeadOffset, proto::ring::kCqTailOffset);
  if (layout.lq_capacity != 0) {
    ring_lq_ = region + layout.lq_offset;
    ring_lq_capacity_ = layout.lq_capacity;
  }
  return 0;
}

bool Connection::publish_on_ring(const proto::Bytes& frame) {
  std::uint64_t room = 0;
  if (!ring_sq_.free_bytes(room) || room < frame.size()) return false;
  ring_sq_.write(frame);
  ring_sq_.publish();
  ring_doorbell_if_idle();
  return true;
}

void Connection::ring_doorbell_if_idle() {
  // Store-tail-then-load-idle; the daemon does store-idle-then-load-tail. With both
  // fences at least one side sees the other: no entry waits for a doorbell never rung.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (proto::ring::word32(ring_region_, proto::ring::kDaemonIdleOffset)
          .load(std::memory_order_relaxed) != 0) {
    // The fast path's calls do not check the socket: never write into a number the
    // program has closed (the daemon then saw the hang-up and ran what was published).
    if (!names_socket(fd_, fd_id_)) {
      close_listed_socket(fd_, fd_id_, /*close_it=*/false);
      fd_ = -1;
      drop();
      return;
    }
    proto::Bytes bell;
    proto::encode_request(0, 0, proto::DoorbellRequest{}, bell);
    bool sent_anything = false;
    // A doorbell that cannot be sent means the daemon is gone; the next call finds out.
    if (send_all(bell, sent_anything) != 0) drop();
  }
}

int Connection::send_on_credit(const proto::MsgsndRequest& req) {
  namespace ring = proto::ring;
  if (ring_region_ == nullptr || req.mtype < 1 || req.msgsz < 0 ||
      req.text_state != proto::TextState::present)
    return EAGAIN;
  // The region is mapped only in the process that set it up (MADV_DONTFORK): look at it
  // only there. The full check (credentials, socket) is for when there is credit to use,
  // so a send without credit pays for it once, in call().
  if (fork_generation_ != g_fork_generation.load(std::memory_order_acquire) ||
      pid_ != current_pid())
    return EAGAIN;
  // Credit is for one queue and messages up to the msgmax it was given under.
  const auto msqid = static_cast<std::int32_t>(
      ring::word32(ring_region_, ring::kGrantMsqidOffset).load(std::memory_order_acquire));
  const auto size = static_cast<std::uint64_t>(req.msgsz);
  if (msqid != req.msqid ||
      size > ring::word32(ring_region_, ring::kGrantMsgmaxOffset).load(std::memory_order_relaxed))
    return EAGAIN;
  const ring::Credit spend{1, static_cast<std::uint32_t>(size)};
  if (!ring::credit_of(ring::word64(ring_region_, ring::kSqTailOffset).load(std::memory_order_relaxed))
           .covers(spend.count, spend.bytes))
    return EAGAIN;
  // Not ensure(): a send on credit does not touch the socket, and the checks it needs
  // cost a system call each. The ids the credit depends on must be those of connect
  // (else the call goes to a new connection, judged anew: Rule 5.4.2). A daemon that
  // closes this connection takes the credit back first (publish_spending then fails);
  // one that died cannot, and its hang-up is seen here.
  if (!grant_holds(ring::basis_of(
          ring::word32(ring_region_, ring::kGrantBasisOffset).load(std::memory_order_relaxed)))) {
    drop();
    return EAGAIN;
  }
  if (daemon_hung_up()) return EAGAIN;  // call() finds out and reconnects
  out_.clear();
  proto::encode_request(0, proto::kFlagOnCredit, req, out_);
  std::uint64_t room = 0;
  if (!ring_sq_.free_bytes(room) || room < out_.size()) return EAGAIN;
  ring_sq_.write(out_);
  // Publishing and paying are one compare-and-swap: once it lands the send is complete,
  // and a revoking daemon either took the credit first (then this fails) or will run
  // this entry before it acts on anything else.
  if (!ring_sq_.publish_spending(spend)) return EAGAIN;
  ring_doorbell_if_idle();
  return 0;
}

int Connection::receive_lent(int msqid, std::size_t msgsz, long msgtyp, int msgflg, long& mtype,
                             proto::Bytes& text) {
  namespace ring = proto::ring;
  // Only calls the kernel would not refuse outright (Rule 3.1's EINVALs go to the daemon).
  if (ring_lq_ == nullptr || msqid < 0 || msgtyp < 0 ||
      static_cast<std::int64_t>(msgsz) < 0 || (msgflg & (proto::kMsgCopy | proto::kMsgExcept)))
    return EAGAIN;
  // The region is mapped only in the process that set it up (MADV_DONTFORK).
  if (fork_generation_ != g_fork_generation.load(std::memory_order_acquire) ||
      pid_ != current_pid())
    return EAGAIN;
  // The ids the lease depends on are checked once something lent fits this call, so a
  // receive with nothing lent pays for them once, in call(). The socket is not looked at:
  // a claim does not touch it, and a message lent before a daemon died was in its queue
  // (taking it is a receive that came before the crash).
  bool same_identity = false;
  auto claim = ring::word64(ring_region_, ring::kLqClaimOffset);
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::uint64_t word = claim.load(std::memory_order_acquire);
    if (ring::claim_revoked(word)) return EAGAIN;
    // The word first, then the tail: a new epoch's tail was stored before its word.
    const std::uint64_t head = ring::claim_head(word);
    const std::uint64_t tail =
        ring::word64(ring_region_, ring::kLqTailOffset).load(std::memory_order_acquire);
    const std::uint64_t available = (tail - head) & ring::kIndexMask;
    if (available < proto::kHeaderBytes || available > ring_lq_capacity_) return EAGAIN;
    std::array<std::byte, proto::kHeaderBytes> header_bytes;
    ring::copy_out(ring_lq_, ring_lq_capacity_, head, header_bytes.data(), header_bytes.size());
    const proto::FrameHeader h = proto::parse_header(header_bytes);
    if (h.body_len > available - proto::kHeaderBytes) return EAGAIN;
    lent_.resize(h.body_len);
    ring::copy_out(ring_lq_, ring_lq_capacity_, head + proto::kHeaderBytes, lent_.data(),
                   lent_.size());
    std::string why;
    auto m = proto::decode_lent(h, lent_, why);
    if (!m || m->msqid != msqid || m->msgtyp != msgtyp) return EAGAIN;
    if (!same_identity) {
      // Read after the claim word: a new lease's basis was stored before its word, and
      // a lease that ended since makes the claim below fail.
      if (!grant_holds(ring::basis_of(ring::word32(ring_region_, ring::kLeaseBasisOffset)
                                          .load(std::memory_order_relaxed)))) {
        drop();  // judged anew on the next connection (Rule 5.4.2)
        return EAGAIN;
      }
      same_identity = true;
    }
    if (m->text.size() > msgsz && !(msgflg & proto::kMsgNoerror)) {
      // Still lent, unclaimed and first now: the kernel's E2BIG, and the message stays.
      if (claim.load(std::memory_order_acquire) != word) continue;
      return E2BIG;
    }
    // The claim: one compare-and-swap against the daemon's revoking one.
    const std::uint64_t next =
        ring::claim_word(head + proto::kHeaderBytes + h.body_len, ring::claim_epoch(word), false);
    if (!claim.compare_exchange_strong(word, next, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      continue;
    mtype = static_cast<long>(m->mtype);
    text = std::move(m->text);
    if (text.size() > msgsz) text.resize(msgsz);  // MSG_NOERROR
    ring_doorbell_if_idle();  // the daemon settles the claim (and wakes parked senders)
    return 0;
  }
  return EAGAIN;
}

ssize_t Connection::receive_some(std::span<std::byte> room) {
  iovec iov{room.data(), room.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t k = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  for (cmsghdr* c = k >= 0 ? CMSG_FIRSTHDR(&msg) : nullptr; c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      // Only the RING_SETUP reply carries one; anything else is closed at once.
      if (received_fd_ >= 0) ::close(received_fd_);
      received_fd_ = fd;
    }
  }
  return k;
}

void Connection::record_identity() {
  euid_ = raw_geteuid();
  egid_ = raw_getegid();
  if (!raw_getgroups(groups_)) groups_.clear();
  caps_ = thread_caps_flags();
}

bool Connection::identity_changed() const {
  if (raw_geteuid() != euid_ || raw_getegid() != egid_) return true;
  // Rule 5.4.6: per call the daemon honours only what it verified at connect, narrowed
  // by the flags; a thread that has since raised a capability again (capset from its
  // permitted set) must be verified anew, or it would stay refused where the kernel
  // lets it in.
  if ((thread_caps_flags() & ~caps_) != 0) return true;
  gid_t small[64];
  const long n = ::syscall(SYS_getgroups, 64, small);
  if (n >= 0) {
    return !std::equal(small, small + n, groups_.begin(), groups_.end());
  }
  std::vector<gid_t> now;
  return !raw_getgroups(now) || now != groups_;
}

bool Connection::grant_holds(proto::ring::Basis basis) const {
  switch (basis) {
    case proto::ring::Basis::anyone: return true;
    case proto::ring::Basis::owner_uid: return raw_geteuid() == euid_;
    case proto::ring::Basis::identity: break;
  }
  return !identity_changed();
}

bool Connection::daemon_hung_up() const {
  // No events asked for: POLLHUP (the daemon's end closed), POLLERR and POLLNVAL come
  // anyway, and nothing is read.
  pollfd p{fd_, 0, 0};
  return ::poll(&p, 1, 0) != 0;
}

bool Connection::peer_gone() {
  if (decoder_.pending_bytes() != 0) return true;  // leftovers of an unfinished reply
  if (ring_region_ != nullptr && (ring_decoder_.pending_bytes() != 0 || ring_cq_.has_input()))
    return true;  // a completion nobody asked for
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    // Between calls only a late WAKE notice may arrive; anything else — EOF, an error,
    // garbage — means the connection is no longer usable.
    if (::poll(&p, 1, 0) <= 0) return false;
    auto room = decoder_.prepare(kReadChunk);
    const ssize_t k = receive_some(room);
    decoder_.commit(k > 0 ? static_cast<std::size_t>(k) : 0);
    if (k <= 0) return !(k < 0 && (errno == EAGAIN || errno == EINTR));
    proto::FrameDecoder::Frame frame;
    std::string why;
    for (;;) {
      const auto st = decoder_.next(frame, why);
      if (st == proto::FrameDecoder::Status::need_more) break;
      if (st == proto::FrameDecoder::Status::bad || !is_wake_notice(frame.header)) return true;
    }
    if (decoder_.pending_bytes() != 0) return true;
  }
}

int Connection::ensure() {
  register_atfork_once();
  if (fd_ >= 0) {
    if (fork_generation_ != g_fork_generation.load(std::memory_order_acquire)) {
      fd_ = -1;  // inherited through fork(); after_fork_in_child() closed it
      drop();
    } else if (!names_socket(fd_, fd_id_)) {
      // The program closed our socket, and the number may now name another file: never
      // write to it, poll it or close it; forget it and connect anew.
      close_listed_socket(fd_, fd_id_, /*close_it=*/false);
      fd_ = -1;
      drop();
    } else if (pid_ != current_pid()) {
      drop();  // a child made without fork()'s handlers (raw clone): close our copy
    } else if (identity_changed() || peer_gone()) {
      // Rule 5.4.2: the daemon judges by the ids of connect(); a daemon that closed an
      // idle connection (it restarted) has read nothing of the next call.
      drop();
    }
  }
  return fd_ >= 0 ? 0 : connect_and_hello();
}

int Connection::connect_and_hello() {
  drop();
  register_atfork_once();
  last_path_ = socket_path();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (last_path_.size() >= sizeof addr.sun_path) {
    last_connect_errno_ = ENAMETOOLONG;
    return ECONNREFUSED;
  }
  std::memcpy(addr.sun_path, last_path_.data(), last_path_.size());

  for (;;) {
    const int fd = open_listed_socket(fd_id_, fork_generation_);
    if (fd < 0) {
      last_connect_errno_ = errno;
      return ECONNREFUSED;
    }
    // Ours from here on, so that a thread cancelled inside connect() closes it on its
    // way out (call()'s guard, or the thread's own Connection going away).
    fd_ = fd;
    pid_ = current_pid();
    // The daemon snapshots the ids of the thread calling connect() (Rule 5.4); taking
    // ours first means a change in between is seen by the next identity check.
    record_identity();
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    const int err = errno;
    drop();
    if (err == EINTR) continue;  // the socket's state is unclear after EINTR: start over
    // ENOENT (no socket file) and ECONNREFUSED (no listener) both mean "no daemon".
    last_connect_errno_ = err;
    return ECONNREFUSED;
  }
  last_connect_errno_ = 0;

  const std::uint64_t id = next_request_id_++;
  out_.clear();
  proto::encode_request(id, 0, proto::HelloRequest{}, out_);
  bool sent_anything = false;
  proto::Reply reply;
  bool cancelled = false;
  // A daemon over its connection limits writes its refusal at once and closes, maybe
  // before our HELLO went out: the refusal is still there to read (PROTOCOL.md "HELLO").
  const bool sent = send_all(out_, sent_anything) == 0;
  if (await_reply(id, proto::Opcode::hello, false, sent ? kHelloTimeoutMs : kRefusalReadMs,
                  reply, cancelled) != 0) {
    drop();
    last_connect_errno_ = ECONNRESET;
    return ECONNREFUSED;
  }
  const auto* hello = std::get_if<proto::HelloReply>(&reply);
  if (hello != nullptr && hello->status == static_cast<std::int32_t>(proto::Errc::eagain)) {
    // Refused: too many connections (in total or for our uid). Try again later.
    drop();
    last_connect_errno_ = EAGAIN;
    return EAGAIN;
  }
  // An unsupported version is answered EINVAL; a stopping daemon answers -1.
  if (hello == nullptr || hello->status != proto::kStatusOk ||
      hello->version != proto::kVersion || hello->max_frame_bytes < proto::kMsgsndFixedBytes) {
    drop();
    last_connect_errno_ = EPROTO;
    return ECONNREFUSED;
  }
  hello_ = *hello;
  if (fast_path_enabled() && setup_ring() != 0) {
    last_connect_errno_ = ECONNRESET;
    return ECONNREFUSED;
  }
  return 0;
}

int Connection::send_all(const proto::Bytes& bytes, bool& sent_anything) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    // MSG_NOSIGNAL: a dead daemon gives EPIPE, never SIGPIPE.
    const ssize_t k = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (k > 0) {
      off += static_cast<std::size_t>(k);
      sent_anything = true;
    } else if (k < 0 && errno == EINTR) {
      continue;
    } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else {
      return ECONNRESET;
    }
  }
  return 0;
}

int Connection::send_cancel(std::uint64_t request_id) {
  proto::Bytes frame;
  proto::encode_request(request_id, 0, proto::CancelRequest{}, frame);
  bool sent_anything = false;
  const int err = send_all(frame, sent_anything);
  // A frame cut short would corrupt the stream; the call's reply may still be readable.
  if (err != 0) drop_after_call_ = true;
  return err;
}

int Connection::take_reply(proto::FrameDecoder& decoder, std::uint64_t request_id,
                           proto::Opcode opcode, proto::Reply& reply) {
  for (;;) {
    proto::FrameDecoder::Frame frame;
    std::string why;
    const auto status = decoder.next(frame, why);
    if (status == proto::FrameDecoder::Status::need_more) return EAGAIN;
    if (status == proto::FrameDecoder::Status::bad) {
      drop();
      return EPROTO;
    }
    // A WAKE notice only says "look at the completion ring", which the caller does.
    if (&decoder == &decoder_ && is_wake_notice(frame.header) && frame.header.request_id == 0 &&
        frame.header.body_len == 0)
      continue;
    const auto expected =
        static_cast<std::uint16_t>(static_cast<std::uint16_t>(opcode) | proto::kReplyBit);
    // A refusal at accept answers HELLO with request_id 0: the daemon had not read ours.
    const bool refusal = opcode == proto::Opcode::hello && frame.header.request_id == 0;
    // One call at a time per connection: any other reply is a protocol error.
    if ((frame.header.request_id != request_id && !refusal) || frame.header.opcode != expected) {
      drop();
      return EPROTO;
    }
    auto decoded = proto::decode_reply(frame.header, frame.body, why);
    if (!decoded) {
      drop();
      return EPROTO;
    }
    reply = std::move(*decoded);
    return 0;
  }
}

int Connection::await_reply(std::uint64_t request_id, proto::Opcode opcode, bool can_park,
                            int timeout_ms, proto::Reply& reply, bool& cancelled, bool on_ring) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  int polls = 0;
  for (;;) {
    int err = take_reply(decoder_, request_id, opcode, reply);
    if (err != EAGAIN) return err;

    if (on_ring) {
      // The reply comes by the completion ring unless it was too big for it.
      if (ring_cq_.has_input()) {
        std::size_t copied = 0;
        if (ring_cq_.read(ring_decoder_, ring_cq_.capacity(), copied) !=
            proto::ring::RingReader::Status::ok) {
          drop();
          return EPROTO;
        }
      }
      err = take_reply(ring_decoder_, request_id, opcode, reply);
      if (err != EAGAIN) return err;
      if (polls < kSpinPolls + kYieldPolls) {
        if (polls++ < kSpinPolls) {
          cpu_relax();
        } else {
          ::sched_yield();
        }
        continue;
      }
      // Going to sleep: say so, then look once more (the daemon publishes, then reads
      // the flag; one of the two sees the other).
      auto waiting = proto::ring::word32(ring_region_, proto::ring::kClientWaitingOffset);
      waiting.store(1, std::memory_order_seq_cst);
      if (ring_cq_.has_input()) {
        waiting.store(0, std::memory_order_relaxed);
        continue;
      }
    }

    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      if (left.count() <= 0) {
        drop();
        return ETIMEDOUT;
      }
      wait_ms = static_cast<int>(left.count());
    }
    pollfd p{fd_, POLLIN, 0};
    // poll() is never restarted after a signal handler, whatever SA_RESTART says: the
    // contract of msgsnd/msgrcv (SEMANTICS.md 8.1).
    const int n = ::poll(&p, 1, wait_ms);
    if (on_ring && ring_region_ != nullptr) {
      proto::ring::word32(ring_region_, proto::ring::kClientWaitingOffset)
          .store(0, std::memory_order_relaxed);
    }
    if (n < 0) {
      if (errno != EINTR) {
        drop();
        return ECONNRESET;
      }
      // The daemon decides: EINTR if the call was still parked, else the answer it had
      // already sent stands — a handed-over message is never dropped. Only one CANCEL;
      // later signals just wait on. It goes by the socket whichever way the call went:
      // the daemon runs a connection's ring entries before its socket frames.
      if (can_park && !cancelled) {
        cancelled = true;
        send_cancel(request_id);
      }
      continue;
    }
    if (n == 0) continue;  // the deadline is checked above

    auto room = decoder_.prepare(kReadChunk);
    const ssize_t k = receive_some(room);
    if (k > 0) {
      decoder_.commit(static_cast<std::size_t>(k));
      continue;
    }
    decoder_.commit(0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    drop();  // EOF or a socket error: the daemon is gone
    return ECONNRESET;
  }
}

int Connection::reconnect_after_shutdown(bool can_park, Clock::time_point deadline) {
  for (;;) {
    // A signal while waiting for the daemon is a signal while parked: EINTR, and the
    // call was never executed (the daemon said so).
    if (!sleep_ms(kReconnectStepMs) && can_park) return EINTR;
    if (connect_and_hello() == 0) return 0;
    if (Clock::now() >= deadline) return ECONNREFUSED;
  }
}

int Connection::call(const proto::Request& request, bool can_park, proto::Reply& reply) {
  // Thread cancellation (glibc unwinds through poll()) or bad_alloc while a call is in
  // flight: close the connection so the daemon drops the parked call (SEMANTICS.md 8.11).
  struct DropUnlessDone {
    Connection& connection;
    bool done = false;
    ~DropUnlessDone() {
      if (!done) connection.drop();
    }
  } guard{*this};
  const int err = call_in_flight(request, can_park, reply);
  guard.done = true;
  return err;
}

int Connection::call_in_flight(const proto::Request& request, bool can_park,
                               proto::Reply& reply) {
  int err = ensure();
  if (err != 0) return err;
  bool resent_after_stale = false;
  std::optional<Clock::time_point> restart_deadline;
  for (;;) {
    const std::uint64_t id = next_request_id_++;
    out_.clear();
    proto::encode_request(id, thread_caps_flags(), request, out_);
    if (out_.size() - proto::kHeaderBytes > hello_.max_frame_bytes) return EMSGSIZE;

    bool cancelled = false;
    if (ring_region_ != nullptr && publish_on_ring(out_)) {
      // The fast path: the frame fitted the submission ring.
      err = await_reply(id, proto::opcode_of(request), can_park, -1, reply, cancelled,
                        /*on_ring=*/true);
    } else {
      bool sent_anything = false;
      if (send_all(out_, sent_anything) != 0) {
        drop();
        // Refused before a byte went out: the daemon closed this connection before the
        // request and never saw it, so sending it on a new connection is no retry.
        if (!sent_anything && !resent_after_stale) {
          resent_after_stale = true;
          err = connect_and_hello();
          if (err != 0) return err;
          continue;
        }
        return ECONNRESET;
      }
      err = await_reply(id, proto::opcode_of(request), can_park, -1, reply, cancelled);
    }
    if (err != 0) return err;
    if (drop_after_call_) drop();
    if (status_of(reply) != proto::kStatusShuttingDown) return 0;

    // The daemon is stopping and did not execute the call (SEMANTICS.md 8.14): issue it
    // again to the next daemon, unless a signal already ended the wait.
    drop();
    if (cancelled) return EINTR;
    if (!restart_deadline) restart_deadline = Clock::now() + kReconnectWait;
    err = reconnect_after_shutdown(can_park, *restart_deadline);
    if (err != 0) return err;
  }
}

}  // namespace sysvmq::detail
