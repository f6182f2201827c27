// codec.hpp: frames and bodies of the wire protocol (PROTOCOL.md) to bytes and back.
// Total by construction: any byte sequence decodes, asks for more, or is rejected with a
// reason — no undefined behaviour, no allocation sized by an unchecked length.
// Not here: what the calls mean (daemon/core), sockets (daemon/server, client/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "proto/errc.hpp"
#include "proto/fields.hpp"
#include "proto/limits.hpp"
#include "proto/sysv.hpp"

namespace sysvmq::proto {

inline constexpr std::uint32_t kMagic = 0x514D5653;  // "SVMQ" in memory order (LE)
inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 16;
inline constexpr std::uint32_t kDefaultMaxFrameBytes = 65600;
inline constexpr std::uint32_t kClientMaxReplyBytes = 64u << 20;
inline constexpr std::uint32_t kMsgsndFixedBytes = 32;  // MSGSND body before the text

enum class Opcode : std::uint16_t {
  hello = 1,
  msgget = 2,
  msgsnd = 3,
  msgrcv = 4,
  msgctl = 5,
  cancel = 6,
  admin = 7,
  ring_setup = 8,  // PROTOCOL.md "Rings": ask for the shared-memory fast path
  doorbell = 9,    // client: "my submission ring has entries"; no reply. Daemon: WAKE notice
  lent = 10,       // daemon, lending ring only: a message lent to a receiver (never a request)
};
inline constexpr std::uint16_t kReplyBit = 0x8000;

// Request header flags (PROTOCOL.md "Flags").
inline constexpr std::uint16_t kFlagCaps = 1u << 0;
// A MSGSND in the submission ring paid for with send credit: complete once published, so
// it has no reply (PROTOCOL.md "Send credit"). Refused anywhere else.
inline constexpr std::uint16_t kFlagOnCredit = 1u << 1;
inline constexpr std::uint16_t kFlagCapIpcOwner = 1u << 8;
inline constexpr std::uint16_t kFlagCapSysAdmin = 1u << 9;
inline constexpr std::uint16_t kFlagCapSysResource = 1u << 10;
inline constexpr std::uint16_t kRequestFlagsMask =
    kFlagCaps | kFlagOnCredit | kFlagCapIpcOwner | kFlagCapSysAdmin | kFlagCapSysResource;

// Reply status: 0, an Errc value, or a negative transport status.
inline constexpr std::int32_t kStatusOk = 0;
inline constexpr std::int32_t kStatusShuttingDown = -1;

struct FrameHeader {
  std::uint32_t body_len = 0;
  std::uint16_t opcode = 0;
  std::uint16_t flags = 0;
  std::uint64_t request_id = 0;
};

// ---- requests -------------------------------------------------------------------------
struct HelloRequest {
  std::uint32_t magic = kMagic;
  std::uint16_t version = kVersion;
};
struct MsggetRequest {
  std::int32_t key = 0;
  std::int32_t msgflg = 0;
};
enum class TextState : std::uint32_t { present = 0, fault = 1, omitted = 2 };
struct MsgsndRequest {
  std::int32_t msqid = 0;
  std::int32_t msgflg = 0;
  std::int64_t mtype = 0;
  std::int64_t msgsz = 0;
  TextState text_state = TextState::present;
  Bytes text;
};
struct MsgrcvRequest {
  std::int32_t msqid = 0;
  std::int32_t msgflg = 0;
  std::int64_t msgtyp = 0;
  std::int64_t msgsz = 0;
};
enum class BufState : std::uint32_t { none = 0, set = 1, fault = 2 };
struct MsgctlRequest {
  std::int32_t msqid = 0;
  std::int32_t cmd = 0;
  BufState buf_state = BufState::none;
  MsqidSet set;  // meaningful when buf_state == set
};
struct CancelRequest {};
struct AdminRequest {
  std::string json;
};
struct RingSetupRequest {};
struct DoorbellRequest {};
using Request = std::variant<HelloRequest, MsggetRequest, MsgsndRequest, MsgrcvRequest,
                             MsgctlRequest, CancelRequest, AdminRequest, RingSetupRequest,
                             DoorbellRequest>;

// ---- replies --------------------------------------------------------------------------
struct HelloReply {
  std::int32_t status = kStatusOk;
  std::uint16_t version = kVersion;
  std::int32_t msgmax = 0;
  std::int32_t msgmnb = 0;
  std::int32_t msgmni = 0;
  std::uint32_t max_frame_bytes = 0;
};
struct MsggetReply {
  std::int32_t status = kStatusOk;
  std::int32_t msqid = 0;
};
struct MsgsndReply {
  std::int32_t status = kStatusOk;
};
struct MsgrcvReply {
  std::int32_t status = kStatusOk;
  std::int64_t mtype = 0;
  Bytes text;
};
struct MsgctlReply {
  std::int32_t status = kStatusOk;
  std::int32_t ret = 0;
  std::optional<MsqidDs> ds;
  std::optional<MsgInfo> info;  // at most one of ds / info
};
struct AdminReply {
  std::int32_t status = kStatusOk;
  std::string json;
};
// The region's descriptor travels beside this reply's first byte (SCM_RIGHTS) when the
// status is 0; ENOSYS says the daemon serves this connection over the socket only.
struct RingSetupReply {
  std::int32_t status = kStatusOk;
  std::uint64_t region_bytes = 0;
  std::uint64_t sq_offset = 0;
  std::uint64_t sq_capacity = 0;
  std::uint64_t cq_offset = 0;
  std::uint64_t cq_capacity = 0;
  std::uint64_t lq_offset = 0;
  std::uint64_t lq_capacity = 0;
};
// The daemon's WAKE notice (opcode doorbell | 0x8000, request_id 0, empty body): "your
// completion ring has entries". It answers no request; `status` is always 0 and is not
// sent.
struct WakeNotice {
  std::int32_t status = kStatusOk;
};
using Reply = std::variant<HelloReply, MsggetReply, MsgsndReply, MsgrcvReply, MsgctlReply,
                           AdminReply, RingSetupReply, WakeNotice>;

Opcode opcode_of(const Request& r);
Opcode opcode_of(const Reply& r);

// A message lent to a receiver (PROTOCOL.md "Lent messages"): travels only in the lending
// ring, as a frame with opcode lent | 0x8000 and request_id 0. `msgtyp` is the selector
// it was lent under.
struct LentMessage {
  std::int32_t msqid = 0;
  std::int64_t msgtyp = 0;
  std::int64_t mtype = 0;
  Bytes text;
};
// Appends a LENT frame; the text is copied once, straight into `out`.
void encode_lent(std::int32_t msqid, std::int64_t msgtyp, std::int64_t mtype,
                 std::span<const std::byte> text, Bytes& out);
// The body of a lent frame; nullopt + `why` when it is not one.
std::optional<LentMessage> decode_lent(const FrameHeader& h, std::span<const std::byte> body,
                                       std::string& why);
inline constexpr std::size_t kLentFixedBytes = 24;

// Append one whole frame (header + body) to `out`.
void encode_request(std::uint64_t request_id, std::uint16_t flags, const Request& r, Bytes& out);
void encode_reply(std::uint64_t request_id, const Reply& r, Bytes& out);

// Decode a body whose header has already been accepted. nullopt + `why` on a bad body.
std::optional<Request> decode_request(const FrameHeader& h, std::span<const std::byte> body,
                                      std::string& why);
std::optional<Reply> decode_reply(const FrameHeader& h, std::span<const std::byte> body,
                                  std::string& why);

// Splits a byte stream into frames. Feed it what the socket gave; take frames out.
// The buffer only ever holds one frame's worth beyond what was fed: body_len is checked
// against max_body before the body is waited for.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_body) : max_body_(max_body) {}

