// codec.cpp: the wire protocol of PROTOCOL.md, byte by byte.
// Every integer is written and read with explicit little-endian shifts; nothing copies a
// host struct (fields.hpp). Reading goes through FieldReader, which fails cleanly instead
// of overrunning.
// Not here: what a call means (daemon/core) or when a connection closes (daemon/server).
#include "proto/codec.hpp"

#include <algorithm>
#include <string_view>
#include <type_traits>
#include <utility>

namespace sysvmq::proto {
namespace {

// ---- writing --------------------------------------------------------------------------

void put_text(Bytes& out, const std::string& s) {
  for (char c : s) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(c)));
}

// A frame is written as its header with a zero body_len, then the body, then body_len is
// patched. Precondition (the caller's): the body fits in a u32; every sender bounds its
// bodies far below that (max_frame_bytes, kClientMaxReplyBytes).
std::size_t begin_frame(Bytes& out, std::uint16_t opcode, std::uint16_t flags,
                        std::uint64_t request_id) {
  const std::size_t start = out.size();
  put_u32(out, 0);
  put_u16(out, opcode);
  put_u16(out, flags);
  put_u64(out, request_id);
  return start;
}
void end_frame(Bytes& out, std::size_t start) {
  const auto len = static_cast<std::uint32_t>(out.size() - start - kHeaderBytes);
  for (std::size_t i = 0; i < 4; ++i) {
    out[start + i] = static_cast<std::byte>((len >> (8 * i)) & 0xffu);
  }
}

// ---- reading --------------------------------------------------------------------------

// Bounds-checked cursor over a body. Once a read falls short, ok() is false and every
// later read returns 0; callers check ok() (and done()) once at the end.
using Reader = FieldReader;

std::string_view op_name(std::uint16_t op) {
  switch (static_cast<Opcode>(op & ~kReplyBit)) {
    case Opcode::hello: return "HELLO";
    case Opcode::msgget: return "MSGGET";
    case Opcode::msgsnd: return "MSGSND";
    case Opcode::msgrcv: return "MSGRCV";
    case Opcode::msgctl: return "MSGCTL";
    case Opcode::cancel: return "CANCEL";
    case Opcode::admin: return "ADMIN";
    case Opcode::ring_setup: return "RING_SETUP";
    case Opcode::doorbell: return "DOORBELL";
    case Opcode::lent: return "LENT";
  }
  return "?";
}

std::string hex(std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v & 0xfu]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

std::string str(std::string_view a) { return std::string(a); }

template <typename T>
  requires std::is_integral_v<T>
std::string num(T v) {
  return std::to_string(v);
}

// "MSGGET request body of 5 bytes, expected 8".
std::string size_mismatch(std::string_view what, std::size_t got, std::string_view expected) {
  return str(what) + " body of " + num(got) + " bytes, expected " + str(expected);
}

std::string text_of(std::span<const std::byte> b) {
  std::string s;
  s.reserve(b.size());
  for (std::byte c : b) s.push_back(static_cast<char>(std::to_integer<unsigned char>(c)));
  return s;
}

bool status_ok(std::int32_t status) {
  return status == kStatusOk || status == kStatusShuttingDown || is_known_errc(status);
}

// ---- request bodies -------------------------------------------------------------------

std::optional<Request> fail(std::string& why, std::string reason) {
  why = std::move(reason);
  return std::nullopt;
}

std::optional<Request> decode_hello_req(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 8) return fail(why, size_mismatch("HELLO request", body.size(), "8"));
  Reader r(body);
  HelloRequest q;
  q.magic = r.u32();
  q.version = r.u16();
  if (const auto reserved = r.u16(); reserved != 0) {
    return fail(why, "HELLO request reserved field is " + hex(reserved) + ", not 0");
  }
  return Request{q};
}

std::optional<Request> decode_msgget_req(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 8) return fail(why, size_mismatch("MSGGET request", body.size(), "8"));
  Reader r(body);
  MsggetRequest q;
  q.key = r.i32();
  q.msgflg = r.i32();
  return Request{q};
}

