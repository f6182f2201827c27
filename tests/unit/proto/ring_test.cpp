// ring_test.cpp: the shared-memory rings of proto/ring.hpp as tests — layouts the client
// accepts, frames through a ring intact however often it wraps, indices modulo 2^32,
// a hostile peer's impossible index reported instead of trusted, send credit spent only
// in the same compare-and-swap that publishes, and credit conserved while the daemon
// grants and revokes from another thread (that test is the one TSan must pass).
// The region is an anonymous mapping in this process; both ends run here.
// Not here: who maps the region or what the daemon does with an entry (daemon/server).
#include "proto/ring.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "proto/codec.hpp"

namespace sysvmq::proto::ring {
namespace {

constexpr std::uint64_t kRing = 16384;
constexpr std::uint64_t k2To32 = std::uint64_t{1} << 32;

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#else
constexpr bool kTsan = false;
#endif

// One region as the daemon lays it out, mapped anonymously (zeroed, page-aligned).
class Region {
 public:
  explicit Region(std::uint64_t ring_bytes = kRing) : layout_(layout_for(ring_bytes)) {
    void* p = ::mmap(nullptr, layout_.region_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    base_ = static_cast<std::byte*>(p);
  }
  ~Region() { ::munmap(base_, layout_.region_bytes); }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  std::byte* base() const { return base_; }
  const Layout& layout() const { return layout_; }

  RingWriter sq_writer() const {
    return RingWriter(base_, layout_.sq_offset, layout_.sq_capacity, kSqHeadOffset,
                      kSqTailOffset, true);
  }
  RingReader sq_reader() const {
    return RingReader(base_, layout_.sq_offset, layout_.sq_capacity, kSqHeadOffset,
                      kSqTailOffset);
  }
  RingWriter cq_writer() const {
    return RingWriter(base_, layout_.cq_offset, layout_.cq_capacity, kCqHeadOffset,
                      kCqTailOffset, false);
  }
  RingReader cq_reader() const {
    return RingReader(base_, layout_.cq_offset, layout_.cq_capacity, kCqHeadOffset,
                      kCqTailOffset);
  }

  std::uint64_t load(std::size_t offset) const { return word64(base_, offset).load(); }
  void store(std::size_t offset, std::uint64_t v) const { word64(base_, offset).store(v); }

 private:
  Layout layout_;
  std::byte* base_ = nullptr;
};

Bytes text_bytes(std::size_t n, std::uint64_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 131 + seed * 7 + 1) & 0xff);
  return b;
}

// A MSGSND frame with `n` bytes of text that depend on `id`.
Bytes msgsnd_frame(std::uint64_t id, std::size_t n, std::uint16_t flags = 0) {
  MsgsndRequest r;
  r.msqid = 7;
  r.mtype = static_cast<std::int64_t>(id % 1000 + 1);
  r.msgsz = static_cast<std::int64_t>(n);
  r.text = text_bytes(n, id);
  Bytes out;
  encode_request(id, flags, Request{r}, out);
  return out;
}

// A frame header's 16 bytes, little-endian (PROTOCOL.md "Frames"), for comparing frames.
void put_header(const FrameHeader& h, Bytes& out) {
  const auto put = [&](std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  };
  put(h.body_len, 4);
  put(h.opcode, 2);
  put(h.flags, 2);
  put(h.request_id, 8);
}

// Everything whole the decoder holds, each frame re-assembled as header + body bytes.
std::vector<Bytes> take_frames(FrameDecoder& d) {
  std::vector<Bytes> out;
  FrameDecoder::Frame f;
  std::string why;
  for (;;) {
    const auto s = d.next(f, why);
    if (s == FrameDecoder::Status::need_more) return out;
    EXPECT_EQ(s, FrameDecoder::Status::frame) << why;
    if (s != FrameDecoder::Status::frame) return out;
    Bytes b;
    put_header(f.header, b);
    b.insert(b.end(), f.body.begin(), f.body.end());
    out.push_back(std::move(b));
  }
}

// ---- layout_for / layout_valid ------------------------------------------------------------

TEST(RingLayout, LayoutValidAcceptsEveryLayoutThatLayoutForMakes) {
  for (std::uint64_t cap = kMinRingBytes; cap <= kMaxRingBytes; cap *= 2) {
    const Layout l = layout_for(cap);
    EXPECT_TRUE(layout_valid(l, l.region_bytes)) << cap;
    EXPECT_EQ(l.sq_capacity, cap);
    EXPECT_EQ(l.cq_capacity, cap);
    // Both rings past the control page, inside the region, apart.
    EXPECT_GE(l.sq_offset, kControlBytes);
    EXPECT_GE(l.cq_offset, kControlBytes);
    EXPECT_LE(l.sq_offset + l.sq_capacity, l.region_bytes);
    EXPECT_LE(l.cq_offset + l.cq_capacity, l.region_bytes);
    EXPECT_TRUE(l.sq_offset + l.sq_capacity <= l.cq_offset ||
                l.cq_offset + l.cq_capacity <= l.sq_offset);
  }
}

TEST(RingLayout, LayoutValidRejectsCapacitiesThatAreNotPowersOfTwo) {
  // Within the bounds and inside each ring's place: only the power of two is wrong.
  Layout l = layout_for(2 * kRing);
  l.sq_capacity = 2 * kRing - 1;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(2 * kRing);
  l.cq_capacity = 2 * kRing - 4096;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(2 * kRing);
  l.cq_capacity = kRing + kRing / 2;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(kRing);
  l.sq_capacity = 0;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  // The same layouts with a power of two in that place pass.
  l = layout_for(2 * kRing);
  l.cq_capacity = kRing;
  EXPECT_TRUE(layout_valid(l, l.region_bytes));
}

TEST(RingLayout, LayoutValidRejectsCapacitiesBelowOrAboveTheBounds) {
  for (const std::uint64_t cap : {kMinRingBytes / 2, kMaxRingBytes * 2, std::uint64_t{1}}) {
    const Layout l = layout_for(cap);  // consistent otherwise: only the size is wrong
    EXPECT_FALSE(layout_valid(l, l.region_bytes)) << cap;
  }
  // One ring in bounds, the other not.
  Layout l = layout_for(kRing);
  l.cq_capacity = kRing / 2;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
}

TEST(RingLayout, LayoutValidRejectsOverlappingRings) {
  Layout l = layout_for(kRing);
  l.cq_offset = l.sq_offset + kRing / 2;  // the second half of sq is the first of cq
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l.cq_offset = l.sq_offset;  // the same ring twice
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(kRing);
  std::swap(l.sq_offset, l.cq_offset);  // swapped but disjoint: fine
  EXPECT_TRUE(layout_valid(l, l.region_bytes));
  l.sq_offset -= 1;  // cq comes first now, and sq starts on cq's last byte
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
}

TEST(RingLayout, LayoutValidRejectsRingsOutsideTheRegionOrOnTheControlPage) {
  Layout l = layout_for(kRing);
  l.cq_offset = l.region_bytes - l.cq_capacity + 1;  // one byte past the region's end
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(kRing);
  l.sq_offset = kControlBytes - 64;  // over the control words
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(kRing);
  l.sq_offset = 0;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  // Offsets so large that offset + capacity wraps 2^64 must not pass for "inside".
  l = layout_for(kRing);
  l.cq_offset = ~std::uint64_t{0} - kRing + 2;
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
  l = layout_for(kRing);
  l.sq_offset = l.region_bytes;  // starts at the end, no room at all
  EXPECT_FALSE(layout_valid(l, l.region_bytes));
}

TEST(RingLayout, LayoutValidRejectsARegionOfAnotherSize) {
  const Layout l = layout_for(kRing);
  EXPECT_FALSE(layout_valid(l, l.region_bytes - 1));
  EXPECT_FALSE(layout_valid(l, l.region_bytes + 4096));
  EXPECT_FALSE(layout_valid(l, 0));
  Layout bigger = l;
  bigger.region_bytes += 4096;  // claims more than the mapping the client got
  EXPECT_FALSE(layout_valid(bigger, l.region_bytes));
}

// ---- writer / reader ----------------------------------------------------------------------

TEST(Ring, FramesOfManySizesCrossTheWrapPointManyTimesIntactAndInOrder) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::mt19937_64 rng(42);
  std::deque<Bytes> in_flight;
  std::uint64_t sent = 0, received = 0, bytes_through = 0, id = 1;
  while (bytes_through < 80 * kRing || !in_flight.empty()) {
    // Write as many frames as fit (sizes 0 .. ~capacity/2 of text), then publish.
    for (int k = 0; k < 4 && bytes_through < 80 * kRing; ++k) {
      const std::size_t n = (rng() % 4 == 0) ? rng() % (kRing / 2) : rng() % 300;
      Bytes f = msgsnd_frame(id, n);
      std::uint64_t free = 0;
      ASSERT_TRUE(w.free_bytes(free));
      if (free < f.size()) break;
      w.write(f);
      bytes_through += f.size();
      in_flight.push_back(std::move(f));
      ++id;
      ++sent;
    }
    w.publish();
    // Read in pieces of random size: frames are cut anywhere.
    std::size_t copied = 0;
    const std::size_t max = 1 + rng() % (2 * kRing);
    ASSERT_EQ(rd.read(dec, max, copied), RingReader::Status::ok);
    for (Bytes& got : take_frames(dec)) {
      ASSERT_FALSE(in_flight.empty());
      ASSERT_EQ(got, in_flight.front()) << "frame " << received;
      std::string why;
      const FrameHeader h = parse_header(std::span<const std::byte, kHeaderBytes>(got.data(), kHeaderBytes));
      EXPECT_TRUE(decode_request(h, std::span<const std::byte>(got).subspan(kHeaderBytes), why)) << why;
      in_flight.pop_front();
      ++received;
    }
  }
  EXPECT_EQ(sent, received);
  EXPECT_GE(w.published(), 80 * kRing);  // wrapped the ring at least 80 times
  EXPECT_EQ(r.load(kSqHeadOffset), w.published() & kIndexMask);
  EXPECT_FALSE(rd.has_input());
}

