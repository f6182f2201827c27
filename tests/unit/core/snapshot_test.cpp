// The snapshot codec (daemon/core/snapshot.hpp): what a restart brings back, and what it
// refuses to bring back.
#include "daemon/core/snapshot.hpp"

#include <gtest/gtest.h>

#include "core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcStat;

// A registry with a history: a removed queue (so the sequence moved and a slot is free),
// keyed and private queues, IPC_SET changes, sends and receives by processes in two pid
// namespaces, messages of several types and sizes (one empty) left queued.
struct Busy {
  Registry r{limits_with_msgmnb(4096)};
  int keyed = -1, priv = -1, emptyq = -1;

  Busy() {
    const int gone = create(r, alice(), 0600, 0x1234);
    keyed = create(r, alice(), 0640, 0x5678);
    EXPECT_EQ(answer(rmid(r, alice(), gone)), Errc::ok);
    priv = create(r, bob(), 0666);
    emptyq = create(r, carol(), 0604, 0x9abc);
    Caller far = user(1000, 1000, 5555);
    far.process = ProcessRef{5555, 7, 0xfeedULL};  // a process in another pid namespace
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(answer(send(r, alice(), keyed, 1 + i % 3, text_of(10 * i, char('a' + i)), 0, at(3000 + i))), Errc::ok);
    EXPECT_EQ(answer(send(r, far, keyed, 9, "", 0, at(3100))), Errc::ok);
    EXPECT_EQ(answer(recv(r, user(1000, 1000, 202), keyed, 100, 2, 0, at(3200))), Errc::ok);  // 'b'
    EXPECT_EQ(answer(send(r, bob(), priv, 77, text_of(300, '\xff'), 0, at(3300))), Errc::ok);
    set_qbytes(r, priv, 1000, at(3400));
    set_mode(r, keyed, 0660, at(3500));
  }
};

std::vector<std::pair<std::int64_t, std::string>> contents(Registry& r, int id) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  for (std::int64_t pos = 0;; ++pos) {
    auto o = peek(r, id, pos);
    if (!o.ok()) break;
    out.emplace_back(o.value().mtype, str(o.value().text));
  }
  return out;
}

void expect_same_ds(const MsqidDs& a, const MsqidDs& b) {
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.cuid, b.cuid);
  EXPECT_EQ(a.cgid, b.cgid);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.stime, b.stime);
  EXPECT_EQ(a.rtime, b.rtime);
  EXPECT_EQ(a.ctime, b.ctime);
  EXPECT_EQ(a.cbytes, b.cbytes);
  EXPECT_EQ(a.qnum, b.qnum);
  EXPECT_EQ(a.qbytes, b.qbytes);
  EXPECT_EQ(a.lspid, b.lspid);
  EXPECT_EQ(a.lrpid, b.lrpid);
}

std::unique_ptr<Registry> reloaded(const Bytes& image, const proto::Limits& limits) {
  std::string why;
  auto decoded = decode_snapshot(image, why);
  EXPECT_TRUE(decoded) << why;
  auto r = std::make_unique<Registry>(limits);
  if (decoded) r->load(std::move(decoded->registry));
  return r;
}

// Re-seals a hand-edited image so only the edited field can be what decode refuses.
void reseal(Bytes& image) {
  const std::uint32_t crc = crc32(std::span(image).first(image.size() - 4));
  for (int i = 0; i < 4; ++i) image[image.size() - 4 + i] = static_cast<std::byte>(crc >> (8 * i));
}

void put32(Bytes& image, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) image[at + i] = static_cast<std::byte>(v >> (8 * i));
}

// Offsets in format 1: a 32-byte header, 16 bytes of id cursors, then the first queue:
// slot, key, uid, gid, cuid, cgid, mode, seq (4 bytes each), qbytes, three times, two
// pids, the message count (104 bytes), then its first message's mtype.
constexpr std::size_t kFirstQueue = 32 + 16;
constexpr std::size_t kFirstMode = kFirstQueue + 24;
constexpr std::size_t kFirstMessage = kFirstQueue + 104;