std::optional<Request> decode_msgsnd_req(std::span<const std::byte> body, std::string& why) {
  if (body.size() < kMsgsndFixedBytes) {
    return fail(why, size_mismatch("MSGSND request", body.size(), "at least 32"));
  }
  Reader r(body);
  MsgsndRequest q;
  q.msqid = r.i32();
  q.msgflg = r.i32();
  q.mtype = r.i64();
  q.msgsz = r.i64();
  const auto state = r.u32();
  if (const auto reserved = r.u32(); reserved != 0) {
    return fail(why, "MSGSND request reserved field is " + hex(reserved) + ", not 0");
  }
  const auto text = r.rest();
  switch (state) {
    case static_cast<std::uint32_t>(TextState::present):
      // msgsz is signed: a negative one can never equal a length, so it is rejected too.
      if (q.msgsz < 0 || static_cast<std::uint64_t>(q.msgsz) != text.size()) {
        return fail(why, "MSGSND request text of " + num(text.size()) +
                             " bytes does not match msgsz " + num(q.msgsz));
      }
      q.text_state = TextState::present;
      q.text.assign(text.begin(), text.end());
      break;
    case static_cast<std::uint32_t>(TextState::fault):
    case static_cast<std::uint32_t>(TextState::omitted):
      if (!text.empty()) {
        return fail(why, "MSGSND request with text_state " + num(state) + " carries " +
                             num(text.size()) + " bytes of text");
      }
      q.text_state = static_cast<TextState>(state);
      break;
    default:
      return fail(why, "MSGSND request has unknown text_state " + num(state));
  }
  return Request{std::move(q)};
}

std::optional<Request> decode_msgrcv_req(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 24) return fail(why, size_mismatch("MSGRCV request", body.size(), "24"));
  Reader r(body);
  MsgrcvRequest q;
  q.msqid = r.i32();
  q.msgflg = r.i32();
  q.msgtyp = r.i64();
  q.msgsz = r.i64();
  return Request{q};
}

std::optional<Request> decode_msgctl_req(std::span<const std::byte> body, std::string& why) {
  if (body.size() < 16) {
    return fail(why, size_mismatch("MSGCTL request", body.size(), "16 or 40"));
  }
  Reader r(body);
  MsgctlRequest q;
  q.msqid = r.i32();
  q.cmd = r.i32();
  const auto state = r.u32();
  if (const auto reserved = r.u32(); reserved != 0) {
    return fail(why, "MSGCTL request reserved field is " + hex(reserved) + ", not 0");
  }
  switch (state) {
    case static_cast<std::uint32_t>(BufState::none):
    case static_cast<std::uint32_t>(BufState::fault):
      if (body.size() != 16) {
        return fail(why, size_mismatch("MSGCTL request (buf_state " + num(state) + ")",
                                       body.size(), "16"));
      }
      q.buf_state = static_cast<BufState>(state);
      break;
    case static_cast<std::uint32_t>(BufState::set): {
      if (body.size() != 40) {
        return fail(why, size_mismatch("MSGCTL request (buf_state 1)", body.size(), "40"));
      }
      q.buf_state = BufState::set;
      q.set.uid = r.u32();
      q.set.gid = r.u32();
      q.set.mode = r.u32();
      if (const auto reserved = r.u32(); reserved != 0) {
        return fail(why, "MSGCTL request buffer reserved field is " + hex(reserved) + ", not 0");
      }
      q.set.qbytes = r.u64();
      break;
    }
    default:
      return fail(why, "MSGCTL request has unknown buf_state " + num(state));
  }
  return Request{q};
}

// ---- reply bodies ---------------------------------------------------------------------

std::optional<Reply> fail_reply(std::string& why, std::string reason) {
  why = std::move(reason);
  return std::nullopt;
}

std::optional<Reply> decode_hello_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 24) return fail_reply(why, size_mismatch("HELLO reply", body.size(), "24"));
  Reader r(body);
  HelloReply p;
  p.status = r.i32();
  p.version = r.u16();
  if (const auto reserved = r.u16(); reserved != 0) {
    return fail_reply(why, "HELLO reply reserved field is " + hex(reserved) + ", not 0");
  }
  p.msgmax = r.i32();
  p.msgmnb = r.i32();
  p.msgmni = r.i32();
  p.max_frame_bytes = r.u32();
  return Reply{p};
}

