// ring.hpp: the shared-memory fast path's layout (PROTOCOL.md "Rings") — one region
// per connection holding a submission ring (client → daemon) and a completion ring
// (daemon → client), each a single-producer single-consumer pipe of ordinary frames.
// Either side treats the other's words as untrusted: every index is read once, checked
// against the ring's size, and the bytes behind it are copied out before anything looks
// at them. Not here: who maps the region (daemon/server/ring_channel, client/src) or what
// a frame means (codec).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "proto/codec.hpp"

namespace sysvmq::proto::ring {

inline constexpr std::uint32_t kRegionMagic = 0x474E4952;  // "RING" in memory order
inline constexpr std::uint32_t kRegionVersion = 1;

// The control page: each word the two sides write on a cache line of its own.
inline constexpr std::size_t kControlBytes = 4096;
inline constexpr std::size_t kMagicOffset = 0;          // u32, written once by the daemon
inline constexpr std::size_t kVersionOffset = 4;        // u32, written once by the daemon
inline constexpr std::size_t kSqTailOffset = 64;        // u64, client: tail + send credit
inline constexpr std::size_t kSqHeadOffset = 128;       // u64, daemon: bytes consumed
inline constexpr std::size_t kCqTailOffset = 192;       // u64, daemon: bytes published
inline constexpr std::size_t kCqHeadOffset = 256;       // u64, client: bytes consumed
inline constexpr std::size_t kDaemonIdleOffset = 320;   // u32, daemon: 1 = ring the doorbell
inline constexpr std::size_t kClientWaitingOffset = 384;  // u32, client: 1 = send WAKE
inline constexpr std::size_t kGrantMsqidOffset = 448;   // i32, daemon: the credit's queue
inline constexpr std::size_t kGrantMsgmaxOffset = 452;  // u32, daemon: largest text on credit
inline constexpr std::size_t kGrantBasisOffset = 456;  // u32, daemon: the credit's Basis
inline constexpr std::size_t kLeaseBasisOffset = 460;  // u32, daemon: the lease's Basis
inline constexpr std::size_t kLqTailOffset = 512;       // u64, daemon: lent bytes published
inline constexpr std::size_t kLqClaimOffset = 576;      // u64, both: claim word (see below)

// What a grant (send credit, a lease) depends on in the client's identity (PROTOCOL.md
// "Grants and identity"): which of its ids the client compares with those it connected
// with before it uses the grant without asking. 0 is the safe reading of any other
// value, and what a region that never said shows.
enum class Basis : std::uint32_t {
  identity = 0,   // euid, egid and the groups
  owner_uid = 1,  // euid only
  anyone = 2,     // nothing: every identity would be let in
};
inline Basis basis_of(std::uint32_t word) {
  return word == static_cast<std::uint32_t>(Basis::owner_uid) ? Basis::owner_uid
         : word == static_cast<std::uint32_t>(Basis::anyone)  ? Basis::anyone
                                                               : Basis::identity;
}

// The lending ring's claim word (PROTOCOL.md "Lent messages"): the head index in the low
// half, an epoch in bits 32..62, and bit 63 set while the daemon has revoked the lease.
// The client claims a lent message by moving the head past it in one compare-and-swap
// that expects an unrevoked word of the same epoch; the daemon revokes by setting the
// bit in one compare-and-swap. Whichever lands first decides who has the message.
inline constexpr std::uint64_t kClaimRevoked = std::uint64_t{1} << 63;
inline constexpr unsigned kClaimEpochShift = 32;
inline constexpr std::uint64_t kClaimEpochMask = 0x7fffffffu;
inline std::uint64_t claim_word(std::uint64_t head, std::uint64_t epoch, bool revoked) {
  return (head & 0xffffffffu) | ((epoch & kClaimEpochMask) << kClaimEpochShift) |
         (revoked ? kClaimRevoked : 0);
}
inline std::uint64_t claim_head(std::uint64_t word) { return word & 0xffffffffu; }
inline std::uint64_t claim_epoch(std::uint64_t word) {
  return (word >> kClaimEpochShift) & kClaimEpochMask;
}
inline bool claim_revoked(std::uint64_t word) { return (word & kClaimRevoked) != 0; }

// Ring indices are free-running byte counts modulo 2^32 (capacities are far smaller), kept
// in the low half of their 64-bit word. The submission tail's word also carries the send
// credit (PROTOCOL.md "Send credit"): publishing an entry and spending credit on it is one
// compare-and-swap, and so is the daemon's revoking of what is left.
inline constexpr std::uint64_t kIndexMask = 0xffffffffu;
inline constexpr unsigned kCreditCountShift = 32;  // 8 bits: messages
inline constexpr unsigned kCreditBytesShift = 40;  // 24 bits: bytes
inline constexpr std::uint32_t kMaxCreditCount = 0xff;
inline constexpr std::uint32_t kMaxCreditBytes = 0xffffff;

struct Credit {
  std::uint32_t count = 0;
  std::uint32_t bytes = 0;
  bool covers(std::uint32_t need_count, std::uint64_t need_bytes) const {
    return count >= need_count && bytes >= need_bytes;
  }
};
inline Credit credit_of(std::uint64_t word) {
  return Credit{static_cast<std::uint32_t>((word >> kCreditCountShift) & kMaxCreditCount),
                static_cast<std::uint32_t>((word >> kCreditBytesShift) & kMaxCreditBytes)};
}
inline std::uint64_t with_credit(std::uint64_t word, Credit c) {
  return (word & kIndexMask) | (std::uint64_t{c.count & kMaxCreditCount} << kCreditCountShift) |
         (std::uint64_t{c.bytes & kMaxCreditBytes} << kCreditBytesShift);
}

// Ring capacities are powers of two within these bounds; the smallest still carries a
// whole default-msgmax message (8192 bytes + frame overhead) with room to spare.
inline constexpr std::uint64_t kMinRingBytes = 16 * 1024;
inline constexpr std::uint64_t kMaxRingBytes = 16u << 20;

// Where the two rings sit in a region. The daemon picks it, tells the client in the
// RING_SETUP reply, and never reads it back from the shared page.
struct Layout {
  std::uint64_t region_bytes = 0;
  std::uint64_t sq_offset = 0;
  std::uint64_t sq_capacity = 0;
  std::uint64_t cq_offset = 0;
  std::uint64_t cq_capacity = 0;
  std::uint64_t lq_offset = 0;    // the lending ring (daemon → client); 0 = none
  std::uint64_t lq_capacity = 0;
};

// The layout for three rings of `ring_bytes` each (a power of two within the bounds).
Layout layout_for(std::uint64_t ring_bytes);

// True when `l` is a layout layout_for() could have made for a region of `region_bytes`
// (the client checks what the daemon sent before it maps anything).
bool layout_valid(const Layout& l, std::uint64_t region_bytes);

// Copies `n` bytes of a ring of `capacity` bytes at `data`, starting at free-running
// index `index`, into `to`, wrapping at the end. The caller checked `n` against what was
// published.
void copy_out(const std::byte* data, std::uint64_t capacity, std::uint64_t index, std::byte* to,
              std::size_t n);

// A 32- or 64-bit word of the shared page, accessed atomically. The page is mapped
// MAP_SHARED in two processes; std::atomic_ref gives the same lock-free instructions the
// other side uses.
inline std::atomic_ref<std::uint64_t> word64(std::byte* region, std::size_t offset) {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(region + offset));
}
inline std::atomic_ref<std::uint32_t> word32(std::byte* region, std::size_t offset) {
  return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(region + offset));
}