TEST(Ring, FreeBytesIsTheCapacityLessWhatTheReaderHasNotReleased) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  std::uint64_t free = 0;
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing);
  const Bytes f = msgsnd_frame(1, 1000);
  w.write(f);  // written, not yet published: already taken from the writer's room
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - f.size());
  w.publish();
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - f.size());
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 0;
  ASSERT_EQ(rd.read(dec, 100, copied), RingReader::Status::ok);  // part of it
  EXPECT_EQ(copied, 100u);
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - f.size() + 100);
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, f.size() - 100);
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing);
  // Filled to the last byte: 0 free, and still a valid state.
  const Bytes big(kRing, std::byte{0x5a});
  w.write(big);
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, 0u);
}

TEST(Ring, TheReaderSeesNothingBeforePublish) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  const Bytes f = msgsnd_frame(9, 50);
  w.write(f);
  EXPECT_FALSE(rd.has_input());
  EXPECT_EQ(r.load(kSqTailOffset), 0u);
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 99;
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, 0u);
  EXPECT_EQ(dec.pending_bytes(), 0u);
  w.publish();
  EXPECT_TRUE(rd.has_input());
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, f.size());
  const auto frames = take_frames(dec);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], f);
  EXPECT_FALSE(rd.has_input());
}

TEST(Ring, UnwriteDropsTheUnpublishedBytesAndKeepsThePublished) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  const Bytes a = msgsnd_frame(1, 10), b = msgsnd_frame(2, 3000), c = msgsnd_frame(3, 20);
  w.write(a);
  w.publish();
  w.write(b);
  w.unwrite();
  EXPECT_EQ(w.published(), a.size());
  std::uint64_t free = 0;
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - a.size());  // b's room is back
  w.write(c);
  w.publish();
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 0;
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, a.size() + c.size());
  const auto frames = take_frames(dec);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], a);
  EXPECT_EQ(frames[1], c);
}