std::optional<Reply> decode_msgget_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 8) return fail_reply(why, size_mismatch("MSGGET reply", body.size(), "8"));
  Reader r(body);
  MsggetReply p;
  p.status = r.i32();
  p.msqid = r.i32();
  return Reply{p};
}

std::optional<Reply> decode_msgsnd_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 4) return fail_reply(why, size_mismatch("MSGSND reply", body.size(), "4"));
  Reader r(body);
  MsgsndReply p;
  p.status = r.i32();
  return Reply{p};
}

std::optional<Reply> decode_msgrcv_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() < 16) {
    return fail_reply(why, size_mismatch("MSGRCV reply", body.size(), "at least 16"));
  }
  Reader r(body);
  MsgrcvReply p;
  p.status = r.i32();
  if (const auto reserved = r.u32(); reserved != 0) {
    return fail_reply(why, "MSGRCV reply reserved field is " + hex(reserved) + ", not 0");
  }
  p.mtype = r.i64();
  const auto text = r.rest();
  // PROTOCOL.md: the text is "empty unless status is 0".
  if (p.status != kStatusOk && !text.empty()) {
    return fail_reply(why, "MSGRCV reply with status " + num(p.status) + " carries " +
                               num(text.size()) + " bytes of text");
  }
  p.text.assign(text.begin(), text.end());
  return Reply{std::move(p)};
}

std::optional<Reply> decode_msgctl_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() < 16) {
    return fail_reply(why, size_mismatch("MSGCTL reply", body.size(), "16, 104 or 48"));
  }
  Reader r(body);
  MsgctlReply p;
  p.status = r.i32();
  p.ret = r.i32();
  const auto kind = r.u32();
  if (const auto reserved = r.u32(); reserved != 0) {
    return fail_reply(why, "MSGCTL reply reserved field is " + hex(reserved) + ", not 0");
  }
  switch (kind) {
    case 0:
      if (body.size() != 16) {
        return fail_reply(why, size_mismatch("MSGCTL reply (kind 0)", body.size(), "16"));
      }
      break;
    case 1: {
      if (body.size() != 104) {
        return fail_reply(why, size_mismatch("MSGCTL reply (kind 1)", body.size(), "104"));
      }
      MsqidDs ds;
      ds.key = r.i32();
      ds.uid = r.u32();
      ds.gid = r.u32();
      ds.cuid = r.u32();
      ds.cgid = r.u32();
      ds.mode = r.u32();
      ds.seq = r.u32();
      if (const auto reserved = r.u32(); reserved != 0) {
        return fail_reply(why, "MSGCTL reply msqid_ds reserved field is " + hex(reserved) +
                                   ", not 0");
      }
      ds.stime = r.i64();
      ds.rtime = r.i64();
      ds.ctime = r.i64();
      ds.cbytes = r.u64();
      ds.qnum = r.u64();
      ds.qbytes = r.u64();
      ds.lspid = r.i32();
      ds.lrpid = r.i32();
      p.ds = ds;
      break;
    }
    case 2: {
      if (body.size() != 48) {
        return fail_reply(why, size_mismatch("MSGCTL reply (kind 2)", body.size(), "48"));
      }
      MsgInfo info;
      info.msgpool = r.i32();
      info.msgmap = r.i32();
      info.msgmax = r.i32();
      info.msgmnb = r.i32();
      info.msgmni = r.i32();
      info.msgssz = r.i32();
      info.msgtql = r.i32();
      // msgseg is an unsigned short in struct msginfo; a wider value cannot be a msginfo.
      const auto msgseg = r.i32();
      if (msgseg < 0 || msgseg > 0xffff) {
        return fail_reply(why, "MSGCTL reply msginfo msgseg " + num(msgseg) +
                                   " does not fit an unsigned short");
      }
      info.msgseg = static_cast<std::uint16_t>(msgseg);
      p.info = info;
      break;
    }
    default:
      return fail_reply(why, "MSGCTL reply has unknown kind " + num(kind));
  }
  return Reply{p};
}

std::optional<Reply> decode_admin_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() < 4) {
    return fail_reply(why, size_mismatch("ADMIN reply", body.size(), "at least 4"));
  }
  Reader r(body);
  AdminReply p;
  p.status = r.i32();
  p.json = text_of(r.rest());
  return Reply{std::move(p)};
}

