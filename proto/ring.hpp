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
inline constexpr std::size_t kSqTailOffset = 64;        // u64, client: bytes published
inline constexpr std::size_t kSqHeadOffset = 128;       // u64, daemon: bytes consumed
inline constexpr std::size_t kCqTailOffset = 192;       // u64, daemon: bytes published
inline constexpr std::size_t kCqHeadOffset = 256;       // u64, client: bytes consumed
inline constexpr std::size_t kDaemonIdleOffset = 320;   // u32, daemon: 1 = ring the doorbell
inline constexpr std::size_t kClientWaitingOffset = 384;  // u32, client: 1 = send WAKE

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
};

// The layout for two rings of `ring_bytes` each (a power of two within the bounds).
Layout layout_for(std::uint64_t ring_bytes);

// True when `l` is a layout layout_for() could have made for a region of `region_bytes`
// (the client checks what the daemon sent before it maps anything).
bool layout_valid(const Layout& l, std::uint64_t region_bytes);

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
  RingWriter(std::byte* region, std::uint64_t data_offset, std::uint64_t capacity,
             std::size_t head_offset, std::size_t tail_offset);

  // Bytes that can be written now; false when the consumer's head is impossible (ahead
  // of the tail, or more than a ring behind it) — the peer broke the protocol.
  bool free_bytes(std::uint64_t& out) const;
  // Copies `bytes` in behind the tail, wrapping; the caller checked free_bytes(). Not
  // visible to the consumer until publish().
  void write(std::span<const std::byte> bytes);
  void publish();

  std::uint64_t capacity() const { return capacity_; }
  bool attached() const { return region_ != nullptr; }

 private:
  std::byte* region_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::size_t head_offset_ = 0;
  std::size_t tail_offset_ = 0;
  std::uint64_t tail_ = 0;  // private: the shared word is only ever written from here
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
