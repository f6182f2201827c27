// fuzz_ring_entry: proto/ring's daemon end (RingReader on the submission ring,
// RingWriter on the completion ring) against a hostile client that owns the rest of a
// 16 KiB-ring region (layout_for(16384)) and sets its words and bytes to anything.
// Input: a sequence of steps, each an op byte then its operands (little-endian); the
// input ends the sequence. Ops (op % 8):
//   0 client: sq tail word = u64 (index and credit half)
//   1 client: cq head word = u64
//   2 client: u16 offset, u16 length, then that many bytes into the sq data, wrapping
//   3 client: u8 kind, u16 size: a well-formed request frame written at the sq tail
//     word's index and published (tail index += its size, credit half kept)
//   4 client: u8 which: which % 4 = 0 or 1, then u64: the daemon's own words (sq head,
//     cq tail) scribbled on; 2 or 3: the client takes every completion (cq head = the
//     cq tail word's index)
//   5 daemon: u16 max: RingReader::read into a FrameDecoder (max body 65600), every
//     whole frame through decode_request
//   6 daemon: u16 size, u8 flags: a reply frame, written if free_bytes() allows it, then
//     published or (flags & 1) unwritten
//   7 daemon: u8 kind, u16 amount: grant credit (saturating CAS) or revoke it (CAS to 0)
// Checked, trapping on violation:
//  - read() reports broken exactly when (tail - head) mod 2^32 > capacity, where head is
//    what the daemon has consumed (never the shared word the client can scribble on);
//    then it copies nothing and writes nothing. Otherwise it copies min(that, max) bytes
//    (fewer only once the decoder went bad), never more than the capacity, publishes
//    head mod 2^32, and the bytes are the ring's bytes at the head: every frame the
//    decoder yields is the next bytes of that stream, bad only for an oversized header;
//  - decode_request on any frame: a value, or nullopt with a reason;
//  - free_bytes() is false exactly when the client's head is ahead of the published tail
//    or more than a ring behind it, and otherwise capacity minus the distance;
//  - the daemon writes only the cq data bytes of its reply (at the tail, wrapping) and
//    the words it owns (sq head on read, cq tail on publish, the credit half on
//    grant/revoke, which keep the index); every other byte of the region and of a
//    guard zone either side of it is unchanged;
//  - grant saturates at the credit's limits, revoke returns exactly what the word held.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "proto/codec.hpp"
#include "proto/ring.hpp"