std::optional<Reply> decode_ring_setup_rep(std::span<const std::byte> body, std::string& why) {
  if (body.size() != 64) return fail_reply(why, size_mismatch("RING_SETUP reply", body.size(), "64"));
  Reader r(body);
  RingSetupReply p;
  p.status = r.i32();
  if (r.u32() != 0) return fail_reply(why, "RING_SETUP reply reserved field not 0");
  p.region_bytes = r.u64();
  p.sq_offset = r.u64();
  p.sq_capacity = r.u64();
  p.cq_offset = r.u64();
  p.cq_capacity = r.u64();
  p.lq_offset = r.u64();
  p.lq_capacity = r.u64();
  return Reply{p};
}

std::int32_t status_of(const Reply& r) {
  return std::visit([](const auto& v) { return v.status; }, r);
}

}  // namespace

// ---- public ---------------------------------------------------------------------------

Opcode opcode_of(const Request& r) {
  struct Visitor {
    Opcode operator()(const HelloRequest&) const { return Opcode::hello; }
    Opcode operator()(const MsggetRequest&) const { return Opcode::msgget; }
    Opcode operator()(const MsgsndRequest&) const { return Opcode::msgsnd; }
    Opcode operator()(const MsgrcvRequest&) const { return Opcode::msgrcv; }
    Opcode operator()(const MsgctlRequest&) const { return Opcode::msgctl; }
    Opcode operator()(const CancelRequest&) const { return Opcode::cancel; }
    Opcode operator()(const AdminRequest&) const { return Opcode::admin; }
    Opcode operator()(const RingSetupRequest&) const { return Opcode::ring_setup; }
    Opcode operator()(const DoorbellRequest&) const { return Opcode::doorbell; }
  };
  return std::visit(Visitor{}, r);
}

Opcode opcode_of(const Reply& r) {
  struct Visitor {
    Opcode operator()(const HelloReply&) const { return Opcode::hello; }
    Opcode operator()(const MsggetReply&) const { return Opcode::msgget; }
    Opcode operator()(const MsgsndReply&) const { return Opcode::msgsnd; }
    Opcode operator()(const MsgrcvReply&) const { return Opcode::msgrcv; }
    Opcode operator()(const MsgctlReply&) const { return Opcode::msgctl; }
    Opcode operator()(const AdminReply&) const { return Opcode::admin; }
    Opcode operator()(const RingSetupReply&) const { return Opcode::ring_setup; }
    Opcode operator()(const WakeNotice&) const { return Opcode::doorbell; }
  };
  return std::visit(Visitor{}, r);
}

void encode_request(std::uint64_t request_id, std::uint16_t flags, const Request& r,
                    Bytes& out) {
  const auto start = begin_frame(out, static_cast<std::uint16_t>(opcode_of(r)), flags, request_id);
  struct Visitor {
    Bytes& out;
    void operator()(const HelloRequest& q) const {
      put_u32(out, q.magic);
      put_u16(out, q.version);
      put_u16(out, 0);
    }
    void operator()(const MsggetRequest& q) const {
      put_i32(out, q.key);
      put_i32(out, q.msgflg);
    }
    void operator()(const MsgsndRequest& q) const {
      put_i32(out, q.msqid);
      put_i32(out, q.msgflg);
      put_i64(out, q.mtype);
      put_i64(out, q.msgsz);
      put_u32(out, static_cast<std::uint32_t>(q.text_state));
      put_u32(out, 0);
      // Text travels only in state `present`; the caller keeps len(text) == msgsz.
      if (q.text_state == TextState::present) put_bytes(out, q.text);
    }
    void operator()(const MsgrcvRequest& q) const {
      put_i32(out, q.msqid);
      put_i32(out, q.msgflg);
      put_i64(out, q.msgtyp);
      put_i64(out, q.msgsz);
    }
    void operator()(const MsgctlRequest& q) const {
      put_i32(out, q.msqid);
      put_i32(out, q.cmd);
      put_u32(out, static_cast<std::uint32_t>(q.buf_state));
      put_u32(out, 0);
      if (q.buf_state == BufState::set) {
        put_u32(out, q.set.uid);
        put_u32(out, q.set.gid);
        put_u32(out, q.set.mode);
        put_u32(out, 0);
        put_u64(out, q.set.qbytes);
      }
    }
    void operator()(const CancelRequest&) const {}
    void operator()(const AdminRequest& q) const { put_text(out, q.json); }
    void operator()(const RingSetupRequest&) const {}
    void operator()(const DoorbellRequest&) const {}
  };
  std::visit(Visitor{out}, r);
  end_frame(out, start);
}