TEST(Ring, TheCompletionRingsTailWordHoldsOnlyTheIndex) {
  Region r;
  r.store(kCqTailOffset, 0xdead'beef'0000'0000u);  // a client scribbled on the upper half
  RingWriter w = r.cq_writer();
  const Bytes f = msgsnd_frame(1, 5);
  w.write(f);
  w.publish();
  EXPECT_EQ(r.load(kCqTailOffset), f.size());
}

// ---- indices modulo 2^32 --------------------------------------------------------------------
// Writer and reader keep private copies of their own index that start at 0, and only
// traffic moves them, so the shared words are set directly here: the peer's index sits
// on the other side of 2^32 from ours. (A full turn of the index space through the ring
// is AFullTurnOfTheIndexSpace… below, skipped under TSan for its 4 GiB of copying.)

TEST(RingIndex, FreeBytesCountsModulo2To32WhenTheHeadIsJustBelowTheWrap) {
  Region r;
  RingWriter w = r.sq_writer();
  // Our tail is 0 (= 2^32); the reader's head is 1000 bytes before it, below the wrap.
  r.store(kSqHeadOffset, k2To32 - 1000);
  std::uint64_t free = 0;
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - 1000);
  w.write(Bytes(500, std::byte{1}));
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - 1500);
  // Exactly a ring behind, across the wrap: full, not broken.
  r.store(kSqHeadOffset, k2To32 - (kRing - 500));
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, 0u);
  // The upper half of the head word is not part of the index.
  r.store(kSqHeadOffset, (std::uint64_t{0xabcd} << 32) | (k2To32 - 1000));
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing - 1500);
}