namespace {

using namespace sysvmq::proto;
using namespace sysvmq::proto::ring;

#define CHECK(cond)                  \
  do {                               \
    if (!(cond)) __builtin_trap();   \
  } while (0)

constexpr std::uint64_t kCap = 16384;
constexpr std::size_t kGuard = 4096;
constexpr std::byte kGuardByte{0xa5};
constexpr std::uint32_t kMaxBody = kDefaultMaxFrameBytes;
constexpr int kMaxSteps = 200;

class Input {
 public:
  Input(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  std::uint64_t take(int bytes) {
    std::uint64_t v = 0;
    for (int k = 0; k < bytes && i_ < n_; ++k) v |= std::uint64_t{d_[i_++]} << (8 * k);
    return v;
  }
  std::span<const std::uint8_t> rest(std::size_t max) {
    const std::size_t k = std::min(max, n_ - i_);
    std::span<const std::uint8_t> s(d_ + i_, k);
    i_ += k;
    return s;
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t i_ = 0;
};

std::uint64_t load(std::byte* region, std::size_t off) { return word64(region, off).load(); }
void store(std::byte* region, std::size_t off, std::uint64_t v) { word64(region, off).store(v); }
void store_le(std::byte* p, std::uint64_t v) {
  for (int k = 0; k < 8; ++k) p[k] = static_cast<std::byte>((v >> (8 * k)) & 0xff);
}

Bytes request_frame(std::uint8_t kind, std::uint16_t size) {
  Bytes out;
  const std::uint64_t id = size * 7919u + kind;
  switch (kind % 5) {
    case 0:
    case 1: {  // the fast path's bread and butter
      MsgsndRequest r;
      r.msqid = kind;
      r.mtype = 1 + size;
      const std::size_t n = size % 9000;
      r.msgsz = static_cast<std::int64_t>(n);
      r.text.assign(n, static_cast<std::byte>(kind));
      encode_request(id, kind % 2 ? kFlagOnCredit : 0, Request{r}, out);
      break;
    }
    case 2: {
      MsgrcvRequest r;
      r.msqid = kind;
      r.msgsz = size;
      encode_request(id, 0, Request{r}, out);
      break;
    }
    case 3:
      encode_request(id, 0, Request{MsggetRequest{static_cast<std::int32_t>(size), 0}}, out);
      break;
    default:
      encode_request(id, 0, Request{DoorbellRequest{}}, out);
      break;
  }
  return out;
}

// The daemon's end of one region, and what it knows (never read back from the region).
struct Daemon {
  Daemon(std::byte* r, const Layout& l)
      : region(r),
        layout(l),
        sq(r, l.sq_offset, l.sq_capacity, kSqHeadOffset, kSqTailOffset),
        cq(r, l.cq_offset, l.cq_capacity, kCqHeadOffset, kCqTailOffset, false) {}
  std::byte* region;
  Layout layout;
  RingReader sq;
  RingWriter cq;
  FrameDecoder decoder{kMaxBody};
  bool decoder_bad = false;
  std::uint64_t sq_head = 0;     // bytes consumed from the submission ring
  std::uint64_t cq_tail = 0;     // bytes published on the completion ring
  Bytes stream;                  // copied out, not yet taken as frames
};

// The region as it must be after a daemon step: `expect` starts as a copy of it before.
void check_region(const std::vector<std::byte>& mem, const std::vector<std::byte>& expect) {
  CHECK(mem.size() == expect.size());
  CHECK(std::memcmp(mem.data(), expect.data(), mem.size()) == 0);
}

void daemon_read(Daemon& d, std::vector<std::byte>& mem, std::size_t max) {
  std::vector<std::byte> expect = mem;
  const std::uint64_t tail = load(d.region, kSqTailOffset);
  const std::uint64_t available = (tail - d.sq_head) & kIndexMask;
  const bool broken_expected = available > kCap;
  const std::size_t want = broken_expected ? 0 : std::min<std::uint64_t>(available, max);
  Bytes ring_bytes(want);  // the ring's bytes at the head, as they are before the read
  const std::byte* data = d.region + d.layout.sq_offset;
  for (std::size_t i = 0; i < want; ++i) ring_bytes[i] = data[(d.sq_head + i) & (kCap - 1)];

  std::size_t copied = 12345;
  const auto status = d.sq.read(d.decoder, max, copied);
  CHECK((status == RingReader::Status::broken) == broken_expected);
  if (status == RingReader::Status::broken) {
    CHECK(copied == 0);
    check_region(mem, expect);  // not even the head word
    return;
  }
  CHECK(copied <= want && copied <= kCap);
  if (!d.decoder_bad) CHECK(copied == want);
  d.sq_head += copied;
  store_le(expect.data() + kGuard + kSqHeadOffset, d.sq_head & kIndexMask);
  check_region(mem, expect);
  if (d.decoder_bad) return;
  d.stream.insert(d.stream.end(), ring_bytes.begin(), ring_bytes.begin() + copied);

  FrameDecoder::Frame f;
  std::string why;
  for (;;) {
    const auto s = d.decoder.next(f, why);
    if (s == FrameDecoder::Status::need_more) {
      CHECK(d.decoder.pending_bytes() == d.stream.size());
      if (d.stream.size() >= kHeaderBytes) {
        const auto h = parse_header(std::span<const std::byte, kHeaderBytes>(d.stream.data(), kHeaderBytes));
        CHECK(h.body_len <= kMaxBody && d.stream.size() < kHeaderBytes + h.body_len);
      }
      return;
    }
    CHECK(d.stream.size() >= kHeaderBytes);
    const auto h = parse_header(std::span<const std::byte, kHeaderBytes>(d.stream.data(), kHeaderBytes));
    if (s == FrameDecoder::Status::bad) {
      CHECK(h.body_len > kMaxBody && !why.empty());
      d.decoder_bad = true;
      d.stream.clear();
      return;
    }
    CHECK(f.header.body_len == h.body_len && f.header.opcode == h.opcode &&
          f.header.flags == h.flags && f.header.request_id == h.request_id);
    CHECK(f.body.size() == h.body_len && d.stream.size() >= kHeaderBytes + h.body_len);
    CHECK(std::equal(f.body.begin(), f.body.end(), d.stream.begin() + kHeaderBytes));
    std::string why2;
    const auto req = decode_request(f.header, f.body, why2);
    if (!req) CHECK(!why2.empty());
    d.stream.erase(d.stream.begin(), d.stream.begin() + static_cast<std::ptrdiff_t>(kHeaderBytes + h.body_len));
  }
}

void daemon_reply(Daemon& d, std::vector<std::byte>& mem, std::uint16_t size, std::uint8_t flags) {
  std::vector<std::byte> expect = mem;
  MsgrcvReply rep;
  rep.mtype = 1;
  rep.text.assign(size % 12000, std::byte{0x3c});
  Bytes frame;
  encode_reply(size, Reply{rep}, frame);

  const std::uint64_t head = load(d.region, kCqHeadOffset);
  const std::uint64_t used = (d.cq_tail - head) & kIndexMask;
  std::uint64_t free = 0;
  const bool ok = d.cq.free_bytes(free);
  CHECK(ok == (used <= kCap));
  check_region(mem, expect);
  if (!ok) return;
  CHECK(free == kCap - used);
  if (free < frame.size()) return;

  d.cq.write(frame);
  std::byte* data = expect.data() + kGuard + d.layout.cq_offset;
  for (std::size_t i = 0; i < frame.size(); ++i) data[(d.cq_tail + i) & (kCap - 1)] = frame[i];
  check_region(mem, expect);
  if (flags & 1) {
    d.cq.unwrite();
    CHECK(d.cq.published() == d.cq_tail);
    std::uint64_t again = 0;
    CHECK(d.cq.free_bytes(again) && again == free);
  } else {
    d.cq.publish();
    d.cq_tail += frame.size();
    CHECK(d.cq.published() == d.cq_tail);
    store_le(expect.data() + kGuard + kCqTailOffset, d.cq_tail & kIndexMask);
  }
  check_region(mem, expect);
}

void daemon_credit(Daemon& d, std::vector<std::byte>& mem, std::uint8_t kind, std::uint16_t amount) {
  std::vector<std::byte> expect = mem;
  auto word = word64(d.region, kSqTailOffset);
  std::uint64_t seen = word.load();
  std::uint64_t next;
  if (kind & 1) {  // revoke, as RingChannel::revoke
    const bool swapped = word.compare_exchange_strong(seen, seen & kIndexMask);
    CHECK(swapped);
    const Credit left = credit_of(seen);
    CHECK(left.count <= kMaxCreditCount && left.bytes <= kMaxCreditBytes);
    CHECK(with_credit(seen & kIndexMask, left) == seen);  // nothing else was in the word
    next = seen & kIndexMask;
  } else {  // grant, as RingChannel::grant
    const Credit have = credit_of(seen);
    const Credit add{static_cast<std::uint32_t>(kind >> 1), std::uint32_t{amount} << (kind & 6)};
    const Credit want{std::min<std::uint32_t>(kMaxCreditCount, have.count + add.count),
                      std::min<std::uint32_t>(kMaxCreditBytes, have.bytes + add.bytes)};
    next = with_credit(seen, want);
    const bool swapped = word.compare_exchange_strong(seen, next);
    CHECK(swapped);
    CHECK((next & kIndexMask) == (seen & kIndexMask));
    CHECK(credit_of(next).count == want.count && credit_of(next).bytes == want.bytes);
  }
  store_le(expect.data() + kGuard + kSqTailOffset, next);
  check_region(mem, expect);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Layout layout = layout_for(kCap);
  CHECK(layout_valid(layout, layout.region_bytes));
  // Guard | region | guard, 8-byte aligned for the control words.
  std::vector<std::byte> mem(kGuard + layout.region_bytes + kGuard, kGuardByte);
  std::byte* region = mem.data() + kGuard;
  CHECK(reinterpret_cast<std::uintptr_t>(region) % 8 == 0);
  std::memset(region, 0, layout.region_bytes);
  const std::vector<std::byte> guard_copy(kGuard, kGuardByte);

  Daemon d(region, layout);

  Input in(data, size);
  for (int step = 0; step < kMaxSteps && !in.empty(); ++step) {
    const unsigned op = static_cast<unsigned>(in.take(1)) % 8;
    switch (op) {
      case 0:
        store(region, kSqTailOffset, in.take(8));
        break;
      case 1:
        store(region, kCqHeadOffset, in.take(8));
        break;
      case 2: {
        const std::uint64_t off = in.take(2) % kCap;
        const std::size_t len = static_cast<std::size_t>(in.take(2) % (kCap + 1));
        const auto bytes = in.rest(len);
        std::byte* sq = region + layout.sq_offset;
        for (std::size_t i = 0; i < bytes.size(); ++i)
          sq[(off + i) & (kCap - 1)] = static_cast<std::byte>(bytes[i]);
        break;
      }
      case 3: {
        const auto kind = static_cast<std::uint8_t>(in.take(1));
        const auto fsize = static_cast<std::uint16_t>(in.take(2));
        const Bytes f = request_frame(kind, fsize);
        if (f.size() > kCap) break;
        const std::uint64_t word = load(region, kSqTailOffset);
        std::byte* sq = region + layout.sq_offset;
        for (std::size_t i = 0; i < f.size(); ++i) sq[(word + i) & (kCap - 1)] = f[i];
        store(region, kSqTailOffset, (word & ~kIndexMask) | ((word + f.size()) & kIndexMask));
        break;
      }
      case 4: {
        const auto which = in.take(1) % 4;
        if (which >= 2)
          store(region, kCqHeadOffset, load(region, kCqTailOffset) & kIndexMask);
        else
          store(region, which == 1 ? kCqTailOffset : kSqHeadOffset, in.take(8));
        break;
      }
      case 5:
        daemon_read(d, mem, static_cast<std::size_t>(in.take(2)));
        break;
      case 6: {
        const auto rsize = static_cast<std::uint16_t>(in.take(2));
        daemon_reply(d, mem, rsize, static_cast<std::uint8_t>(in.take(1)));
        break;
      }
      case 7: {
        const auto kind = static_cast<std::uint8_t>(in.take(1));
        daemon_credit(d, mem, kind, static_cast<std::uint16_t>(in.take(2)));
        break;
      }
    }
    CHECK(std::memcmp(mem.data(), guard_copy.data(), kGuard) == 0);
    CHECK(std::memcmp(mem.data() + kGuard + layout.region_bytes, guard_copy.data(), kGuard) == 0);
  }
  return 0;
}
