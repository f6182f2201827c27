#include "snapshot.hpp"

#include <array>
#include <cstring>
#include <unordered_set>
#include <utility>

#include "proto/fields.hpp"
#include "proto/sysv.hpp"

namespace sysvmq::core {

namespace {

constexpr std::array<char, 8> kMagic{'S', 'Y', 'S', 'V', 'M', 'Q', 'S', 'N'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;
constexpr std::size_t kTrailerBytes = 4;
constexpr std::size_t kCursorBytes = 4 + 4 + 4 + 4;
// slot, key, uid, gid, cuid, cgid, mode, seq; qbytes; three times; two pids; count.
constexpr std::size_t kQueueBytes = 8 * 4 + 8 + 3 * 8 + 2 * (4 + 4 + 8) + 8;
constexpr std::size_t kMessageHeaderBytes = 8 + 4;  // mtype, text length

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

using Writer = proto::FieldWriter;
using Reader = proto::FieldReader;

void put_pid(Writer& w, const ProcessRef& p) {
  w.i32(p.host_pid);
  w.i32(p.local_pid);
  w.u64(p.pid_ns);
}

ProcessRef read_pid(Reader& r) {
  ProcessRef p;
  p.host_pid = r.i32();
  p.local_pid = r.i32();
  p.pid_ns = r.u64();
  return p;
}

std::optional<DecodedSnapshot> fail(std::string& why, std::string text) {
  why = std::move(text);
  return std::nullopt;
}

}  // namespace

std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc) {
  crc = ~crc;
  for (std::byte b : data) crc = kCrcTable[(crc ^ std::to_integer<std::uint32_t>(b)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Bytes encode_snapshot(const Registry& registry, std::int64_t taken_at) {
  const auto queues = registry.queues();
  std::size_t body = kCursorBytes + queues.size() * kQueueBytes;
  for (const Queue* q : queues) body += q->qnum() * kMessageHeaderBytes + q->cbytes();

  Bytes out;
  out.reserve(kHeaderBytes + body + kTrailerBytes);
  Writer w(out);
  w.bytes(std::as_bytes(std::span(kMagic)));
  w.u32(kSnapshotFormat);
  w.u32(0);
  w.i64(taken_at);
  w.u64(body);

  const SavedRegistry cursors = registry.id_cursors();
  w.i32(cursors.last_idx);
  w.i32(cursors.next_cursor);
  w.u32(cursors.seq);
  w.u32(static_cast<std::uint32_t>(queues.size()));
  for (const Queue* q : queues) {
    const Queue::Fields f = q->fields();
    w.i32(q->slot());
    w.i32(f.perm.key);
    w.u32(f.perm.uid);
    w.u32(f.perm.gid);
    w.u32(f.perm.cuid);
    w.u32(f.perm.cgid);
    w.u32(f.perm.mode);
    w.u32(f.perm.seq);
    w.u64(f.qbytes);
    w.i64(to_time_t(f.stime));
    w.i64(to_time_t(f.rtime));
    w.i64(to_time_t(f.ctime));
    put_pid(w, f.lspid);
    put_pid(w, f.lrpid);
    w.u64(q->qnum());
    for (const Message& m : q->messages()) {
      w.i64(m.mtype);
      w.u32(static_cast<std::uint32_t>(m.text.size()));
      w.bytes(m.text);
    }
  }
  w.u32(crc32(out));
  return out;
}

std::optional<DecodedSnapshot> decode_snapshot(std::span<const std::byte> data, std::string& why) {
  if (data.size() < kHeaderBytes + kTrailerBytes)
    return fail(why, "truncated: " + std::to_string(data.size()) + " bytes is shorter than any snapshot");
  Reader header(data.first(kHeaderBytes));
  if (std::memcmp(header.bytes(kMagic.size()).data(), kMagic.data(), kMagic.size()) != 0)
    return fail(why, "not a sysvmq snapshot (no SYSVMQSN magic)");
  const std::uint32_t format = header.u32();
  if (format != kSnapshotFormat)
    return fail(why, "format " + std::to_string(format) + " is not this sysvmqd's format " +
                         std::to_string(kSnapshotFormat));
  if (header.u32() != 0) return fail(why, "unknown flags in the header");
  DecodedSnapshot out;
  out.taken_at = header.i64();
  const std::uint64_t body_bytes = header.u64();
  const std::size_t have = data.size() - kHeaderBytes - kTrailerBytes;
  if (body_bytes > have)
    return fail(why, "truncated: the header promises " + std::to_string(body_bytes) +
                         " bytes of queues, the file holds " + std::to_string(have));
  if (body_bytes < have)
    return fail(why, std::to_string(have - body_bytes) + " unexpected bytes after the queues");
  const auto covered = data.first(data.size() - kTrailerBytes);
  Reader trailer(data.last(kTrailerBytes));
  if (trailer.u32() != crc32(covered)) return fail(why, "checksum mismatch: the file is damaged");

  Reader r(data.subspan(kHeaderBytes, body_bytes));
  SavedRegistry& reg = out.registry;
  reg.last_idx = r.i32();
  reg.next_cursor = r.i32();
  reg.seq = r.u32();
  const std::uint32_t count = r.u32();
  if (!r.ok()) return fail(why, "truncated: no id cursors");
  if (reg.last_idx < -1 || reg.last_idx >= proto::kIpcmni || reg.next_cursor < 0 ||
      reg.next_cursor > proto::kIpcmni || reg.seq >= static_cast<std::uint32_t>(proto::kSeqMax))
    return fail(why, "id cursors out of range");
  if (count > static_cast<std::uint32_t>(proto::kIpcmni) || count * kQueueBytes > r.remaining())
    return fail(why, "queue count " + std::to_string(count) + " does not fit the file");
  reg.queues.reserve(count);
  std::unordered_set<std::int32_t> keys;
  for (std::uint32_t i = 0; i < count; ++i) {
    SavedQueue q;
    q.slot = r.i32();
    Perm& p = q.fields.perm;
    p.key = r.i32();
    p.uid = r.u32();
    p.gid = r.u32();
    p.cuid = r.u32();
    p.cgid = r.u32();
    p.mode = r.u32();
    p.seq = r.u32();
    q.fields.qbytes = r.u64();
    q.fields.stime = TimePoint{std::chrono::seconds{r.i64()}};
    q.fields.rtime = TimePoint{std::chrono::seconds{r.i64()}};
    q.fields.ctime = TimePoint{std::chrono::seconds{r.i64()}};
    q.fields.lspid = read_pid(r);
    q.fields.lrpid = read_pid(r);
    const std::uint64_t messages = r.u64();
    const std::string which = "queue " + std::to_string(i) + " (slot " + std::to_string(q.slot) + ")";
    if (!r.ok()) return fail(why, "truncated in " + which);
    if (q.slot < 0 || q.slot >= proto::kIpcmni || (!reg.queues.empty() && q.slot <= reg.queues.back().slot))
      return fail(why, which + ": slot out of range or out of order");
    if (p.seq >= static_cast<std::uint32_t>(proto::kSeqMax) ||
        p.mode > static_cast<std::uint32_t>(proto::kModeMask))
      return fail(why, which + ": sequence or mode out of range");
    if (p.key != proto::kIpcPrivate && !keys.insert(p.key).second)
      return fail(why, which + ": key " + std::to_string(p.key) + " twice");
    if (messages > r.remaining() / kMessageHeaderBytes)
      return fail(why, which + ": message count " + std::to_string(messages) + " does not fit the file");
    for (std::uint64_t m = 0; m < messages; ++m) {
      const std::int64_t mtype = r.i64();
      const std::uint32_t length = r.u32();
      const auto text = r.bytes(length);
      if (!r.ok()) return fail(why, "truncated in a message of " + which);
      if (mtype < 1) return fail(why, which + ": a message with mtype " + std::to_string(mtype));
      q.messages.push_back(Message{mtype, Bytes(text.begin(), text.end())});
      out.bytes += length;
    }
    out.messages += messages;
    reg.queues.push_back(std::move(q));
  }
  if (r.remaining() != 0) return fail(why, std::to_string(r.remaining()) + " unexpected bytes after the last queue");
  return out;
}

}  // namespace sysvmq::core
