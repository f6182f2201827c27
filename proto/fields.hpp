// fields.hpp: little-endian fixed-width fields, the one encoding of the wire's frames
// (codec.cpp) and of the daemon's snapshots (daemon/core/snapshot.cpp). Every integer is
// written and read with explicit shifts; nothing copies a host struct. Appending never
// fails. Reading is total: a read past the end yields zero (or an empty span) and marks
// the reader failed, so a decoder may read a group of fields and check once.
// Not here: what the fields mean (codec.cpp, snapshot.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sysvmq::proto {

using Bytes = std::vector<std::byte>;

inline void put_le(Bytes& out, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
}
inline void put_u16(Bytes& out, std::uint16_t v) { put_le(out, v, 2); }
inline void put_u32(Bytes& out, std::uint32_t v) { put_le(out, v, 4); }
inline void put_u64(Bytes& out, std::uint64_t v) { put_le(out, v, 8); }
// Signed values travel as their two's-complement bits (conversion is modular in C++20).
inline void put_i32(Bytes& out, std::int32_t v) { put_u32(out, static_cast<std::uint32_t>(v)); }
inline void put_i64(Bytes& out, std::int64_t v) { put_u64(out, static_cast<std::uint64_t>(v)); }
inline void put_bytes(Bytes& out, std::span<const std::byte> b) {
  out.insert(out.end(), b.begin(), b.end());
}

// The same, as calls on one output (for encoders that write many fields in a row).
class FieldWriter {
 public:
  explicit FieldWriter(Bytes& out) : out_(out) {}
  void u16(std::uint16_t v) { put_u16(out_, v); }
  void u32(std::uint32_t v) { put_u32(out_, v); }
  void u64(std::uint64_t v) { put_u64(out_, v); }
  void i32(std::int32_t v) { put_i32(out_, v); }
  void i64(std::int64_t v) { put_i64(out_, v); }
  void bytes(std::span<const std::byte> b) { put_bytes(out_, b); }

 private:
  Bytes& out_;
};

// Reads fields off the front of a span.
class FieldReader {
 public:
  explicit FieldReader(std::span<const std::byte> data) : data_(data) {}

  std::uint16_t u16() { return static_cast<std::uint16_t>(take(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(take(4)); }
  std::uint64_t u64() { return take(8); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  // The next `n` bytes (empty, and failed, when fewer are left).
  std::span<const std::byte> bytes(std::size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    auto b = data_.subspan(pos_, n);
    pos_ += n;
    return b;
  }
  // Everything left.
  std::span<const std::byte> rest() { return bytes(remaining()); }

  bool ok() const { return ok_; }
  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }

 private:
  std::uint64_t take(std::size_t n) {
    std::uint64_t v = 0;
    const auto b = bytes(n);
    for (std::size_t i = 0; i < b.size(); ++i)
      v |= static_cast<std::uint64_t>(std::to_integer<unsigned>(b[i])) << (8 * i);
    return v;
  }

  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sysvmq::proto
