// codec_test.cpp: PROTOCOL.md as tests — every request and reply round-trips, the frame
// decoder reassembles frames however the stream is cut, and bad bytes are rejected with a
// reason and never crash (the garbage loop also runs under ASan/UBSan).
// Not here: the numbers themselves (constants_test.cpp).
#include "proto/codec.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

// Cases name only the fields they are about; the rest keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sysvmq::proto {
namespace {

constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int32_t kI32Min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t kI32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t kU32Max = std::numeric_limits<std::uint32_t>::max();

// ---- helpers --------------------------------------------------------------------------

Bytes text_bytes(std::size_t n, unsigned seed = 0) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
  return b;
}

Bytes frame_of(std::uint64_t id, std::uint16_t flags, const Request& r) {
  Bytes out;
  encode_request(id, flags, r, out);
  return out;
}

Bytes frame_of(std::uint64_t id, const Reply& r) {
  Bytes out;
  encode_reply(id, r, out);
  return out;
}

FrameHeader header_of(const Bytes& frame) {
  return parse_header(std::span<const std::byte, kHeaderBytes>(frame.data(), kHeaderBytes));
}

std::span<const std::byte> body_of(const Bytes& frame) {
  return std::span<const std::byte>(frame).subspan(kHeaderBytes);
}

// Decodes one whole encoded frame as a request; fails the test on a rejection.
Request decode_req_frame(const Bytes& frame) {
  std::string why;
  auto r = decode_request(header_of(frame), body_of(frame), why);
  EXPECT_TRUE(r.has_value()) << why;
  return r ? std::move(*r) : Request{CancelRequest{}};
}

Reply decode_rep_frame(const Bytes& frame) {
  std::string why;
  auto r = decode_reply(header_of(frame), body_of(frame), why);
  EXPECT_TRUE(r.has_value()) << why;
  return r ? std::move(*r) : Reply{MsgsndReply{}};
}

// The reason a (possibly patched) frame is rejected; "" when it is accepted.
std::string request_rejection(const Bytes& frame) {
  std::string why;
  auto r = decode_request(header_of(frame), body_of(frame), why);
  if (r) return "";
  EXPECT_FALSE(why.empty());
  return why.empty() ? "(no reason)" : why;
}

std::string reply_rejection(const Bytes& frame) {
  std::string why;
  auto r = decode_reply(header_of(frame), body_of(frame), why);
  if (r) return "";
  EXPECT_FALSE(why.empty());
  return why.empty() ? "(no reason)" : why;
}