TEST(RingIndex, TheReaderTakesOnlyTheTailWordsLowHalfAsTheIndex) {
  Region r;
  RingReader rd = r.sq_reader();
  // Index 0 with credit in the upper half: nothing to read.
  r.store(kSqTailOffset, with_credit(0, Credit{3, 4096}));
  EXPECT_FALSE(rd.has_input());
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 0;
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, 0u);
  // 2^32 + 100: bit 32 is credit, the index is 100.
  r.store(kSqTailOffset, k2To32 + 100);
  EXPECT_TRUE(rd.has_input());
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, 100u);
  EXPECT_EQ(r.load(kSqHeadOffset), 100u);
}

TEST(RingIndex, AFullTurnOfTheIndexSpaceKeepsFramesIntact) {
  if (kTsan) GTEST_SKIP() << "4 GiB through the ring: too slow under TSan";
  // Moves 2^32 + a few ring's worth of bytes through a 16 KiB ring in 8 KiB frames, so
  // both private indices pass 2^32 and the shared words wrap to small values.
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  FrameDecoder dec(kDefaultMaxFrameBytes);
  Bytes f = msgsnd_frame(0, 8192 - kHeaderBytes - kMsgsndFixedBytes);
  ASSERT_EQ(f.size(), 8192u);
  std::uint64_t frames_out = 0, frames_in = 0;
  const std::uint64_t total = k2To32 / f.size() + 4;
  bool crossed = false;
  while (frames_in < total) {
    std::uint64_t free = 0;
    ASSERT_TRUE(w.free_bytes(free));
    if (free >= f.size() && frames_out < total) {
      // The request id says which frame this is (header bytes 8..15).
      std::memcpy(f.data() + 8, &frames_out, sizeof frames_out);
      w.write(f);
      w.publish();
      ++frames_out;
    }
    std::size_t copied = 0;
    ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
    FrameDecoder::Frame fr;
    std::string why;
    while (dec.next(fr, why) == FrameDecoder::Status::frame) {
      ASSERT_EQ(fr.header.request_id, frames_in);
      ASSERT_EQ(fr.body.size(), f.size() - kHeaderBytes);
      // Every byte of the frames around the crossing, a sample of the rest (time).
      if (frames_in % 1024 == 0 || frames_in + 8 >= total) {
        ASSERT_TRUE(std::equal(fr.body.begin(), fr.body.end(), f.begin() + kHeaderBytes));
      }
      ++frames_in;
    }
    if (w.published() > k2To32 && r.load(kSqTailOffset) < kRing) crossed = true;
  }
  EXPECT_TRUE(crossed);
  EXPECT_GT(w.published(), k2To32);
  EXPECT_EQ(r.load(kSqTailOffset), w.published() & kIndexMask);
  EXPECT_EQ(r.load(kSqHeadOffset), w.published() & kIndexMask);
  EXPECT_FALSE(rd.has_input());
}