TEST(Snapshot, BringsBackEveryIdFieldAndMessageInOrder) {
  Busy b;
  const Bytes image = encode_snapshot(b.r, 4242);
  auto r = reloaded(image, b.r.limits());

  EXPECT_EQ(r->queue_count(), b.r.queue_count());
  for (int id : {b.keyed, b.priv, b.emptyq}) {
    SCOPED_TRACE(id);
    expect_same_ds(stat(*r, id), stat(b.r, id));
    // lspid as a reader in the sender's own pid namespace sees it, too.
    Caller inside = user(0, 0, 8);
    inside.caps = Capabilities::all();
    inside.process = ProcessRef{6000, 8, 0xfeedULL};
    expect_same_ds(stat(*r, id, inside), stat(b.r, id, inside));
    EXPECT_EQ(contents(*r, id), contents(b.r, id));
  }
  EXPECT_EQ(contents(*r, b.keyed).size(), 5u);
  EXPECT_EQ(r->usage().queued_bytes, b.r.usage().queued_bytes);
  EXPECT_EQ(r->usage().queued_messages, b.r.usage().queued_messages);
  // Keys find the same ids; the next new queue gets the id the old daemon would give.
  EXPECT_EQ(r->msgget(alice(), 0x5678, 0, at(5000)).value(), b.keyed);
  EXPECT_EQ(create(*r, alice()), create(b.r, alice()));
  EXPECT_EQ(create(*r, alice()), create(b.r, alice()));
}

TEST(Snapshot, LoadedQueuesBehaveAsBefore) {
  Busy b;
  auto r = reloaded(encode_snapshot(b.r, 1), b.r.limits());
  // msgtyp 1 finds the first type-1 message; qbytes 1000 still holds a 701-byte sender back.
  auto got = recv(*r, alice(), b.keyed, 100, 1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(str(got.value().text), "");  // 'a' x 0: the first message sent
  EXPECT_EQ(answer(send(*r, bob(), b.priv, 1, text_of(701), proto::kIpcNowait)), Errc::eagain);
  EXPECT_EQ(answer(send(*r, bob(), b.priv, 1, text_of(700), proto::kIpcNowait)), Errc::ok);
  // Permissions came back: carol may not read alice's 0660 queue.
  EXPECT_EQ(answer(recv(*r, carol(), b.keyed, 100, 0)), Errc::eacces);
}

TEST(Snapshot, LoadedQueuesCountAgainstTheirCreatorsQueueCap) {
  Busy b;  // alice created two queues, bob one, carol one
  proto::Limits capped = b.r.limits();
  capped.max_queues_per_uid = 2;
  auto r = reloaded(encode_snapshot(b.r, 1), capped);
  EXPECT_EQ(r->queues_created_by(alice().uid), 1u);  // one of alice's was removed
  EXPECT_EQ(answer(r->msgget(alice(), proto::kIpcPrivate, 0600, at(6000))), Errc::ok);
  EXPECT_EQ(answer(r->msgget(alice(), proto::kIpcPrivate, 0600, at(6000))), Errc::enospc);
  EXPECT_EQ(r->queues_created_by(bob().uid), 1u);
  EXPECT_EQ(r->queues_created_by(carol().uid), 1u);
}

TEST(Snapshot, AnEmptyRegistryRoundTrips) {
  Registry empty;
  auto r = reloaded(encode_snapshot(empty, 7), empty.limits());
  EXPECT_EQ(r->queue_count(), 0u);
  EXPECT_EQ(create(*r, alice()), create(empty, alice()));
}

TEST(Snapshot, ReportsWhenItWasTakenAndWhatItHolds) {
  Busy b;
  std::string why;
  auto d = decode_snapshot(encode_snapshot(b.r, 1234567), why);
  ASSERT_TRUE(d) << why;
  EXPECT_EQ(d->taken_at, 1234567);
  EXPECT_EQ(d->messages, b.r.usage().queued_messages);
  EXPECT_EQ(d->bytes, b.r.usage().queued_bytes);
}

TEST(Snapshot, EveryTruncationIsRefused) {
  Busy b;
  const Bytes image = encode_snapshot(b.r, 1);
  for (std::size_t n = 0; n < image.size(); ++n) {
    std::string why;
    EXPECT_FALSE(decode_snapshot(std::span(image).first(n), why)) << n;
    EXPECT_FALSE(why.empty());
  }
  std::string why;
  Bytes longer = image;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_snapshot(longer, why));
}