// Little-endian patching of an encoded frame. `off` counts from the start of the frame.
void poke(Bytes& f, std::size_t off, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) f[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
void fix_body_len(Bytes& f) { poke(f, 0, f.size() - kHeaderBytes, 4); }
constexpr std::size_t kBody = kHeaderBytes;  // offset of the body within a frame

// Field-by-field equality of the message types (the header gives them no operator==).
bool same(const Request& a, const Request& b) {
  if (a.index() != b.index()) return false;
  struct V {
    const Request& b;
    bool operator()(const HelloRequest& x) const {
      const auto& y = std::get<HelloRequest>(b);
      return x.magic == y.magic && x.version == y.version;
    }
    bool operator()(const MsggetRequest& x) const {
      const auto& y = std::get<MsggetRequest>(b);
      return x.key == y.key && x.msgflg == y.msgflg;
    }
    bool operator()(const MsgsndRequest& x) const {
      const auto& y = std::get<MsgsndRequest>(b);
      return x.msqid == y.msqid && x.msgflg == y.msgflg && x.mtype == y.mtype &&
             x.msgsz == y.msgsz && x.text_state == y.text_state && x.text == y.text;
    }
    bool operator()(const MsgrcvRequest& x) const {
      const auto& y = std::get<MsgrcvRequest>(b);
      return x.msqid == y.msqid && x.msgflg == y.msgflg && x.msgtyp == y.msgtyp &&
             x.msgsz == y.msgsz;
    }
    bool operator()(const MsgctlRequest& x) const {
      const auto& y = std::get<MsgctlRequest>(b);
      return x.msqid == y.msqid && x.cmd == y.cmd && x.buf_state == y.buf_state &&
             (x.buf_state != BufState::set || x.set == y.set);
    }
    bool operator()(const CancelRequest&) const { return true; }
    bool operator()(const AdminRequest& x) const {
      return x.json == std::get<AdminRequest>(b).json;
    }
    bool operator()(const RingSetupRequest&) const { return true; }
    bool operator()(const DoorbellRequest&) const { return true; }
  };
  return std::visit(V{b}, a);
}

bool same(const Reply& a, const Reply& b) {
  if (a.index() != b.index()) return false;
  struct V {
    const Reply& b;
    bool operator()(const HelloReply& x) const {
      const auto& y = std::get<HelloReply>(b);
      return x.status == y.status && x.version == y.version && x.msgmax == y.msgmax &&
             x.msgmnb == y.msgmnb && x.msgmni == y.msgmni &&
             x.max_frame_bytes == y.max_frame_bytes;
    }
    bool operator()(const MsggetReply& x) const {
      const auto& y = std::get<MsggetReply>(b);
      return x.status == y.status && x.msqid == y.msqid;
    }
    bool operator()(const MsgsndReply& x) const {
      return x.status == std::get<MsgsndReply>(b).status;
    }
    bool operator()(const MsgrcvReply& x) const {
      const auto& y = std::get<MsgrcvReply>(b);
      return x.status == y.status && x.mtype == y.mtype && x.text == y.text;
    }
    bool operator()(const MsgctlReply& x) const {
      const auto& y = std::get<MsgctlReply>(b);
      return x.status == y.status && x.ret == y.ret && x.ds == y.ds && x.info == y.info;
    }
    bool operator()(const AdminReply& x) const {
      const auto& y = std::get<AdminReply>(b);
      return x.status == y.status && x.json == y.json;
    }
    bool operator()(const RingSetupReply& x) const {
      const auto& y = std::get<RingSetupReply>(b);
      return x.status == y.status && x.region_bytes == y.region_bytes &&
             x.sq_offset == y.sq_offset && x.sq_capacity == y.sq_capacity &&
             x.cq_offset == y.cq_offset && x.cq_capacity == y.cq_capacity;
    }
    bool operator()(const WakeNotice&) const { return true; }
  };
  return std::visit(V{b}, a);
}

MsqidDs extreme_ds() {
  MsqidDs ds;
  ds.key = kI32Min;
  ds.uid = kU32Max;
  ds.gid = 1000;
  ds.cuid = 0;
  ds.cgid = 0x80000000u;
  ds.mode = 0600 | 01000;
  ds.seq = 65534;
  ds.stime = kI64Min;
  ds.rtime = -1;
  ds.ctime = kI64Max;
  ds.cbytes = kU64Max;
  ds.qnum = 0x0123456789abcdefULL;
  ds.qbytes = 16384;
  ds.lspid = -7;
  ds.lrpid = kI32Max;
  return ds;
}

MsgInfo default_info() {
  MsgInfo info;
  info.msgpool = kMsgpool;
  info.msgmap = kMsgmap;
  info.msgmax = kDefaultMsgmax;
  info.msgmnb = kDefaultMsgmnb;
  info.msgmni = kDefaultMsgmni;
  info.msgssz = kMsgssz;
  info.msgtql = kMsgtql;
  info.msgseg = kMsgseg;
  return info;
}

std::vector<Request> sample_requests() {
  std::vector<Request> v;
  v.push_back(HelloRequest{});
  v.push_back(HelloRequest{.magic = 0xdeadbeef, .version = 0xffff});  // judged by the server
  v.push_back(MsggetRequest{.key = 0x1234, .msgflg = kIpcCreat | 0600});
  v.push_back(MsggetRequest{.key = -1, .msgflg = kI32Min});
  v.push_back(MsgsndRequest{.msqid = 5, .msgflg = 0, .mtype = 1, .msgsz = 0});  // empty text
  v.push_back(MsgsndRequest{.msqid = 32768, .msgflg = kIpcNowait, .mtype = kI64Max,
                            .msgsz = kDefaultMsgmax, .text = text_bytes(kDefaultMsgmax)});
  v.push_back(MsgsndRequest{.msqid = -1, .msgflg = -1, .mtype = -5, .msgsz = 3,
                            .text = text_bytes(3, 7)});
  v.push_back(MsgsndRequest{.msqid = 1, .mtype = 2, .msgsz = 100, .text_state = TextState::fault});
  v.push_back(MsgsndRequest{.msqid = 1, .mtype = 2, .msgsz = -1, .text_state = TextState::omitted});
  v.push_back(MsgsndRequest{.msqid = 1, .mtype = 0, .msgsz = kI64Max,
                            .text_state = TextState::omitted});
  v.push_back(MsgrcvRequest{.msqid = 3, .msgflg = kMsgNoerror, .msgtyp = 0, .msgsz = 8192});
  v.push_back(MsgrcvRequest{.msqid = 0, .msgflg = kMsgExcept, .msgtyp = kI64Min, .msgsz = -1});
  v.push_back(MsgctlRequest{.msqid = 1, .cmd = kIpcStat});
  v.push_back(MsgctlRequest{.msqid = 0, .cmd = kMsgInfo});
  v.push_back(MsgctlRequest{.msqid = 9, .cmd = kIpcSet, .buf_state = BufState::set,
                            .set = {.uid = kU32Max, .gid = 0, .mode = 0666, .qbytes = kU64Max}});
  v.push_back(MsgctlRequest{.msqid = 9, .cmd = kIpcSet, .buf_state = BufState::fault});
  v.push_back(MsgctlRequest{.msqid = -3, .cmd = -1});
  v.push_back(CancelRequest{});
  v.push_back(AdminRequest{});
  v.push_back(AdminRequest{R"({"op":"stats"})"});
  v.push_back(AdminRequest{std::string("a\0b\xff\x80", 5)});  // bytes, not parsed
  v.push_back(RingSetupRequest{});
  v.push_back(DoorbellRequest{});
  return v;
}

std::vector<Reply> sample_replies() {
  std::vector<Reply> v;
  v.push_back(HelloReply{.status = 0, .version = 1, .msgmax = 8192, .msgmnb = 16384,
                         .msgmni = 32000, .max_frame_bytes = kDefaultMaxFrameBytes});
  v.push_back(HelloReply{.status = static_cast<std::int32_t>(Errc::einval), .version = 1});
  v.push_back(HelloReply{.status = 0, .version = 1, .msgmax = kI32Max, .msgmnb = 0,
                         .msgmni = 32768, .max_frame_bytes = kU32Max});
  v.push_back(MsggetReply{.status = 0, .msqid = 65536});
  v.push_back(MsggetReply{.status = static_cast<std::int32_t>(Errc::enoent), .msqid = -1});
  v.push_back(MsggetReply{.status = kStatusShuttingDown, .msqid = 0});
  v.push_back(MsgsndReply{});
  v.push_back(MsgsndReply{.status = static_cast<std::int32_t>(Errc::eagain)});
  v.push_back(MsgsndReply{.status = static_cast<std::int32_t>(Errc::eidrm)});
  v.push_back(MsgrcvReply{.status = 0, .mtype = 1, .text = {}});
  v.push_back(MsgrcvReply{.status = 0, .mtype = kI64Max, .text = text_bytes(kDefaultMsgmax, 3)});
  v.push_back(MsgrcvReply{.status = 0, .mtype = -1, .text = text_bytes(65536, 9)});
  v.push_back(MsgrcvReply{.status = static_cast<std::int32_t>(Errc::enomsg), .mtype = 0});
  v.push_back(MsgrcvReply{.status = static_cast<std::int32_t>(Errc::eintr), .mtype = 0});
  v.push_back(MsgrcvReply{.status = kStatusShuttingDown, .mtype = 0});
  v.push_back(MsgctlReply{.status = 0, .ret = 0});                         // IPC_RMID, IPC_SET
  v.push_back(MsgctlReply{.status = static_cast<std::int32_t>(Errc::eperm), .ret = -1});
  v.push_back(MsgctlReply{.status = 0, .ret = 0, .ds = extreme_ds()});     // IPC_STAT
  v.push_back(MsgctlReply{.status = 0, .ret = 65537, .ds = MsqidDs{}});    // MSG_STAT
  v.push_back(MsgctlReply{.status = 0, .ret = 12, .info = default_info()});  // IPC_INFO
  v.push_back(MsgctlReply{.status = 0, .ret = 0, .info = MsgInfo{}});
  v.push_back(AdminReply{});
  v.push_back(AdminReply{.status = 0, .json = R"({"queues":[]})"});
  v.push_back(RingSetupReply{0, 4096 + 2 * 65536, 4096, 65536, 4096 + 65536, 65536});
  v.push_back(RingSetupReply{.status = static_cast<std::int32_t>(Errc::enosys)});
  v.push_back(AdminReply{.status = static_cast<std::int32_t>(Errc::einval),
                         .json = R"({"error": "unknown op"})"});
  return v;
}

// Every sample frame, requests and replies alike, with distinct ids.
std::vector<Bytes> sample_frames() {
  std::vector<Bytes> frames;
  std::uint64_t id = 1;
  for (const auto& r : sample_requests()) frames.push_back(frame_of(id++, kFlagCaps, r));
  for (const auto& r : sample_replies()) frames.push_back(frame_of(id++ * 0x100000001ULL, r));
  return frames;
}

// Takes whatever frames are ready, appending them (header + body) to `got`.
FrameDecoder::Status drain(FrameDecoder& d, std::vector<Bytes>& got) {
  for (;;) {
    FrameDecoder::Frame f;
    std::string why;
    const auto st = d.next(f, why);
    if (st != FrameDecoder::Status::frame) {
      EXPECT_EQ(st, FrameDecoder::Status::need_more) << why;
      return st;
    }
    // Rebuild the frame from the decoded header and body; must equal what was fed.
    Bytes whole(kHeaderBytes);
    poke(whole, 0, f.header.body_len, 4);
    poke(whole, 4, f.header.opcode, 2);
    poke(whole, 6, f.header.flags, 2);
    poke(whole, 8, f.header.request_id, 8);
    EXPECT_EQ(f.body.size(), f.header.body_len);
    whole.insert(whole.end(), f.body.begin(), f.body.end());
    got.push_back(std::move(whole));
  }
}

Bytes concat(const std::vector<Bytes>& frames) {
  Bytes all;
  for (const auto& f : frames) all.insert(all.end(), f.begin(), f.end());
  return all;
}

constexpr std::uint32_t kBigLimit = 1u << 20;

// ---- round trips ----------------------------------------------------------------------

TEST(CodecRoundTrip, EveryRequestDecodesToWhatWasEncoded) {
  for (const auto& req : sample_requests()) {
    // Every flag (kFlagOnCredit only where it may stand: MSGSND).
    const auto all = static_cast<std::uint16_t>(
        std::holds_alternative<MsgsndRequest>(req) ? kRequestFlagsMask
                                                   : kRequestFlagsMask & ~kFlagOnCredit);
    for (std::uint16_t flags : {std::uint16_t{0}, kFlagCaps, all}) {
      const Bytes f = frame_of(0xfedcba9876543210ULL, flags, req);
      const FrameHeader h = header_of(f);
      EXPECT_EQ(h.body_len, f.size() - kHeaderBytes);
      EXPECT_EQ(h.opcode, static_cast<std::uint16_t>(opcode_of(req)));
      EXPECT_EQ(h.flags, flags);
      EXPECT_EQ(h.request_id, 0xfedcba9876543210ULL);
      const Request back = decode_req_frame(f);
      EXPECT_TRUE(same(req, back)) << "opcode " << h.opcode;
      EXPECT_EQ(frame_of(0xfedcba9876543210ULL, flags, back), f);
    }
  }
}

TEST(CodecRoundTrip, EveryReplyDecodesToWhatWasEncoded) {
  for (const auto& rep : sample_replies()) {
    const Bytes f = frame_of(7, rep);
    const FrameHeader h = header_of(f);
    EXPECT_EQ(h.opcode, static_cast<std::uint16_t>(opcode_of(rep)) | kReplyBit);
    EXPECT_EQ(h.flags, 0);
    EXPECT_EQ(h.request_id, 7u);
    const Reply back = decode_rep_frame(f);
    EXPECT_TRUE(same(rep, back)) << "opcode " << h.opcode;
    EXPECT_EQ(frame_of(7, back), f);
  }
}

TEST(CodecRoundTrip, MsgctlReplyKeepsItsKind) {
  const auto none = std::get<MsgctlReply>(decode_rep_frame(frame_of(1, MsgctlReply{.ret = 3})));
  EXPECT_EQ(none.ret, 3);
  EXPECT_FALSE(none.ds);
  EXPECT_FALSE(none.info);
  const auto ds = std::get<MsgctlReply>(
      decode_rep_frame(frame_of(1, MsgctlReply{.ds = extreme_ds()})));
  ASSERT_TRUE(ds.ds);
  EXPECT_EQ(*ds.ds, extreme_ds());
  EXPECT_FALSE(ds.info);
  const auto info = std::get<MsgctlReply>(
      decode_rep_frame(frame_of(1, MsgctlReply{.info = default_info()})));
  ASSERT_TRUE(info.info);
  EXPECT_EQ(*info.info, default_info());
  EXPECT_EQ(info.info->msgseg, 0xffff);
  EXPECT_FALSE(info.ds);
}

TEST(CodecRoundTrip, MsgsndWithoutTextSendsNoText) {
  // Text travels only in state `present`, whatever the struct holds.
  MsgsndRequest q{.msqid = 1, .mtype = 1, .msgsz = 4, .text_state = TextState::fault,
                  .text = text_bytes(4)};
  const Bytes f = frame_of(1, 0, q);
  EXPECT_EQ(f.size(), kHeaderBytes + kMsgsndFixedBytes);
  const auto back = std::get<MsgsndRequest>(decode_req_frame(f));
  EXPECT_EQ(back.text_state, TextState::fault);
  EXPECT_EQ(back.msgsz, 4);
  EXPECT_TRUE(back.text.empty());
}

TEST(CodecWireLayout, IntegersAreLittleEndianAtTheirOffsets) {
  const Bytes f = frame_of(0x0102030405060708ULL, kFlagCaps | kFlagCapSysAdmin,
                           MsgrcvRequest{.msqid = 0x11223344, .msgflg = -2,
                                         .msgtyp = -3, .msgsz = 0x0a0b0c0d0e0f1011LL});
  const Bytes expected = {
      std::byte{24}, std::byte{0}, std::byte{0}, std::byte{0},        // body_len
      std::byte{4}, std::byte{0},                                     // opcode
      std::byte{0x01}, std::byte{0x02},                               // flags
      std::byte{8}, std::byte{7}, std::byte{6}, std::byte{5},         // request_id
      std::byte{4}, std::byte{3}, std::byte{2}, std::byte{1},
      std::byte{0x44}, std::byte{0x33}, std::byte{0x22}, std::byte{0x11},  // msqid
      std::byte{0xfe}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},  // msgflg -2
      std::byte{0xfd}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},  // msgtyp -3
      std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
      std::byte{0x11}, std::byte{0x10}, std::byte{0x0f}, std::byte{0x0e},  // msgsz
      std::byte{0x0d}, std::byte{0x0c}, std::byte{0x0b}, std::byte{0x0a},
  };
  EXPECT_EQ(f, expected);
}