// The producing end of one ring. Owns the tail (a private copy, published with release),
// reads the consumer's head with acquire and checks it.
class RingWriter {
 public:
  RingWriter() = default;
  // `tail_carries_credit`: the submission ring, whose tail word the daemon shares (the
  // credit half); the completion ring's tail word is the daemon's alone and is stored,
  // never compare-and-swapped (a client scribbling on it cannot hold the daemon in a
  // retry loop).
  RingWriter(std::byte* region, std::uint64_t data_offset, std::uint64_t capacity,
             std::size_t head_offset, std::size_t tail_offset, bool tail_carries_credit);

  // Bytes that can be written now; false when the consumer's head is impossible (ahead
  // of the tail, or more than a ring behind it) — the peer broke the protocol.
  bool free_bytes(std::uint64_t& out) const;
  // Copies `bytes` in behind the tail, wrapping; the caller checked free_bytes(). Not
  // visible to the consumer until publish().
  void write(std::span<const std::byte> bytes);
  // Makes everything written visible (release). With `spend` (submission rings only),
  // in the same compare-and-swap takes that much credit; false when the credit does not
  // cover it — then nothing is published and the written bytes are forgotten.
  void publish();
  bool publish_spending(Credit spend);
  // The bytes written since the last publish are dropped.
  void unwrite() { tail_ = published_; }
  // Starts over at `index` (published at once): the lending ring's new epoch.
  void reset_to(std::uint64_t index) {
    tail_ = published_ = index;
    publish();
  }
  // The index just past the last published byte (what the peer's head reaches once it
  // has read everything).
  std::uint64_t published() const { return published_; }

  std::uint64_t capacity() const { return capacity_; }
  bool attached() const { return region_ != nullptr; }

 private:
  std::byte* region_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::size_t head_offset_ = 0;
  std::size_t tail_offset_ = 0;
  std::uint64_t tail_ = 0;       // private: the shared index is only written from here
  std::uint64_t published_ = 0;  // tail_ as of the last publish
  bool tail_carries_credit_ = false;
};

// The consuming end of one ring. Owns the head, reads the producer's tail once per read.
class RingReader {
 public:
  enum class Status { ok, broken };

  RingReader() = default;
  RingReader(std::byte* region, std::uint64_t data_offset, std::uint64_t capacity,
             std::size_t head_offset, std::size_t tail_offset);

  // True when the producer has published bytes not yet read (a cheap check; a broken
  // tail counts as "something to read", so the next read() reports it).
  bool has_input() const;
  // How far the *peer* has consumed, as it says in the shared head word: for a writer
  // asking whether its own entry was ever read. (Reads the word named head_offset.)
  static std::uint64_t peer_head(std::byte* region, std::size_t head_offset);

  // Copies every published byte, at most `max`, into `into` (prepare/commit) and
  // releases the space to the producer. `copied` says how many. broken when the
  // producer's tail is impossible; then nothing is copied.
  Status read(FrameDecoder& into, std::size_t max, std::size_t& copied);

  std::uint64_t capacity() const { return capacity_; }
  bool attached() const { return region_ != nullptr; }

 private:
  std::byte* region_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::size_t head_offset_ = 0;
  std::size_t tail_offset_ = 0;
  std::uint64_t head_ = 0;  // private: the shared word is only ever written from here
};

}  // namespace sysvmq::proto::ring
