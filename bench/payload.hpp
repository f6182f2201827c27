// payload.hpp: what every benchmark message carries — (producer, sequence, checksum) in
// its first 16 bytes, then filler — and the check a consumer runs on it.
// Not here: sending or receiving (workloads.cpp).
// Used in the producer and consumer processes of every workload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sysvmq::bench {

inline constexpr std::size_t kHeaderBytes = 16;
inline constexpr std::size_t kMaxText = 8192;  // the kernel's default msgmax
inline constexpr std::uint32_t kStopProducer = 0xffffffffu;

// msgbuf as msgsnd(2)/msgrcv(2) take it.
struct MsgBuf {
  long mtype;
  unsigned char text[kMaxText];
};

inline std::uint64_t mix64(std::uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A word-at-a-time hash: cheap enough that checking 8 KiB costs well under a
// microsecond, so the check weighs little beside the send and receive it guards.
inline std::uint64_t hash_bytes(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return mix64(h);
}

inline std::uint64_t checksum(std::uint32_t producer, std::uint32_t seq, std::uint64_t fill_hash) {
  return mix64(fill_hash ^ ((std::uint64_t{producer} << 32) | seq));
}

// A producer's message text of `size` bytes (>= kHeaderBytes): filler that differs per
// producer, made once; stamp() writes the header of each message into it.
class Payload {
 public:
  Payload(std::uint32_t producer, std::size_t size) : producer_(producer), size_(size) {
    for (std::size_t i = kHeaderBytes; i < size_; ++i)
      buf_.text[i] = static_cast<unsigned char>(producer * 131u + i * 7u + 1u);
    fill_hash_ = hash_bytes(buf_.text + kHeaderBytes, size_ - kHeaderBytes);
  }
  MsgBuf& stamp(long mtype, std::uint32_t seq) {
    buf_.mtype = mtype;
    const std::uint64_t check = checksum(producer_, seq, fill_hash_);
    std::memcpy(buf_.text, &producer_, 4);
    std::memcpy(buf_.text + 4, &seq, 4);
    std::memcpy(buf_.text + 8, &check, 8);
    return buf_;
  }
  std::size_t size() const { return size_; }

 private:
  std::uint32_t producer_;
  std::size_t size_;
  std::uint64_t fill_hash_ = 0;
  MsgBuf buf_{};
};

struct Stamp {
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;
  bool intact = false;  // the checksum matches the bytes
};

// Reads the header of `n` received bytes and checks them against it.
inline Stamp read_stamp(const MsgBuf& m, std::size_t n) {
  Stamp s;
  if (n < kHeaderBytes) return s;
  std::uint64_t check;
  std::memcpy(&s.producer, m.text, 4);
  std::memcpy(&s.seq, m.text + 4, 4);
  std::memcpy(&check, m.text + 8, 8);
  s.intact =
      check == checksum(s.producer, s.seq, hash_bytes(m.text + kHeaderBytes, n - kHeaderBytes));
  return s;
}

}  // namespace sysvmq::bench