TEST(CodecWireLayout, EncodingAppendsToWhatIsAlreadyThere) {
  Bytes out = {std::byte{0xaa}};
  encode_request(1, 0, MsggetRequest{.key = 1, .msgflg = 2}, out);
  encode_reply(1, MsggetReply{.status = 0, .msqid = 3}, out);
  ASSERT_EQ(out.size(), 1 + 2 * (kHeaderBytes + 8));
  EXPECT_EQ(out[0], std::byte{0xaa});
  EXPECT_EQ(out[1], std::byte{8});  // first frame's body_len, patched in place
  EXPECT_EQ(out[1 + 24], std::byte{8});
  EXPECT_EQ(out[1 + 24 + 4], std::byte{2});
  EXPECT_EQ(out[1 + 24 + 5], std::byte{0x80});  // reply bit
}

// ---- the frame decoder ----------------------------------------------------------------

TEST(FrameDecoderTest, EveryFrameSplitAtEveryByteComesOutWhole) {
  for (const Bytes& f : sample_frames()) {
    for (std::size_t cut = 0; cut <= f.size(); ++cut) {
      // Past 16 KiB only the edges and a stride: the middle of a long text is all alike.
      if (f.size() > 16384 && cut > 64 && cut + 64 < f.size() && cut % 997 != 0) continue;
      FrameDecoder d(kBigLimit);
      std::vector<Bytes> got;
      d.feed(std::span<const std::byte>(f).first(cut));
      drain(d, got);
      if (cut < f.size()) {
        ASSERT_TRUE(got.empty()) << "cut " << cut;
        EXPECT_EQ(d.pending_bytes(), cut);
      }
      d.feed(std::span<const std::byte>(f).subspan(cut));
      drain(d, got);
      ASSERT_EQ(got.size(), 1u) << "cut " << cut;
      EXPECT_EQ(got[0], f);
      EXPECT_EQ(d.pending_bytes(), 0u);
    }
  }
}