// ---- a hostile peer -------------------------------------------------------------------------

TEST(RingHostile, ReadReportsBrokenAndCopiesNothingWhenTheTailIsMoreThanARingAhead) {
  Region r;
  RingReader rd = r.sq_reader();
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 1;
  r.store(kSqTailOffset, kRing + 1);
  EXPECT_TRUE(rd.has_input());  // "something to read", so that read() reports it
  EXPECT_EQ(rd.read(dec, kRing * 4, copied), RingReader::Status::broken);
  EXPECT_EQ(copied, 0u);
  EXPECT_EQ(dec.pending_bytes(), 0u);
  EXPECT_EQ(r.load(kSqHeadOffset), 0u);
  r.store(kSqTailOffset, kIndexMask - 5);  // far ahead, or just behind: either way broken
  EXPECT_EQ(rd.read(dec, kRing * 4, copied), RingReader::Status::broken);
  EXPECT_EQ(copied, 0u);
  // Exactly a ring ahead is a full ring, not a broken one.
  r.store(kSqTailOffset, kRing);
  EXPECT_EQ(rd.read(dec, kRing * 4, copied), RingReader::Status::ok);
  EXPECT_EQ(copied, kRing);
  EXPECT_EQ(r.load(kSqHeadOffset), kRing);
}

TEST(RingHostile, ReadReportsBrokenWhenTheTailGoesBackBehindTheHead) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  const Bytes f = msgsnd_frame(1, 200);
  w.write(f);
  w.publish();
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 0;
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  ASSERT_EQ(copied, f.size());
  r.store(kSqTailOffset, f.size() - 1);  // one byte behind what was already read
  EXPECT_EQ(rd.read(dec, kRing, copied), RingReader::Status::broken);
  EXPECT_EQ(copied, 0u);
  EXPECT_EQ(r.load(kSqHeadOffset), f.size());  // the head did not move
}

TEST(RingHostile, FreeBytesIsFalseWhenTheHeadIsAheadOfTheTail) {
  Region r;
  RingWriter w = r.cq_writer();
  w.write(Bytes(100, std::byte{2}));
  w.publish();
  std::uint64_t free = 12345;
  r.store(kCqHeadOffset, 101);  // read one byte more than was ever published
  EXPECT_FALSE(w.free_bytes(free));
  EXPECT_EQ(free, 12345u);  // untouched
  r.store(kCqHeadOffset, 100);
  EXPECT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing);
}

TEST(RingHostile, FreeBytesIsFalseWhenTheHeadIsMoreThanARingBehind) {
  Region r;
  RingWriter w = r.cq_writer();
  w.write(Bytes(100, std::byte{2}));
  std::uint64_t free = 0;
  r.store(kCqHeadOffset, (100 - kRing - 1) & kIndexMask);
  EXPECT_FALSE(w.free_bytes(free));
  r.store(kCqHeadOffset, (100 - kRing) & kIndexMask);
  EXPECT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, 0u);
}

// ---- send credit ----------------------------------------------------------------------------

