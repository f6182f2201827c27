// ring.cpp: the SPSC byte rings of ring.hpp.
// Indices are free-running 64-bit byte counts; a position is `index & (capacity - 1)`.
// The only cross-process ordering is release on publishing an index and acquire on
// reading the other side's: bytes are written before the tail that covers them, and read
// before the head that frees them.
#include "proto/ring.hpp"

#include <algorithm>
#include <cstring>

namespace sysvmq::proto::ring {
namespace {

bool power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

void copy_out(const std::byte* data, std::uint64_t capacity, std::uint64_t index, std::byte* to,
              std::size_t n) {
  const std::uint64_t pos = index & (capacity - 1);
  const std::size_t first = static_cast<std::size_t>(std::min<std::uint64_t>(n, capacity - pos));
  std::memcpy(to, data + pos, first);
  std::memcpy(to + first, data, n - first);
}

Layout layout_for(std::uint64_t ring_bytes) {
  Layout l;
  l.sq_offset = kControlBytes;
  l.sq_capacity = ring_bytes;
  l.cq_offset = kControlBytes + ring_bytes;
  l.cq_capacity = ring_bytes;
  l.lq_offset = kControlBytes + 2 * ring_bytes;
  l.lq_capacity = ring_bytes;
  l.region_bytes = kControlBytes + 3 * ring_bytes;
  return l;
}

bool layout_valid(const Layout& l, std::uint64_t region_bytes) {
  const auto ring_ok = [](std::uint64_t cap) {
    return power_of_two(cap) && cap >= kMinRingBytes && cap <= kMaxRingBytes;
  };
  if (!ring_ok(l.sq_capacity) || !ring_ok(l.cq_capacity)) return false;
  if (l.region_bytes != region_bytes) return false;
  // Both rings past the control page, inside the region, not overlapping.
  const auto inside = [&](std::uint64_t off, std::uint64_t cap) {
    return off >= kControlBytes && off <= region_bytes && cap <= region_bytes - off;
  };
  if (!inside(l.sq_offset, l.sq_capacity) || !inside(l.cq_offset, l.cq_capacity)) return false;
  const auto apart = [](std::uint64_t a, std::uint64_t a_cap, std::uint64_t b, std::uint64_t b_cap) {
    return a + a_cap <= b || b + b_cap <= a;
  };
  if (!apart(l.sq_offset, l.sq_capacity, l.cq_offset, l.cq_capacity)) return false;
  if (l.lq_offset == 0 && l.lq_capacity == 0) return true;  // no lending ring
  return ring_ok(l.lq_capacity) && inside(l.lq_offset, l.lq_capacity) &&
         apart(l.lq_offset, l.lq_capacity, l.sq_offset, l.sq_capacity) &&
         apart(l.lq_offset, l.lq_capacity, l.cq_offset, l.cq_capacity);
}

// ---- RingWriter -------------------------------------------------------------------------

RingWriter::RingWriter(std::byte* region, std::uint64_t data_offset, std::uint64_t capacity,
                       std::size_t head_offset, std::size_t tail_offset, bool tail_carries_credit)
    : region_(region),
      data_(region + data_offset),
      capacity_(capacity),
      head_offset_(head_offset),
      tail_offset_(tail_offset),
      tail_carries_credit_(tail_carries_credit) {}

bool RingWriter::free_bytes(std::uint64_t& out) const {
  const std::uint64_t head = word64(region_, head_offset_).load(std::memory_order_acquire);
  // Modulo 2^32: a head ahead of the tail comes out huge.
  const std::uint64_t used = (tail_ - head) & kIndexMask;
  if (used > capacity_) return false;
  out = capacity_ - used;
  return true;
}

void RingWriter::write(std::span<const std::byte> bytes) {
  const std::uint64_t pos = tail_ & (capacity_ - 1);
  const std::size_t first =
      static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), capacity_ - pos));
  std::memcpy(data_ + pos, bytes.data(), first);
  std::memcpy(data_, bytes.data() + first, bytes.size() - first);
  tail_ += bytes.size();
}

void RingWriter::publish() {
  if (!tail_carries_credit_) {
    word64(region_, tail_offset_).store(tail_ & kIndexMask, std::memory_order_release);
    published_ = tail_;
    return;
  }
  // The upper half of a submission tail's word belongs to the credit, which the daemon
  // may change at any time: only a compare-and-swap keeps both.
  auto word = word64(region_, tail_offset_);
  std::uint64_t seen = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(seen, (seen & ~kIndexMask) | (tail_ & kIndexMask),
                                     std::memory_order_release, std::memory_order_relaxed)) {
  }
  published_ = tail_;
}

bool RingWriter::publish_spending(Credit spend) {
  auto word = word64(region_, tail_offset_);
  std::uint64_t seen = word.load(std::memory_order_relaxed);
  for (;;) {
    const Credit have = credit_of(seen);
    if (!have.covers(spend.count, spend.bytes)) {
      unwrite();
      return false;
    }
    const Credit left{have.count - spend.count, have.bytes - spend.bytes};
    const std::uint64_t next = with_credit((seen & ~kIndexMask) | (tail_ & kIndexMask), left);
    if (word.compare_exchange_weak(seen, next, std::memory_order_release,
                                   std::memory_order_relaxed)) {
      published_ = tail_;
      return true;
    }
  }
}

// ---- RingReader -------------------------------------------------------------------------

RingReader::RingReader(std::byte* region, std::uint64_t data_offset, std::uint64_t capacity,
                       std::size_t head_offset, std::size_t tail_offset)
    : region_(region),
      data_(region + data_offset),
      capacity_(capacity),
      head_offset_(head_offset),
      tail_offset_(tail_offset),
      head_(0) {}

bool RingReader::has_input() const {
  return ((word64(region_, tail_offset_).load(std::memory_order_acquire) - head_) & kIndexMask) != 0;
}

std::uint64_t RingReader::peer_head(std::byte* region, std::size_t head_offset) {
  return word64(region, head_offset).load(std::memory_order_acquire);
}

RingReader::Status RingReader::read(FrameDecoder& into, std::size_t max, std::size_t& copied) {
  copied = 0;
  // Read once: every check and copy below uses this value, whatever the producer writes
  // to the shared word meanwhile.
  const std::uint64_t tail = word64(region_, tail_offset_).load(std::memory_order_acquire);
  const std::uint64_t available = (tail - head_) & kIndexMask;
  if (available > capacity_) return Status::broken;
  std::size_t left = static_cast<std::size_t>(std::min<std::uint64_t>(available, max));
  while (left > 0) {
    auto room = into.prepare(left);
    if (room.empty()) break;  // the decoder went bad; it will say why
    copy_out(data_, capacity_, head_, room.data(), room.size());
    into.commit(room.size());
    head_ += room.size();
    copied += room.size();
    left -= room.size();
  }
  // The bytes are ours now: the producer may reuse the space.
  word64(region_, head_offset_).store(head_ & kIndexMask, std::memory_order_release);
  return Status::ok;
}

}  // namespace sysvmq::proto::ring