TEST(FrameDecoderTest, AStreamOfFramesSplitAtEveryByteComesOutInOrder) {
  // Small frames only, so the quadratic loop stays quick; big ones are in the test above.
  std::vector<Bytes> frames;
  for (const Bytes& f : sample_frames()) {
    if (f.size() < 256) frames.push_back(f);
  }
  frames.push_back(frames.front());  // the same frame twice in a row
  const Bytes all = concat(frames);
  for (std::size_t cut = 0; cut <= all.size(); ++cut) {
    FrameDecoder d(kBigLimit);
    std::vector<Bytes> got;
    d.feed(std::span<const std::byte>(all).first(cut));
    drain(d, got);
    // prepare/commit for the second half, in two steps.
    auto rest = std::span<const std::byte>(all).subspan(cut);
    while (!rest.empty()) {
      auto room = d.prepare(rest.size());
      ASSERT_FALSE(room.empty());
      const std::size_t n = std::min(room.size(), (rest.size() + 1) / 2);
      std::copy_n(rest.begin(), n, room.begin());
      d.commit(n);
      rest = rest.subspan(n);
      drain(d, got);
    }
    ASSERT_EQ(got, frames) << "cut " << cut;
    EXPECT_EQ(d.pending_bytes(), 0u);
  }
}

