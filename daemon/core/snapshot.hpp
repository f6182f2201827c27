// snapshot.hpp: every queue of a Registry to bytes and back — keys, ids with their
// sequence, permissions, every msqid_ds field, the messages in order, and the id
// allocator's cursors — so a restarted daemon serves the same ids with the same contents.
// Pure: no files (server/snapshot_file.hpp writes and reads them), no clock (the time a
// snapshot was taken is an argument).
//
// Format (all integers little-endian; daemon/README.md "Snapshots" has the table):
//   header   magic "SYSVMQSN", u32 format version, u32 flags (0), i64 taken at (Unix
//            seconds), u64 body length
//   body     the id cursors, the queue count, then each queue's fields and messages
//   trailer  u32 CRC-32 (IEEE) of header and body
// Decoding trusts nothing: every length is checked against what is left, every field
// against its range, and the checksum before any of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "daemon/core/message.hpp"
#include "daemon/core/registry.hpp"

namespace sysvmq::core {

inline constexpr std::uint32_t kSnapshotFormat = 1;

// The registry's queues as they stand. Parked calls, send credit and leases are not
// part of a snapshot: the server settles or answers them before a final one.
Bytes encode_snapshot(const Registry& registry, std::int64_t taken_at);

struct DecodedSnapshot {
  std::int64_t taken_at = 0;
  SavedRegistry registry;
  std::uint64_t messages = 0;  // in all queues
  std::uint64_t bytes = 0;     // of message text, in all queues
};

// nullopt and `why` ("truncated: ...", "checksum mismatch", "format 7 is newer than
// this sysvmqd's 1", ...) when `data` is not a snapshot this daemon can load whole.
std::optional<DecodedSnapshot> decode_snapshot(std::span<const std::byte> data, std::string& why);

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of `data`, continuing from `crc`.
std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc = 0);

}  // namespace sysvmq::core