void encode_reply(std::uint64_t request_id, const Reply& r, Bytes& out) {
  const auto opcode = static_cast<std::uint16_t>(static_cast<std::uint16_t>(opcode_of(r)) | kReplyBit);
  const auto start = begin_frame(out, opcode, 0, request_id);
  struct Visitor {
    Bytes& out;
    void operator()(const HelloReply& p) const {
      put_i32(out, p.status);
      put_u16(out, p.version);
      put_u16(out, 0);
      put_i32(out, p.msgmax);
      put_i32(out, p.msgmnb);
      put_i32(out, p.msgmni);
      put_u32(out, p.max_frame_bytes);
    }
    void operator()(const MsggetReply& p) const {
      put_i32(out, p.status);
      put_i32(out, p.msqid);
    }
    void operator()(const MsgsndReply& p) const { put_i32(out, p.status); }
    void operator()(const MsgrcvReply& p) const {
      put_i32(out, p.status);
      put_u32(out, 0);
      put_i64(out, p.mtype);
      put_bytes(out, p.text);  // the caller keeps it empty unless status is 0
    }
    void operator()(const MsgctlReply& p) const {
      put_i32(out, p.status);
      put_i32(out, p.ret);
      // At most one of ds / info is set; should both be, ds wins.
      put_u32(out, p.ds ? 1u : p.info ? 2u : 0u);
      put_u32(out, 0);
      if (p.ds) {
        const MsqidDs& ds = *p.ds;
        put_i32(out, ds.key);
        put_u32(out, ds.uid);
        put_u32(out, ds.gid);
        put_u32(out, ds.cuid);
        put_u32(out, ds.cgid);
        put_u32(out, ds.mode);
        put_u32(out, ds.seq);
        put_u32(out, 0);
        put_i64(out, ds.stime);
        put_i64(out, ds.rtime);
        put_i64(out, ds.ctime);
        put_u64(out, ds.cbytes);
        put_u64(out, ds.qnum);
        put_u64(out, ds.qbytes);
        put_i32(out, ds.lspid);
        put_i32(out, ds.lrpid);
      } else if (p.info) {
        const MsgInfo& info = *p.info;
        put_i32(out, info.msgpool);
        put_i32(out, info.msgmap);
        put_i32(out, info.msgmax);
        put_i32(out, info.msgmnb);
        put_i32(out, info.msgmni);
        put_i32(out, info.msgssz);
        put_i32(out, info.msgtql);
        put_i32(out, info.msgseg);
      }
    }
    void operator()(const AdminReply& p) const {
      put_i32(out, p.status);
      put_text(out, p.json);
    }
    void operator()(const RingSetupReply& p) const {
      put_i32(out, p.status);
      put_u32(out, 0);
      put_u64(out, p.region_bytes);
      put_u64(out, p.sq_offset);
      put_u64(out, p.sq_capacity);
      put_u64(out, p.cq_offset);
      put_u64(out, p.cq_capacity);
      put_u64(out, p.lq_offset);
      put_u64(out, p.lq_capacity);
    }
    void operator()(const WakeNotice&) const {}
  };
  std::visit(Visitor{out}, r);
  end_frame(out, start);
}