TEST(RingCredit, CreditOfAndWithCreditRoundTripAndKeepTheIndex) {
  const std::uint64_t indices[] = {0, 1, 0x1234'5678, kIndexMask};
  const Credit credits[] = {{0, 0}, {1, 1}, {kMaxCreditCount, kMaxCreditBytes}, {0x5a, 0xa5a5a5},
                            {kMaxCreditCount, 0}, {0, kMaxCreditBytes}};
  for (const std::uint64_t idx : indices) {
    for (const Credit& c : credits) {
      // Over a word that had other credit: the new credit replaces it.
      const std::uint64_t old = with_credit(idx, Credit{0x11, 0x222222});
      const std::uint64_t w = with_credit(old, c);
      EXPECT_EQ(w & kIndexMask, idx);
      EXPECT_EQ(credit_of(w).count, c.count);
      EXPECT_EQ(credit_of(w).bytes, c.bytes);
    }
  }
  EXPECT_EQ(with_credit(0, Credit{1, 0}), std::uint64_t{1} << kCreditCountShift);
  EXPECT_EQ(with_credit(0, Credit{0, 1}), std::uint64_t{1} << kCreditBytesShift);
  EXPECT_EQ(credit_of(kIndexMask).count, 0u);
  EXPECT_EQ(credit_of(kIndexMask).bytes, 0u);
}

TEST(RingCredit, PublishSpendingWithoutEnoughCountPublishesNothing) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  const std::uint64_t before = with_credit(0, Credit{0, 100000});
  r.store(kSqTailOffset, before);
  const Bytes f = msgsnd_frame(1, 64);
  w.write(f);
  EXPECT_FALSE(w.publish_spending(Credit{1, 64}));
  EXPECT_EQ(r.load(kSqTailOffset), before);
  EXPECT_EQ(w.published(), 0u);
  EXPECT_FALSE(rd.has_input());
  std::uint64_t free = 0;
  ASSERT_TRUE(w.free_bytes(free));
  EXPECT_EQ(free, kRing);  // the written bytes are forgotten
}

TEST(RingCredit, PublishSpendingWithoutEnoughBytesPublishesNothing) {
  Region r;
  RingWriter w = r.sq_writer();
  RingReader rd = r.sq_reader();
  const std::uint64_t before = with_credit(0, Credit{kMaxCreditCount, 63});
  r.store(kSqTailOffset, before);
  w.write(msgsnd_frame(1, 64));
  EXPECT_FALSE(w.publish_spending(Credit{1, 64}));
  EXPECT_EQ(r.load(kSqTailOffset), before);
  EXPECT_FALSE(rd.has_input());
  // A later entry that is covered goes out alone: the failed one stays forgotten.
  const Bytes g = msgsnd_frame(2, 63);
  w.write(g);
  EXPECT_TRUE(w.publish_spending(Credit{1, 63}));
  EXPECT_EQ(r.load(kSqTailOffset), with_credit(g.size(), Credit{kMaxCreditCount - 1, 0}));
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::size_t copied = 0;
  ASSERT_EQ(rd.read(dec, kRing, copied), RingReader::Status::ok);
  const auto frames = take_frames(dec);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], g);
}

TEST(RingCredit, PublishSpendingTakesExactlyTheCreditAndPublishes) {
  Region r;
  RingWriter w = r.sq_writer();
  r.store(kSqTailOffset, with_credit(0, Credit{3, 1000}));
  const Bytes a = msgsnd_frame(1, 400), b = msgsnd_frame(2, 600);
  w.write(a);
  ASSERT_TRUE(w.publish_spending(Credit{1, 400}));
  EXPECT_EQ(r.load(kSqTailOffset), with_credit(a.size(), Credit{2, 600}));
  w.write(b);
  ASSERT_TRUE(w.publish_spending(Credit{2, 600}));  // all of it, to the last byte
  EXPECT_EQ(r.load(kSqTailOffset), a.size() + b.size());
  EXPECT_EQ(w.published(), a.size() + b.size());
  w.write(msgsnd_frame(3, 0));
  EXPECT_FALSE(w.publish_spending(Credit{1, 0}));  // nothing left
  EXPECT_TRUE(w.publish_spending(Credit{0, 0}));   // spending nothing always covers
  EXPECT_EQ(r.load(kSqTailOffset), a.size() + b.size());
}

