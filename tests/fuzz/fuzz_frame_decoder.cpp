// fuzz_frame_decoder: proto::FrameDecoder and the body codecs (proto/codec.hpp) on any
// byte stream, fed in chunks whose sizes come from the input.
// Input: byte 0 = control (bits 0..2: how many chunk-size bytes follow, 0 = the whole
// stream at once; bits 3..4: max_body from kMaxBodies; bit 5: prepare/commit instead of
// feed), then those chunk-size bytes (chunk i is ctrl[i % k] + 1 bytes), then the stream.
// Checked, trapping on violation:
//  - pending_bytes() is exactly what was fed minus the frames taken out (never more than
//    was fed), and 0 once the decoder is bad; bad stays bad with the same reason;
//  - prepare(n) hands out min(n, 16 + max_body) bytes while good;
//  - every frame is the next 16 + body_len bytes of the stream (body_len <= max_body);
//    need_more only when the stream really holds no whole frame; bad only for a header
//    whose body_len exceeds max_body;
//  - each frame through decode_request and decode_reply: a failure says why; a success
//    re-encodes to exactly the frame's bytes (the encoding is canonical) and decodes
//    again to an equal value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "proto/codec.hpp"

namespace {

using namespace sysvmq::proto;

#define CHECK(cond)                  \
  do {                               \
    if (!(cond)) __builtin_trap();   \
  } while (0)

constexpr std::uint32_t kMaxBodies[4] = {kDefaultMaxFrameBytes, 64, 0, 1u << 20};

// ---- equality of decoded values --------------------------------------------------------
bool eq(const HelloRequest& a, const HelloRequest& b) {
  return a.magic == b.magic && a.version == b.version;
}
bool eq(const MsggetRequest& a, const MsggetRequest& b) {
  return a.key == b.key && a.msgflg == b.msgflg;
}
bool eq(const MsgsndRequest& a, const MsgsndRequest& b) {
  return a.msqid == b.msqid && a.msgflg == b.msgflg && a.mtype == b.mtype &&
         a.msgsz == b.msgsz && a.text_state == b.text_state && a.text == b.text;
}
bool eq(const MsgrcvRequest& a, const MsgrcvRequest& b) {
  return a.msqid == b.msqid && a.msgflg == b.msgflg && a.msgtyp == b.msgtyp &&
         a.msgsz == b.msgsz;
}
bool eq(const MsgctlRequest& a, const MsgctlRequest& b) {
  return a.msqid == b.msqid && a.cmd == b.cmd && a.buf_state == b.buf_state &&
         (a.buf_state != BufState::set || a.set == b.set);
}
bool eq(const CancelRequest&, const CancelRequest&) { return true; }
bool eq(const AdminRequest& a, const AdminRequest& b) { return a.json == b.json; }

bool eq(const HelloReply& a, const HelloReply& b) {
  return a.status == b.status && a.version == b.version && a.msgmax == b.msgmax &&
         a.msgmnb == b.msgmnb && a.msgmni == b.msgmni && a.max_frame_bytes == b.max_frame_bytes;
}
bool eq(const MsggetReply& a, const MsggetReply& b) {
  return a.status == b.status && a.msqid == b.msqid;
}
bool eq(const MsgsndReply& a, const MsgsndReply& b) { return a.status == b.status; }
bool eq(const MsgrcvReply& a, const MsgrcvReply& b) {
  return a.status == b.status && a.mtype == b.mtype && a.text == b.text;
}
bool eq(const MsgctlReply& a, const MsgctlReply& b) {
  return a.status == b.status && a.ret == b.ret && a.ds == b.ds && a.info == b.info;
}
bool eq(const AdminReply& a, const AdminReply& b) {
  return a.status == b.status && a.json == b.json;
}

// Encoded bytes: the comparison for a type that has neither operator== nor eq() here
// (a request or reply added to the protocol after this file).
Bytes encoded(const Request& r) {
  Bytes out;
  encode_request(0, 0, r, out);
  return out;
}
Bytes encoded(const Reply& r) {
  Bytes out;
  encode_reply(0, r, out);
  return out;
}

template <typename V>
bool same(const V& a, const V& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (requires { eq(x, y); }) {
          return eq(x, y);
        } else if constexpr (requires { x == y; }) {
          return x == y;
        } else {
          return encoded(a) == encoded(b);
        }
      },
      a);
}

FrameHeader header_of(std::span<const std::byte> frame) {
  return parse_header(std::span<const std::byte, kHeaderBytes>(frame.data(), kHeaderBytes));
}

