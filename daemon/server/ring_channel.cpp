// ring_channel.cpp: see ring_channel.hpp.
#include "daemon/server/ring_channel.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace sysvmq::server {

namespace ring = proto::ring;

std::unique_ptr<RingChannel> RingChannel::create(std::uint64_t ring_bytes, std::string& why) {
  std::unique_ptr<RingChannel> c(new RingChannel());
  c->layout_ = ring::layout_for(ring_bytes);
  c->fd_ = ::memfd_create("sysvmq-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (c->fd_ < 0) {
    why = std::string("memfd_create: ") + std::strerror(errno);
    return nullptr;
  }
  const auto size = static_cast<off_t>(c->layout_.region_bytes);
  if (::ftruncate(c->fd_, size) != 0) {
    why = std::string("ftruncate: ") + std::strerror(errno);
    return nullptr;
  }
  // Sealed: the client can neither shrink the region under the daemon's mapping (a
  // SIGBUS on the daemon's thread) nor grow it, nor lift the seals.
  if (::fcntl(c->fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    why = std::string("F_ADD_SEALS: ") + std::strerror(errno);
    return nullptr;
  }
  void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED,
                   c->fd_, 0);
  if (p == MAP_FAILED) {
    why = std::string("mmap: ") + std::strerror(errno);
    return nullptr;
  }
  c->region_ = static_cast<std::byte*>(p);
  // A forked daemon helper (none today) must not inherit clients' regions.
  ::madvise(p, static_cast<std::size_t>(size), MADV_DONTFORK);
  ring::word32(c->region_, ring::kMagicOffset).store(ring::kRegionMagic, std::memory_order_relaxed);
  ring::word32(c->region_, ring::kVersionOffset).store(ring::kRegionVersion, std::memory_order_relaxed);
  c->sq_ = ring::RingReader(c->region_, c->layout_.sq_offset, c->layout_.sq_capacity,
                            ring::kSqHeadOffset, ring::kSqTailOffset);
  c->cq_ = ring::RingWriter(c->region_, c->layout_.cq_offset, c->layout_.cq_capacity,
                            ring::kCqHeadOffset, ring::kCqTailOffset,
                            /*tail_carries_credit=*/false);
  ring::word32(c->region_, ring::kGrantMsqidOffset).store(static_cast<std::uint32_t>(-1));
  c->lq_ = ring::RingWriter(c->region_, c->layout_.lq_offset, c->layout_.lq_capacity,
                            ring::kLqClaimOffset, ring::kLqTailOffset,
                            /*tail_carries_credit=*/false);
  // No lease yet: revoked, so the client claims nothing.
  ring::word64(c->region_, ring::kLqClaimOffset).store(ring::claim_word(0, 0, true));
  return c;
}

RingChannel::~RingChannel() {
  close_fd();
  if (region_ != nullptr) ::munmap(region_, static_cast<std::size_t>(layout_.region_bytes));
}

void RingChannel::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RingChannel::drain(proto::FrameDecoder& into, std::size_t& copied) {
  return sq_.read(into, sq_.capacity(), copied) == ring::RingReader::Status::ok;
}

bool RingChannel::write_frame(std::span<const std::byte> frame, bool& broken) {
  broken = false;
  std::uint64_t room = 0;
  if (!cq_.free_bytes(room)) {
    broken = true;
    return false;
  }
  if (room < frame.size()) return false;
  cq_.write(frame);
  cq_.publish();
  return true;
}

bool RingChannel::cq_read_up_to(std::uint64_t& head) const {
  std::uint64_t room = 0;
  if (!cq_.free_bytes(room)) return false;
  head = cq_.published() - (cq_.capacity() - room);
  return true;
}

void RingChannel::set_daemon_idle(bool idle) {
  // seq_cst: ordered before the caller's re-check of the submission tail (the other half
  // of the client's store-tail-then-load-idle).
  ring::word32(region_, ring::kDaemonIdleOffset).store(idle ? 1 : 0, std::memory_order_seq_cst);
}

namespace {
// The client compare-and-swaps the same word once per call; a daemon that loses this
// many times in a row is facing a client spinning on it on purpose.
constexpr int kCasAttempts = 64;
}  // namespace