TEST(FrameDecoderTest, OneByteAtATime) {
  const std::vector<Bytes> frames = sample_frames();
  const Bytes all = concat(frames);
  FrameDecoder d(kBigLimit);
  std::vector<Bytes> got;
  for (std::byte b : all) {
    d.feed(std::span<const std::byte>(&b, 1));
    drain(d, got);
  }
  EXPECT_EQ(got, frames);
  EXPECT_EQ(d.pending_bytes(), 0u);
}

TEST(FrameDecoderTest, OneByteAtATimeThroughPrepareAndCommit) {
  const std::vector<Bytes> frames = sample_frames();
  const Bytes all = concat(frames);
  FrameDecoder d(kBigLimit);
  std::vector<Bytes> got;
  for (std::byte b : all) {
    auto room = d.prepare(4096);
    ASSERT_GE(room.size(), 1u);
    room[0] = b;
    d.commit(1);
    drain(d, got);
  }
  EXPECT_EQ(got, frames);
}

TEST(FrameDecoderTest, BodyOfExactlyTheLimitIsAccepted) {
  const Bytes f = frame_of(1, 0, AdminRequest{std::string(100, 'x')});
  FrameDecoder d(100);
  d.feed(f);
  FrameDecoder::Frame out;
  std::string why;
  ASSERT_EQ(d.next(out, why), FrameDecoder::Status::frame) << why;
  EXPECT_EQ(out.body.size(), 100u);
}

TEST(FrameDecoderTest, OversizeBodyIsRejectedFromTheHeaderAlone) {
  FrameDecoder d(kDefaultMaxFrameBytes);
  Bytes header(kHeaderBytes);
  poke(header, 0, kDefaultMaxFrameBytes + 1, 4);
  poke(header, 4, static_cast<std::uint16_t>(Opcode::msgsnd), 2);
  d.feed(header);  // no body byte has arrived
  FrameDecoder::Frame out;
  std::string why;
  EXPECT_FALSE(d.too_large());
  ASSERT_EQ(d.next(out, why), FrameDecoder::Status::bad);
  EXPECT_EQ(why, "frame of 65601 bytes exceeds limit 65600");
  EXPECT_TRUE(d.too_large()) << "the daemon counts these apart (stats frames_too_large)";
}

TEST(FrameDecoderTest, HugeBodyLenNeverSizesABuffer) {
  FrameDecoder d(64);
  Bytes header(kHeaderBytes);
  poke(header, 0, kU32Max, 4);
  // Before the header is complete the decoder only waits; prepare never offers more than
  // one frame's worth, whatever it is asked.
  d.feed(std::span<const std::byte>(header).first(4));
  FrameDecoder::Frame out;
  std::string why;
  EXPECT_EQ(d.next(out, why), FrameDecoder::Status::need_more);
  EXPECT_LE(d.prepare(std::numeric_limits<std::size_t>::max()).size(), kHeaderBytes + 64);
  d.commit(0);
  d.feed(std::span<const std::byte>(header).subspan(4));
  ASSERT_EQ(d.next(out, why), FrameDecoder::Status::bad);
  EXPECT_EQ(why, "frame of 4294967295 bytes exceeds limit 64");
}

TEST(FrameDecoderTest, StaysBadAfterBad) {
  FrameDecoder d(8);
  const Bytes big = frame_of(1, 0, MsgrcvRequest{});  // 24-byte body
  const Bytes ok = frame_of(2, 0, MsggetRequest{});   // 8-byte body
  d.feed(big);
  FrameDecoder::Frame out;
  std::string why;
  ASSERT_EQ(d.next(out, why), FrameDecoder::Status::bad);
  const std::string first = why;
  for (int i = 0; i < 3; ++i) {
    d.feed(ok);
    auto room = d.prepare(100);
    d.commit(room.size());
    why.clear();
    EXPECT_EQ(d.next(out, why), FrameDecoder::Status::bad);
    EXPECT_EQ(why, first);
  }
}

TEST(FrameDecoderTest, PendingBytesCountsOnlyAnUnfinishedFrame) {
  FrameDecoder d(kBigLimit);
  EXPECT_EQ(d.pending_bytes(), 0u);
  const Bytes f = frame_of(1, 0, MsggetRequest{});
  d.feed(std::span<const std::byte>(f).first(10));
  EXPECT_EQ(d.pending_bytes(), 10u);
  d.feed(std::span<const std::byte>(f).subspan(10));
  FrameDecoder::Frame out;
  std::string why;
  ASSERT_EQ(d.next(out, why), FrameDecoder::Status::frame);
  EXPECT_EQ(d.pending_bytes(), 0u);
  EXPECT_EQ(d.next(out, why), FrameDecoder::Status::need_more);
  d.feed({});
  EXPECT_EQ(d.pending_bytes(), 0u);
}