std::optional<Request> decode_request(const FrameHeader& h, std::span<const std::byte> body,
                                      std::string& why) {
  if ((h.opcode & kReplyBit) != 0) {
    return fail(why, "reply opcode " + hex(h.opcode) + " in a request");
  }
  if ((h.flags & ~kRequestFlagsMask) != 0) {
    return fail(why, "request flags " + hex(h.flags) + " outside " + hex(kRequestFlagsMask));
  }
  if ((h.flags & kFlagOnCredit) != 0 && h.opcode != static_cast<std::uint16_t>(Opcode::msgsnd)) {
    return fail(why, "on-credit flag on " + str(op_name(h.opcode)) + ", not MSGSND");
  }
  if (h.body_len != body.size()) {
    return fail(why, "header body_len " + num(h.body_len) + " but body of " +
                         num(body.size()) + " bytes");
  }
  switch (static_cast<Opcode>(h.opcode)) {
    case Opcode::hello: return decode_hello_req(body, why);
    case Opcode::msgget: return decode_msgget_req(body, why);
    case Opcode::msgsnd: return decode_msgsnd_req(body, why);
    case Opcode::msgrcv: return decode_msgrcv_req(body, why);
    case Opcode::msgctl: return decode_msgctl_req(body, why);
    case Opcode::cancel:
      if (!body.empty()) return fail(why, size_mismatch("CANCEL request", body.size(), "0"));
      return Request{CancelRequest{}};
    case Opcode::admin: return Request{AdminRequest{text_of(body)}};
    case Opcode::ring_setup:
      if (!body.empty()) return fail(why, size_mismatch("RING_SETUP request", body.size(), "0"));
      return Request{RingSetupRequest{}};
    case Opcode::doorbell:
      if (!body.empty()) return fail(why, size_mismatch("DOORBELL request", body.size(), "0"));
      return Request{DoorbellRequest{}};
    case Opcode::lent:
      return fail(why, "LENT is not a request");
  }
  return fail(why, "unknown opcode " + num(h.opcode));
}

std::optional<Reply> decode_reply(const FrameHeader& h, std::span<const std::byte> body,
                                  std::string& why) {
  if ((h.opcode & kReplyBit) == 0) {
    return fail_reply(why, "request opcode " + num(h.opcode) + " in a reply");
  }
  if (h.flags != 0) return fail_reply(why, "reply flags " + hex(h.flags) + ", not 0");
  if (h.body_len != body.size()) {
    return fail_reply(why, "header body_len " + num(h.body_len) + " but body of " +
                               num(body.size()) + " bytes");
  }
  std::optional<Reply> r;
  const auto op = static_cast<std::uint16_t>(h.opcode & ~kReplyBit);
  switch (static_cast<Opcode>(op)) {
    case Opcode::hello: r = decode_hello_rep(body, why); break;
    case Opcode::msgget: r = decode_msgget_rep(body, why); break;
    case Opcode::msgsnd: r = decode_msgsnd_rep(body, why); break;
    case Opcode::msgrcv: r = decode_msgrcv_rep(body, why); break;
    case Opcode::msgctl: r = decode_msgctl_rep(body, why); break;
    case Opcode::admin: r = decode_admin_rep(body, why); break;
    case Opcode::ring_setup: r = decode_ring_setup_rep(body, why); break;
    case Opcode::doorbell:
      if (!body.empty()) return fail_reply(why, size_mismatch("WAKE notice", body.size(), "0"));
      if (h.request_id != 0) return fail_reply(why, "WAKE notice with request_id " + num(h.request_id));
      return Reply{WakeNotice{}};
    case Opcode::cancel:
      // PROTOCOL.md: "CANCEL has no reply of its own".
      return fail_reply(why, "CANCEL has no reply");
    default:
      return fail_reply(why, "unknown reply opcode " + hex(h.opcode));
  }
  if (r) {
    if (const auto status = status_of(*r); !status_ok(status)) {
      return fail_reply(why, str(op_name(op)) + " reply has unknown status " + num(status));
    }
  }
  return r;
}

void encode_lent(std::int32_t msqid, std::int64_t msgtyp, std::int64_t mtype,
                 std::span<const std::byte> text, Bytes& out) {
  const auto start = begin_frame(
      out, static_cast<std::uint16_t>(static_cast<std::uint16_t>(Opcode::lent) | kReplyBit), 0, 0);
  put_i32(out, msqid);
  put_u32(out, 0);
  put_i64(out, msgtyp);
  put_i64(out, mtype);
  put_bytes(out, text);
  end_frame(out, start);
}

std::optional<LentMessage> decode_lent(const FrameHeader& h, std::span<const std::byte> body,
                                       std::string& why) {
  if (h.opcode != (static_cast<std::uint16_t>(Opcode::lent) | kReplyBit) || h.flags != 0 ||
      h.request_id != 0 || h.body_len != body.size() || body.size() < kLentFixedBytes) {
    why = "not a LENT frame";
    return std::nullopt;
  }
  Reader r(body);
  LentMessage m;
  m.msqid = r.i32();
  if (r.u32() != 0) {
    why = "LENT reserved field not 0";
    return std::nullopt;
  }
  m.msgtyp = r.i64();
  m.mtype = r.i64();
  const auto text = r.rest();
  m.text.assign(text.begin(), text.end());
  return m;
}