bool RingChannel::grant(int msqid, std::uint32_t msgmax, ring::Basis basis, ring::Credit add) {
  // Before the queue's id: a client that sees the id sees the basis that goes with it.
  ring::word32(region_, ring::kGrantBasisOffset)
      .store(static_cast<std::uint32_t>(basis), std::memory_order_release);
  ring::word32(region_, ring::kGrantMsqidOffset).store(static_cast<std::uint32_t>(msqid),
                                                       std::memory_order_release);
  ring::word32(region_, ring::kGrantMsgmaxOffset).store(msgmax, std::memory_order_release);
  auto word = ring::word64(region_, ring::kSqTailOffset);
  std::uint64_t seen = word.load(std::memory_order_relaxed);
  for (int i = 0; i < kCasAttempts; ++i) {
    const ring::Credit have = ring::credit_of(seen);
    const ring::Credit next{std::min<std::uint32_t>(ring::kMaxCreditCount, have.count + add.count),
                            std::min<std::uint32_t>(ring::kMaxCreditBytes, have.bytes + add.bytes)};
    if (word.compare_exchange_weak(seen, ring::with_credit(seen, next), std::memory_order_release,
                                   std::memory_order_relaxed))
      return true;
  }
  return false;
}

bool RingChannel::revoke(ring::Credit& left) {
  auto word = ring::word64(region_, ring::kSqTailOffset);
  std::uint64_t seen = word.load(std::memory_order_relaxed);
  for (int i = 0; i < kCasAttempts; ++i) {
    // acq_rel: every entry published before the credit went is visible to the drain that
    // follows.
    if (word.compare_exchange_weak(seen, seen & ring::kIndexMask, std::memory_order_acq_rel,
                                   std::memory_order_relaxed)) {
      left = ring::credit_of(seen);
      return true;
    }
  }
  return false;
}

std::uint64_t RingChannel::start_lease(ring::Basis basis) {
  // Where the client's claims stopped is where the new epoch's entries begin: the tail
  // goes back there before the word says "unrevoked", so a client that reads the new
  // word reads the new tail with it.
  const std::uint64_t head = ring::claim_head(ring::word64(region_, ring::kLqClaimOffset).load());
  lq_.reset_to(head);
  ring::word32(region_, ring::kLeaseBasisOffset)
      .store(static_cast<std::uint32_t>(basis), std::memory_order_relaxed);
  ++lq_epoch_;
  ring::word64(region_, ring::kLqClaimOffset)
      .store(ring::claim_word(head, lq_epoch_, false), std::memory_order_release);
  return head;
}

bool RingChannel::claimed_head(std::uint64_t settled_head, std::uint64_t& head) const {
  const std::uint64_t word =
      ring::word64(region_, ring::kLqClaimOffset).load(std::memory_order_acquire);
  if (ring::claim_epoch(word) != (lq_epoch_ & ring::kClaimEpochMask)) return false;
  head = ring::claim_head(word);
  // Claimed no more than was lent, never less than was settled.
  const std::uint64_t claimed = (head - settled_head) & ring::kIndexMask;
  const std::uint64_t lent = (lq_.published() - settled_head) & ring::kIndexMask;
  return claimed <= lent;
}

bool RingChannel::lend(std::span<const std::byte> frame) {
  std::uint64_t room = 0;
  if (!lq_.free_bytes(room) || room < frame.size()) return false;
  lq_.write(frame);
  lq_.publish();
  return true;
}

bool RingChannel::revoke_lease(std::uint64_t& head) {
  auto word = ring::word64(region_, ring::kLqClaimOffset);
  std::uint64_t seen = word.load(std::memory_order_relaxed);
  for (int i = 0; i < kCasAttempts; ++i) {
    if (ring::claim_revoked(seen) || ring::claim_epoch(seen) != (lq_epoch_ & ring::kClaimEpochMask))
      return false;  // the daemon never wrote that: the client did
    if (word.compare_exchange_weak(seen, seen | ring::kClaimRevoked, std::memory_order_acq_rel,
                                   std::memory_order_relaxed)) {
      head = ring::claim_head(seen);
      return true;
    }
  }
  return false;
}

bool RingChannel::take_client_waiting() {
  // seq_cst: ordered after the completion tail was published (the client stores its flag
  // and then re-checks the tail).
  return ring::word32(region_, ring::kClientWaitingOffset).exchange(0, std::memory_order_seq_cst) != 0;
}

}  // namespace sysvmq::server