TEST(Snapshot, EveryFlippedByteIsRefused) {
  Busy b;
  const Bytes image = encode_snapshot(b.r, 1);
  for (std::size_t i = 0; i < image.size(); ++i) {
    Bytes bad = image;
    bad[i] ^= std::byte{0x10};
    std::string why;
    EXPECT_FALSE(decode_snapshot(bad, why)) << "byte " << i;
  }
}

TEST(Snapshot, SaysWhyItRefuses) {
  Busy b;
  const Bytes image = encode_snapshot(b.r, 1);
  std::string why;

  Bytes flipped = image;
  flipped[kFirstMessage + 20] ^= std::byte{1};
  EXPECT_FALSE(decode_snapshot(flipped, why));
  EXPECT_NE(why.find("checksum"), std::string::npos) << why;

  Bytes newer = image;
  put32(newer, 8, 2);
  reseal(newer);
  EXPECT_FALSE(decode_snapshot(newer, why));
  EXPECT_NE(why.find("format 2"), std::string::npos) << why;

  EXPECT_FALSE(decode_snapshot(std::span(image).first(image.size() / 2), why));
  EXPECT_NE(why.find("truncated"), std::string::npos) << why;

  Bytes magic = image;
  magic[0] = std::byte{'X'};
  EXPECT_FALSE(decode_snapshot(magic, why));
  EXPECT_NE(why.find("magic"), std::string::npos) << why;
}

// Fields that pass the checksum but could never have been written: a sealed file is
// still not trusted (a bug, or a hand-made file).
TEST(Snapshot, RefusesSealedButImpossibleFields) {
  Busy b;
  const Bytes image = encode_snapshot(b.r, 1);
  std::string why;

  Bytes mode = image;
  put32(mode, kFirstMode, 01777);
  reseal(mode);
  EXPECT_FALSE(decode_snapshot(mode, why));
  EXPECT_NE(why.find("mode"), std::string::npos) << why;

  Bytes mtype = image;
  for (int i = 0; i < 8; ++i) mtype[kFirstMessage + i] = std::byte{0};
  reseal(mtype);
  EXPECT_FALSE(decode_snapshot(mtype, why));
  EXPECT_NE(why.find("mtype 0"), std::string::npos) << why;

  Bytes slot = image;
  put32(slot, kFirstQueue, 40000);
  reseal(slot);
  EXPECT_FALSE(decode_snapshot(slot, why));
  EXPECT_NE(why.find("slot"), std::string::npos) << why;

  Bytes count = image;
  put32(count, kFirstQueue - 4, 1000);  // more queues than the file holds
  reseal(count);
  EXPECT_FALSE(decode_snapshot(count, why));
  EXPECT_NE(why.find("queue count"), std::string::npos) << why;
}

TEST(Snapshot, RefusesABodyTooShortForItsIdCursors) {
  // Found by fuzz_snapshot: a sealed file whose header promises an empty body.
  Bytes image = encode_snapshot(Registry{}, 1);
  image.erase(image.begin() + kFirstQueue - 16, image.begin() + kFirstQueue);
  put32(image, 24, 0);  // the body length
  reseal(image);
  std::string why;
  EXPECT_FALSE(decode_snapshot(image, why));
  EXPECT_NE(why.find("cursors"), std::string::npos) << why;
}

TEST(Snapshot, RefusesTheSameKeyTwice) {
  Registry r;
  create(r, alice(), 0600, 0x11);
  create(r, alice(), 0600, 0x22);
  Bytes image = encode_snapshot(r, 1);
  // The second queue starts right after the first (no messages): give it the first's key.
  put32(image, kFirstQueue + 104 + 4, 0x11);
  reseal(image);
  std::string why;
  EXPECT_FALSE(decode_snapshot(image, why));
  EXPECT_NE(why.find("twice"), std::string::npos) << why;
}

TEST(Snapshot, LoadsOnlyIntoAnEmptyRegistry) {
  Busy b;
  std::string why;
  auto d = decode_snapshot(encode_snapshot(b.r, 1), why);
  ASSERT_TRUE(d) << why;
  EXPECT_THROW(b.r.load(std::move(d->registry)), std::invalid_argument);
}

TEST(Snapshot, Crc32IsZlibs) {
  const Bytes check = bytes("123456789");
  EXPECT_EQ(crc32(check), 0xCBF43926u);  // the CRC-32 check value
}

}  // namespace
}  // namespace sysvmq::core::test