TEST(FrameDecoderTest, ALongStreamDoesNotGrowTheBuffer) {
  // 200,000 frames fed in ragged chunks: the bodies must keep landing in one small
  // region, i.e. the buffer is compacted and reused rather than grown.
  FrameDecoder d(kDefaultMaxFrameBytes);
  Bytes chunk_src;
  for (int i = 0; i < 50; ++i) {
    encode_request(static_cast<std::uint64_t>(i), 0,
                   MsgsndRequest{.msqid = i, .mtype = 1, .msgsz = i, .text = text_bytes(i)},
                   chunk_src);
  }
  const std::byte* lo = nullptr;
  const std::byte* hi = nullptr;
  std::size_t frames = 0;
  std::size_t offset = 0;
  std::size_t step = 1;
  for (int round = 0; frames < 200000; ++round) {
    // Feed the repeating stream in chunks of 1..997 bytes.
    step = (step * 7 + 3) % 997 + 1;
    for (std::size_t left = step; left > 0;) {
      const std::size_t n = std::min(left, chunk_src.size() - offset);
      d.feed(std::span<const std::byte>(chunk_src).subspan(offset, n));
      offset = (offset + n) % chunk_src.size();
      left -= n;
    }
    FrameDecoder::Frame out;
    std::string why;
    while (d.next(out, why) == FrameDecoder::Status::frame) {
      ++frames;
      if (round > 100) {
        const std::byte* p = out.body.data();
        lo = lo == nullptr ? p : std::min(lo, p);
        hi = hi == nullptr ? p : std::max(hi, p);
      }
    }
  }
  EXPECT_GE(frames, 200000u);
  ASSERT_NE(lo, nullptr);
  EXPECT_LT(static_cast<std::size_t>(hi - lo), 8192u);
}

// ---- garbage: each rejected with a reason -----------------------------------------------

TEST(CodecRejects, UnknownOrMisplacedOpcodes) {
  for (std::uint16_t op : {0, 8, 9, 0x7fff}) {
    Bytes f = frame_of(1, 0, MsggetRequest{});
    poke(f, 4, op, 2);
    EXPECT_NE(request_rejection(f), "") << op;
    Bytes g = frame_of(1, MsggetReply{});
    poke(g, 4, op | kReplyBit, 2);
    EXPECT_NE(reply_rejection(g), "") << op;
  }
  // A reply opcode in a request, a request opcode in a reply.
  EXPECT_NE(request_rejection(frame_of(1, MsggetReply{})), "");
  EXPECT_NE(reply_rejection(frame_of(1, 0, MsggetRequest{})), "");
  // CANCEL has no reply of its own.
  Bytes c = frame_of(1, MsgsndReply{});
  poke(c, 4, static_cast<std::uint16_t>(Opcode::cancel) | kReplyBit, 2);
  EXPECT_EQ(reply_rejection(c), "CANCEL has no reply");
}

TEST(CodecRejects, FlagsOutsideTheMask) {
  for (std::uint16_t flags : {0x0004, 0x0080, 0x0800, 0x8000, 0xffff}) {
    EXPECT_NE(request_rejection(frame_of(1, flags, MsggetRequest{})), "") << flags;
  }
  // On credit: MSGSND only.
  EXPECT_EQ(request_rejection(frame_of(1, kFlagOnCredit, MsgsndRequest{})), "");
  EXPECT_EQ(request_rejection(frame_of(1, kFlagOnCredit, MsggetRequest{})),
            "on-credit flag on MSGGET, not MSGSND");
  Bytes g = frame_of(1, MsggetReply{});
  poke(g, 6, kFlagCaps, 2);
  EXPECT_NE(reply_rejection(g), "");
}

TEST(CodecRejects, NonZeroReservedFields) {
  struct Case {
    Bytes frame;
    std::size_t offset;  // within the body
    std::size_t width;
    bool reply;
  };
  const std::vector<Case> cases = {
      {frame_of(1, 0, HelloRequest{}), 6, 2, false},
      {frame_of(1, 0, MsgsndRequest{.msgsz = 0}), 28, 4, false},
      {frame_of(1, 0, MsgsndRequest{.msgsz = 2, .text = text_bytes(2)}), 28, 4, false},
      {frame_of(1, 0, MsgctlRequest{}), 12, 4, false},
      {frame_of(1, 0, MsgctlRequest{.buf_state = BufState::set}), 12, 4, false},
      {frame_of(1, 0, MsgctlRequest{.buf_state = BufState::set}), 28, 4, false},
      {frame_of(1, HelloReply{}), 6, 2, true},
      {frame_of(1, MsgrcvReply{}), 4, 4, true},
      {frame_of(1, MsgctlReply{}), 12, 4, true},
      {frame_of(1, MsgctlReply{.ds = MsqidDs{}}), 12, 4, true},
      {frame_of(1, MsgctlReply{.ds = MsqidDs{}}), 16 + 28, 4, true},
  };
  for (const auto& c : cases) {
    for (std::uint64_t v : {std::uint64_t{1}, std::uint64_t{0x80} << (8 * (c.width - 1))}) {
      Bytes f = c.frame;
      ASSERT_EQ(c.reply ? reply_rejection(f) : request_rejection(f), "");
      poke(f, kBody + c.offset, v, c.width);
      const std::string why = c.reply ? reply_rejection(f) : request_rejection(f);
      EXPECT_NE(why, "") << "opcode " << header_of(f).opcode << " offset " << c.offset;
      if (!why.empty()) {
        EXPECT_NE(why.find("reserved"), std::string::npos) << why;
      }
    }
  }
}