  enum class Status { frame, need_more, bad };
  struct Frame {
    FrameHeader header;
    std::span<const std::byte> body;  // valid until the next call to feed/prepare/next
  };

  // Append bytes. (Or write into prepare(n) and commit(k) to skip a copy.)
  // prepare(n) returns min(n, kHeaderBytes + max_body) writable bytes (empty after bad),
  // valid until the next call to feed/prepare/next; commit(k) makes the first k of them
  // (k <= that size) part of the stream.
  void feed(std::span<const std::byte> bytes);
  std::span<std::byte> prepare(std::size_t n);
  void commit(std::size_t n);

  // The next whole frame, need_more, or bad (with `why`); after bad the decoder stays bad.
  Status next(Frame& out, std::string& why);

  // Bytes of a started but unfinished frame (0 between frames): for the daemon's
  // half-frame deadline.
  std::size_t pending_bytes() const { return end_ - begin_; }
  std::uint32_t max_body() const { return max_body_; }
  // True once next() said bad because a header's body_len exceeded max_body.
  bool too_large() const { return too_large_; }

 private:
  std::uint32_t max_body_;
  Bytes buf_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last valid byte
  bool bad_ = false;
  bool too_large_ = false;
  std::string bad_why_;
};

// Parse a header from exactly kHeaderBytes bytes (no validation of its fields).
FrameHeader parse_header(std::span<const std::byte, kHeaderBytes> bytes);

}  // namespace sysvmq::proto