TEST(RingCredit, PublishKeepsWhateverCreditTheWordHolds) {
  Region r;
  RingWriter w = r.sq_writer();
  r.store(kSqTailOffset, with_credit(0, Credit{5, 777}));
  const Bytes f = msgsnd_frame(1, 10);
  w.write(f);
  w.publish();
  EXPECT_EQ(r.load(kSqTailOffset), with_credit(f.size(), Credit{5, 777}));
  r.store(kSqTailOffset, with_credit(f.size(), Credit{kMaxCreditCount, kMaxCreditBytes}));
  w.write(f);
  w.publish();
  EXPECT_EQ(r.load(kSqTailOffset),
            with_credit(2 * f.size(), Credit{kMaxCreditCount, kMaxCreditBytes}));
}

// ---- the daemon granting and revoking while the client spends ---------------------------------
// Thread A is the client: it writes a MSGSND on credit and publishes it spending {1, n}
// while credit lasts, and otherwise waits. Thread B is the daemon: it grants (a saturating
// CAS loop, as RingChannel::grant), revokes (a CAS that zeroes the credit half, as
// RingChannel::revoke) and drains the ring into a FrameDecoder. Conservation: every unit of
// credit granted is either handed back by a revoke or paid for by exactly one entry the
// daemon decoded; and the entries arrive whole and in order.