TEST(CodecRejects, TruncatedAndOverlongFixedBodies) {
  const std::vector<Bytes> fixed = {
      frame_of(1, 0, HelloRequest{}),
      frame_of(1, 0, MsggetRequest{}),
      frame_of(1, 0, MsgsndRequest{}),  // 32 is the least; one more byte breaks msgsz
      frame_of(1, 0, MsgrcvRequest{}),
      frame_of(1, 0, MsgctlRequest{}),
      frame_of(1, 0, MsgctlRequest{.buf_state = BufState::set}),
      frame_of(1, 0, MsgctlRequest{.buf_state = BufState::fault}),
      frame_of(1, 0, CancelRequest{}),
  };
  for (const Bytes& f : fixed) {
    if (f.size() > kHeaderBytes) {
      for (std::size_t len = 0; len < f.size() - kHeaderBytes; ++len) {
        Bytes t(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(kHeaderBytes + len));
        fix_body_len(t);
        EXPECT_NE(request_rejection(t), "") << header_of(f).opcode << " len " << len;
      }
    }
    Bytes longer = f;
    longer.push_back(std::byte{0});
    fix_body_len(longer);
    EXPECT_NE(request_rejection(longer), "") << header_of(f).opcode;
  }
  const std::vector<Bytes> replies = {
      frame_of(1, HelloReply{}),
      frame_of(1, MsggetReply{}),
      frame_of(1, MsgsndReply{}),
      frame_of(1, MsgrcvReply{}),
      frame_of(1, MsgctlReply{}),
      frame_of(1, MsgctlReply{.ds = MsqidDs{}}),
      frame_of(1, MsgctlReply{.info = MsgInfo{}}),
      frame_of(1, AdminReply{}),
  };
  for (const Bytes& f : replies) {
    for (std::size_t len = 0; len < f.size() - kHeaderBytes; ++len) {
      Bytes t(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(kHeaderBytes + len));
      fix_body_len(t);
      EXPECT_NE(reply_rejection(t), "") << header_of(f).opcode << " len " << len;
    }
  }
  // Fixed-size replies refuse a trailing byte (MSGRCV and ADMIN have text there).
  for (const Bytes& f : {frame_of(1, HelloReply{}), frame_of(1, MsggetReply{}),
                         frame_of(1, MsgsndReply{}), frame_of(1, MsgctlReply{}),
                         frame_of(1, MsgctlReply{.ds = MsqidDs{}}),
                         frame_of(1, MsgctlReply{.info = MsgInfo{}})}) {
    Bytes longer = f;
    longer.push_back(std::byte{0});
    fix_body_len(longer);
    EXPECT_NE(reply_rejection(longer), "") << header_of(f).opcode;
  }
}

TEST(CodecRejects, HeaderBodyLenThatDisagreesWithTheBody) {
  Bytes f = frame_of(1, 0, MsggetRequest{});
  poke(f, 0, 9, 4);
  EXPECT_NE(request_rejection(f), "");
  Bytes g = frame_of(1, MsggetReply{});
  poke(g, 0, 7, 4);
  EXPECT_NE(reply_rejection(g), "");
}

TEST(CodecRejects, MsgsndTextThatDoesNotMatchMsgsz) {
  const Bytes good = frame_of(1, 0, MsgsndRequest{.msgsz = 10, .text = text_bytes(10)});
  ASSERT_EQ(request_rejection(good), "");
  for (std::int64_t msgsz : {std::int64_t{0}, std::int64_t{9}, std::int64_t{11},
                             std::int64_t{-10}, kI64Min, kI64Max}) {
    Bytes f = good;
    poke(f, kBody + 16, static_cast<std::uint64_t>(msgsz), 8);
    EXPECT_NE(request_rejection(f).find("msgsz"), std::string::npos) << msgsz;
  }
  // Text with states that carry none.
  for (std::uint32_t state : {1u, 2u}) {
    Bytes f = good;
    poke(f, kBody + 24, state, 4);
    EXPECT_NE(request_rejection(f), "") << state;
  }
}

TEST(CodecRejects, UnknownStatesAndKinds) {
  for (std::uint32_t state : {3u, 4u, 0x80000000u, kU32Max}) {
    Bytes s = frame_of(1, 0, MsgsndRequest{.msgsz = -1, .text_state = TextState::omitted});
    poke(s, kBody + 24, state, 4);
    EXPECT_NE(request_rejection(s).find("text_state"), std::string::npos);
    Bytes c = frame_of(1, 0, MsgctlRequest{});
    poke(c, kBody + 8, state, 4);
    EXPECT_NE(request_rejection(c).find("buf_state"), std::string::npos);
    Bytes k = frame_of(1, MsgctlReply{});
    poke(k, kBody + 8, state, 4);
    EXPECT_NE(reply_rejection(k).find("kind"), std::string::npos);
  }
  // A kind whose body is the wrong one: 0 with a msqid_ds, 1 with a msginfo, 2 with none.
  Bytes k0 = frame_of(1, MsgctlReply{.ds = MsqidDs{}});
  poke(k0, kBody + 8, 0, 4);
  EXPECT_NE(reply_rejection(k0), "");
  Bytes k1 = frame_of(1, MsgctlReply{.info = MsgInfo{}});
  poke(k1, kBody + 8, 1, 4);
  EXPECT_NE(reply_rejection(k1), "");
  Bytes k2 = frame_of(1, MsgctlReply{});
  poke(k2, kBody + 8, 2, 4);
  EXPECT_NE(reply_rejection(k2), "");
  // buf_state 1 without its fields, buf_state 0 with them.
  Bytes b1 = frame_of(1, 0, MsgctlRequest{});
  poke(b1, kBody + 8, 1, 4);
  EXPECT_NE(request_rejection(b1), "");
  Bytes b0 = frame_of(1, 0, MsgctlRequest{.buf_state = BufState::set});
  poke(b0, kBody + 8, 0, 4);
  EXPECT_NE(request_rejection(b0), "");
}