FrameHeader parse_header(std::span<const std::byte, kHeaderBytes> bytes) {
  Reader r(bytes);
  FrameHeader h;
  h.body_len = r.u32();
  h.opcode = r.u16();
  h.flags = r.u16();
  h.request_id = r.u64();
  return h;
}

// ---- FrameDecoder ---------------------------------------------------------------------
// Invariants: [begin_, end_) are the unconsumed bytes, end_ <= buf_.size(). The buffer
// grows only in prepare(), and by at most what that call asked for (capped at one whole
// frame), so an unchecked body_len never sizes an allocation.

namespace {
// An idle decoder holding more than this gives it back (one large ADMIN reply should not
// pin its buffer for the life of the connection).
constexpr std::size_t kKeepIdleBytes = 256 * 1024;
}  // namespace

void FrameDecoder::feed(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    auto room = prepare(bytes.size());
    if (room.empty()) return;  // bad: the bytes are dropped
    const auto n = std::min(room.size(), bytes.size());
    std::copy_n(bytes.begin(), n, room.begin());
    commit(n);
    bytes = bytes.subspan(n);
  }
}

std::span<std::byte> FrameDecoder::prepare(std::size_t n) {
  if (bad_) {
    // Nothing more will be decoded: keep no data and hand out only what is already held.
    begin_ = end_ = 0;
    return std::span<std::byte>(buf_).first(std::min(n, buf_.size()));
  }
  n = std::min<std::size_t>(n, kHeaderBytes + std::size_t{max_body_});
  const std::size_t pending = end_ - begin_;
  if (buf_.size() - end_ < n) {
    // Compact first: the unconsumed bytes move to the front.
    if (begin_ > 0) {
      std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(begin_),
                buf_.begin() + static_cast<std::ptrdiff_t>(end_), buf_.begin());
      begin_ = 0;
      end_ = pending;
    }
    if (buf_.size() - end_ < n) {
      // Grow geometrically (byte-at-a-time feeding stays linear), never beyond one
      // whole frame past what is already held.
      const std::size_t need = pending + n;
      const std::size_t cap = pending + kHeaderBytes + std::size_t{max_body_};
      // A fresh vector of exactly that size: resize() may reserve up to twice as much.
      Bytes grown(std::max(need, std::min(buf_.size() * 2, cap)));
      std::copy_n(buf_.begin(), end_, grown.begin());
      buf_.swap(grown);
    }
  }
  return std::span<std::byte>(buf_).subspan(end_, n);
}

void FrameDecoder::commit(std::size_t n) {
  if (bad_) return;
  end_ = std::min(end_ + n, buf_.size());
}

FrameDecoder::Status FrameDecoder::next(Frame& out, std::string& why) {
  if (bad_) {
    why = bad_why_;
    return Status::bad;
  }
  if (begin_ == end_) {
    // The previous frame's body span is no longer promised: reset, maybe release.
    begin_ = end_ = 0;
    if (buf_.size() > kKeepIdleBytes) Bytes().swap(buf_);
  }
  const std::size_t pending = end_ - begin_;
  if (pending < kHeaderBytes) return Status::need_more;
  const auto header =
      parse_header(std::span<const std::byte, kHeaderBytes>(buf_.data() + begin_, kHeaderBytes));
  if (header.body_len > max_body_) {
    bad_ = true;
    too_large_ = true;
    bad_why_ = "frame of " + num(header.body_len) + " bytes exceeds limit " + num(max_body_);
    Bytes().swap(buf_);
    begin_ = end_ = 0;
    why = bad_why_;
    return Status::bad;
  }
  if (pending - kHeaderBytes < header.body_len) return Status::need_more;
  out.header = header;
  out.body = std::span<const std::byte>(buf_.data() + begin_ + kHeaderBytes, header.body_len);
  begin_ += kHeaderBytes + header.body_len;
  return Status::frame;
}

}  // namespace sysvmq::proto