// `frame`: header + body exactly as they were on the stream.
void check_codecs(const FrameDecoder::Frame& f, std::span<const std::byte> frame) {
  std::string why;
  if (auto req = decode_request(f.header, f.body, why)) {
    CHECK((f.header.opcode & kReplyBit) == 0);
    CHECK(static_cast<std::uint16_t>(opcode_of(*req)) == f.header.opcode);
    Bytes again;
    encode_request(f.header.request_id, f.header.flags, *req, again);
    CHECK(again.size() == frame.size() && std::memcmp(again.data(), frame.data(), frame.size()) == 0);
    std::string why2;
    const FrameHeader h2 = header_of(again);
    auto req2 = decode_request(h2, std::span<const std::byte>(again).subspan(kHeaderBytes), why2);
    CHECK(req2.has_value() && same(*req, *req2));
  } else {
    CHECK(!why.empty());
  }

  why.clear();
  if (auto rep = decode_reply(f.header, f.body, why)) {
    CHECK((f.header.opcode & kReplyBit) != 0 && f.header.flags == 0);
    CHECK((static_cast<std::uint16_t>(opcode_of(*rep)) | kReplyBit) == f.header.opcode);
    Bytes again;
    encode_reply(f.header.request_id, *rep, again);
    CHECK(again.size() == frame.size() && std::memcmp(again.data(), frame.data(), frame.size()) == 0);
    std::string why2;
    const FrameHeader h2 = header_of(again);
    auto rep2 = decode_reply(h2, std::span<const std::byte>(again).subspan(kHeaderBytes), why2);
    CHECK(rep2.has_value() && same(*rep, *rep2));
  } else {
    CHECK(!why.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::size_t k = control & 7u;
  const std::uint32_t max_body = kMaxBodies[(control >> 3) & 3u];
  const bool use_prepare = (control & 0x20u) != 0;
  if (size < 1 + k) return 0;
  const std::uint8_t* chunks = data + 1;
  const auto stream = std::span<const std::byte>(reinterpret_cast<const std::byte*>(data + 1 + k),
                                                 size - 1 - k);

  FrameDecoder d(max_body);
  CHECK(d.max_body() == max_body && d.pending_bytes() == 0);
  std::size_t fed = 0;       // bytes of `stream` handed to the decoder
  std::size_t consumed = 0;  // bytes of `stream` taken out as frames
  bool bad = false;
  std::string bad_why;

  // Take out every frame the decoder has, checking each against the stream.
  const auto drain = [&] {
    for (;;) {
      FrameDecoder::Frame f;
      std::string why;
      const auto st = d.next(f, why);
      if (st == FrameDecoder::Status::bad) {
        CHECK(!why.empty());
        if (bad) {
          CHECK(why == bad_why);
        } else {
          // Only an oversized header is bad.
          CHECK(fed - consumed >= kHeaderBytes);
          CHECK(header_of(stream.subspan(consumed, kHeaderBytes)).body_len > max_body);
          bad = true;
          bad_why = why;
        }
        CHECK(d.pending_bytes() == 0);
        return;
      }
      CHECK(!bad);
      if (st == FrameDecoder::Status::need_more) {
        const std::size_t held = fed - consumed;
        CHECK(d.pending_bytes() == held);
        if (held >= kHeaderBytes) {
          const auto len = header_of(stream.subspan(consumed, kHeaderBytes)).body_len;
          CHECK(len <= max_body && held < kHeaderBytes + std::size_t{len});
        }
        return;
      }
      CHECK(st == FrameDecoder::Status::frame);
      CHECK(f.header.body_len <= max_body && f.body.size() == f.header.body_len);
      const std::size_t whole = kHeaderBytes + f.body.size();
      CHECK(consumed + whole <= fed);
      const auto frame = stream.subspan(consumed, whole);
      const FrameHeader h = header_of(frame);
      CHECK(h.body_len == f.header.body_len && h.opcode == f.header.opcode &&
            h.flags == f.header.flags && h.request_id == f.header.request_id);
      CHECK(f.body.empty() ||
            std::memcmp(f.body.data(), frame.data() + kHeaderBytes, f.body.size()) == 0);
      consumed += whole;
      CHECK(d.pending_bytes() == fed - consumed);
      check_codecs(f, frame);
    }
  };

  std::size_t i = 0;
  while (fed < stream.size()) {
    const std::size_t want = k == 0 ? stream.size() : std::size_t{chunks[i % k]} + 1;
    const std::size_t n = std::min(want, stream.size() - fed);
    ++i;
    if (use_prepare) {
      const auto room = d.prepare(n);
      if (bad) {
        // Nothing more is decoded; whatever is handed out is dropped on commit.
        CHECK(room.size() <= n);
        if (!room.empty()) std::memcpy(room.data(), stream.data() + fed, room.size());
        d.commit(room.size());
        fed += n;
        consumed = fed;
      } else {
        CHECK(room.size() == std::min<std::size_t>(n, kHeaderBytes + std::size_t{max_body}));
        std::memcpy(room.data(), stream.data() + fed, room.size());
        d.commit(room.size());
        fed += room.size();
      }
    } else {
      d.feed(stream.subspan(fed, n));
      fed += n;
      if (bad) consumed = fed;
    }
    if (bad) {
      CHECK(d.pending_bytes() == 0);
    } else {
      CHECK(d.pending_bytes() == fed - consumed);
    }
    CHECK(d.pending_bytes() <= fed);
    drain();
  }
  return 0;
}