TEST(CodecRejects, UnknownStatuses) {
  for (std::int32_t status : {3, 5, 9, 1000, -2, kI32Min, kI32Max}) {
    for (Bytes f : {frame_of(1, HelloReply{}), frame_of(1, MsggetReply{}),
                    frame_of(1, MsgsndReply{}), frame_of(1, MsgrcvReply{}),
                    frame_of(1, MsgctlReply{}), frame_of(1, AdminReply{})}) {
      poke(f, kBody, static_cast<std::uint32_t>(status), 4);
      EXPECT_NE(reply_rejection(f).find("status"), std::string::npos) << status;
    }
  }
}

TEST(CodecRejects, MsgrcvErrorWithText) {
  // PROTOCOL.md: the text is "empty unless status is 0".
  Bytes f = frame_of(1, MsgrcvReply{.status = 0, .mtype = 1, .text = text_bytes(5)});
  ASSERT_EQ(reply_rejection(f), "");
  poke(f, kBody, static_cast<std::uint32_t>(Errc::e2big), 4);
  EXPECT_NE(reply_rejection(f), "");
}

TEST(CodecRejects, MsgsegThatIsNotAnUnsignedShort) {
  for (std::int32_t msgseg : {-1, 0x10000, kI32Max}) {
    Bytes f = frame_of(1, MsgctlReply{.info = MsgInfo{}});
    poke(f, kBody + 16 + 28, static_cast<std::uint32_t>(msgseg), 4);
    EXPECT_NE(reply_rejection(f).find("msgseg"), std::string::npos) << msgseg;
  }
}

// ---- garbage: never a crash -------------------------------------------------------------

// Whatever a decoder accepts is canonical: encoding it again gives the same bytes.
void check_any_frame(const FrameHeader& h, std::span<const std::byte> body,
                     std::size_t& accepted) {
  Bytes original(kHeaderBytes);
  poke(original, 0, h.body_len, 4);
  poke(original, 4, h.opcode, 2);
  poke(original, 6, h.flags, 2);
  poke(original, 8, h.request_id, 8);
  original.insert(original.end(), body.begin(), body.end());

  std::string why;
  if (auto r = decode_request(h, body, why)) {
    ++accepted;
    EXPECT_EQ(frame_of(h.request_id, h.flags, *r), original);
  } else {
    EXPECT_FALSE(why.empty());
  }
  why.clear();
  if (auto r = decode_reply(h, body, why)) {
    ++accepted;
    EXPECT_EQ(frame_of(h.request_id, *r), original);
  } else {
    EXPECT_FALSE(why.empty());
  }
}

TEST(CodecGarbage, RandomBytesNeverCrashAndAcceptedFramesAreCanonical) {
  std::mt19937_64 rng(0x5359'5356'4d51ULL);  // fixed seed: the same 20,000 cases every run
  const std::vector<Bytes> valid = sample_frames();
  auto below = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::size_t accepted = 0;
  std::size_t rejected_streams = 0;

  for (int iter = 0; iter < 20000; ++iter) {
    Bytes buf;
    switch (iter % 4) {
      case 0: {  // pure noise
        buf.resize(below(300));
        for (auto& b : buf) b = static_cast<std::byte>(rng());
        break;
      }
      case 1: {  // a plausible header over a noisy body
        const std::size_t len = below(130);
        buf.resize(kHeaderBytes + len);
        for (auto& b : buf) b = static_cast<std::byte>(rng() & (below(4) == 0 ? 0xff : 0x03));
        poke(buf, 0, below(8) == 0 ? rng() : len, 4);
        poke(buf, 4, below(9) | (below(2) ? kReplyBit : 0), 2);
        poke(buf, 6, below(3) == 0 ? rng() : 0, 2);
        break;
      }
      default: {  // a valid stream with a few bytes flipped or cut
        const std::size_t frames = 1 + below(3);
        for (std::size_t i = 0; i < frames; ++i) {
          const Bytes& f = valid[below(valid.size())];
          buf.insert(buf.end(), f.begin(), f.end());
        }
        for (std::size_t flips = below(4); flips > 0; --flips) {
          buf[below(buf.size())] ^= static_cast<std::byte>(1u << below(8));
        }
        if (below(4) == 0) buf.resize(below(buf.size() + 1));
        break;
      }
    }

    // Straight to the body decoders, header taken from the first 16 bytes.
    if (buf.size() >= kHeaderBytes) {
      FrameHeader h =
          parse_header(std::span<const std::byte, kHeaderBytes>(buf.data(), kHeaderBytes));
      auto body = std::span<const std::byte>(buf).subspan(kHeaderBytes);
      if (h.body_len <= body.size()) body = body.first(h.body_len);
      std::string why;
      (void)decode_request(h, body, why);
      (void)decode_reply(h, body, why);
    }

    // Through the frame decoder, in two random pieces.
    FrameDecoder d(iter % 2 == 0 ? kDefaultMaxFrameBytes : 64);
    const std::size_t cut = below(buf.size() + 1);
    d.feed(std::span<const std::byte>(buf).first(cut));
    d.feed(std::span<const std::byte>(buf).subspan(cut));
    for (;;) {
      FrameDecoder::Frame f;
      std::string why;
      const auto st = d.next(f, why);
      if (st == FrameDecoder::Status::need_more) break;
      if (st == FrameDecoder::Status::bad) {
        EXPECT_FALSE(why.empty());
        ++rejected_streams;
        break;
      }
      ASSERT_LE(f.body.size(), d.max_body());
      check_any_frame(f.header, f.body, accepted);
    }
  }
  // The mix must exercise both sides, or the loop proves little.
  EXPECT_GT(accepted, 1000u);
  EXPECT_GT(rejected_streams, 100u);
}

}  // namespace
}  // namespace sysvmq::proto