TEST(RingCredit, CreditIsConservedWhileTheDaemonGrantsAndRevokesConcurrently) {
  Region r;
  const std::uint64_t kEntries = kTsan ? 4000 : 20000;
  constexpr std::size_t kMaxText = 600;
  constexpr std::uint64_t kKinds = kMaxText + 1;
  const auto entry_text_size = [](std::uint64_t id) { return (id * 37) % kKinds; };
  std::atomic<bool> client_done{false};
  std::atomic<std::uint64_t> client_published{0};
  std::uint64_t client_spent_count = 0, client_spent_bytes = 0;

  std::thread client([&] {
    RingWriter w = r.sq_writer();
    // Made beforehand, so that the loop is mostly publish_spending: entry `id` is
    // frames[id % kKinds] with its request id patched in (header bytes 8..15).
    std::vector<Bytes> frames;
    for (std::uint64_t k = 0; k < kKinds; ++k)
      frames.push_back(msgsnd_frame(k, entry_text_size(k), kFlagOnCredit));
    std::uint64_t id = 0;
    int idle = 0;
    while (id < kEntries) {
      const std::size_t n = entry_text_size(id);
      Bytes& f = frames[id % kKinds];
      std::memcpy(f.data() + 8, &id, sizeof id);
      std::uint64_t free = 0;
      if (!w.free_bytes(free)) {
        ADD_FAILURE() << "the daemon's head is impossible";
        break;
      }
      if (free >= f.size()) {
        w.write(f);
        if (w.publish_spending(Credit{1, static_cast<std::uint32_t>(n)})) {
          client_spent_count += 1;
          client_spent_bytes += n;
          ++id;
          client_published.store(id, std::memory_order_relaxed);
          idle = 0;
          continue;
        }
        // Refused: nothing went out, the bytes are forgotten; try again after a grant.
      }
      if (++idle > 16) std::this_thread::yield();
    }
    client_done.store(true, std::memory_order_release);
  });

  // The daemon.
  std::uint64_t granted_count = 0, granted_bytes = 0, returned_count = 0, returned_bytes = 0;
  std::uint64_t decoded = 0, decoded_bytes = 0, revokes = 0;
  RingReader rd = r.sq_reader();
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::mt19937 rng(7);
  auto word = word64(r.base(), kSqTailOffset);
  const auto grant = [&](Credit add) {
    std::uint64_t seen = word.load(std::memory_order_relaxed);
    for (;;) {
      const Credit have = credit_of(seen);
      const Credit next{std::min<std::uint32_t>(kMaxCreditCount, have.count + add.count),
                        std::min<std::uint32_t>(kMaxCreditBytes, have.bytes + add.bytes)};
      if (word.compare_exchange_weak(seen, with_credit(seen, next), std::memory_order_release,
                                     std::memory_order_relaxed)) {
        granted_count += next.count - have.count;  // what saturation let through
        granted_bytes += next.bytes - have.bytes;
        return;
      }
    }
  };
  const auto revoke = [&] {
    std::uint64_t seen = word.load(std::memory_order_relaxed);
    while (!word.compare_exchange_weak(seen, seen & kIndexMask, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
    }
    const Credit left = credit_of(seen);
    returned_count += left.count;
    returned_bytes += left.bytes;
    ++revokes;
  };
  const auto drain = [&] {
    std::size_t copied = 0;
    if (rd.read(dec, kRing, copied) != RingReader::Status::ok) {
      ADD_FAILURE() << "the client's tail is impossible";
      return false;
    }
    FrameDecoder::Frame fr;
    std::string why;
    for (;;) {
      const auto s = dec.next(fr, why);
      if (s == FrameDecoder::Status::need_more) return true;
      if (s != FrameDecoder::Status::frame) {
        ADD_FAILURE() << why;
        return false;
      }
      const std::uint64_t want = decoded;
      const std::size_t n = entry_text_size(want);
      auto req = decode_request(fr.header, fr.body, why);
      if (!req || fr.header.request_id != want || fr.header.flags != kFlagOnCredit ||
          !std::holds_alternative<MsgsndRequest>(*req) ||
          std::get<MsgsndRequest>(*req).text != text_bytes(n, want % kKinds) ||
          std::get<MsgsndRequest>(*req).msgsz != static_cast<std::int64_t>(n)) {
        ADD_FAILURE() << "entry " << want << " is not what was sent (id "
                      << fr.header.request_id << ") " << why;
        return false;
      }
      ++decoded;
      decoded_bytes += n;
    }
  };

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kTsan ? 60 : 20);
  bool ok = true;
  for (unsigned i = 0; ok; ++i) {
    const bool done = client_done.load(std::memory_order_acquire);
    // A burst of credit changes (hammering the word the client is publishing through),
    // then a drain.
    for (unsigned k = rng() % 16; k > 0; --k) {
      if (rng() % 4 == 0) {
        revoke();
      } else {
        // Small grants, sometimes large enough to saturate.
        const bool huge = rng() % 256 == 0;
        grant(Credit{huge ? kMaxCreditCount : static_cast<std::uint32_t>(1 + rng() % 2),
                     huge ? kMaxCreditBytes : static_cast<std::uint32_t>(rng() % (2 * kMaxText))});
      }
    }
    ok = drain();
    if (done && decoded == client_published.load(std::memory_order_relaxed)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "no progress: decoded " << decoded << " of " << kEntries;
      // Let the client finish: it only waits for credit.
      grant(Credit{kMaxCreditCount, kMaxCreditBytes});
    }
    if (i % 256 == 0) std::this_thread::yield();
  }
  if (!ok) {
    // Unblock the client so the thread can be joined.
    while (!client_done.load()) {
      grant(Credit{kMaxCreditCount, kMaxCreditBytes});
      drain();
      std::this_thread::yield();
    }
  }
  client.join();
  revoke();  // what is left goes back

  EXPECT_EQ(decoded, kEntries);
  EXPECT_EQ(client_spent_count, decoded);
  EXPECT_EQ(client_spent_bytes, decoded_bytes);
  EXPECT_EQ(granted_count, returned_count + decoded);
  EXPECT_EQ(granted_bytes, returned_bytes + decoded_bytes);
  EXPECT_EQ(credit_of(r.load(kSqTailOffset)).count, 0u);
  EXPECT_EQ(credit_of(r.load(kSqTailOffset)).bytes, 0u);
  EXPECT_GT(revokes, 1u);
  EXPECT_GT(returned_count, 0u);  // some revokes took credit back, not only empty words
}

}  // namespace
}  // namespace sysvmq::proto::ring
