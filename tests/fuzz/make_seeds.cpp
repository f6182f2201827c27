// make_seeds: writes the binary seeds of corpus/fuzz_frame_decoder/ with the codec itself:
// one valid frame of every request and reply shape, a stream of several frames fed in
// chunks and through prepare/commit, and an oversized header. Each file is
// fuzz_frame_decoder's input format: a control byte, chunk sizes, then the stream.
//   make_seeds DIR   (DIR/fuzz_frame_decoder/ must exist)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/codec.hpp"

using namespace sysvmq::proto;

namespace {

std::string g_dir;

void write(const std::string& name, std::vector<unsigned char> control, const Bytes& stream) {
  const std::string path = g_dir + "/fuzz_frame_decoder/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fwrite(control.data(), 1, control.size(), f);
  std::fwrite(stream.data(), 1, stream.size(), f);
  std::fclose(f);
}

Bytes req(const Request& r, std::uint64_t id = 7, std::uint16_t flags = 0) {
  Bytes out;
  encode_request(id, flags, r, out);
  return out;
}
Bytes rep(const Reply& r, std::uint64_t id = 7) {
  Bytes out;
  encode_reply(id, r, out);
  return out;
}
Bytes text(const std::string& s) {
  Bytes b;
  for (char c : s) b.push_back(static_cast<std::byte>(c));
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  g_dir = argv[1];
  const std::vector<unsigned char> whole{0x00};  // default max_body, one feed

  write("req_hello", whole, req(HelloRequest{}, 1));
  write("req_msgget", whole, req(MsggetRequest{0x73797376, 01666}));
  write("req_msgsnd", whole, req(MsgsndRequest{3, 0, 1, 5, TextState::present, text("hello")},
                                 9, kFlagCaps | kFlagCapIpcOwner));
  write("req_msgsnd_fault", whole, req(MsgsndRequest{3, 0, 1, 5, TextState::fault, {}}));
  write("req_msgsnd_omitted", whole, req(MsgsndRequest{3, 0, 1, -1, TextState::omitted, {}}));
  write("req_msgrcv", whole, req(MsgrcvRequest{3, 04000, -2, 8192}));
  write("req_msgctl", whole, req(MsgctlRequest{3, 2, BufState::none, {}}));
  write("req_msgctl_set", whole,
        req(MsgctlRequest{3, 1, BufState::set, MsqidSet{1000, 1000, 0600, 16384}}));
  write("req_msgctl_fault", whole, req(MsgctlRequest{3, 1, BufState::fault, {}}));
  write("req_cancel", whole, req(CancelRequest{}, 9));
  write("req_admin", whole, req(AdminRequest{R"({"op":"set_limits","msgmax":16})"}, 4,
                                kFlagCaps | kFlagCapSysAdmin));

  write("rep_hello", whole, rep(HelloReply{0, kVersion, 8192, 16384, 32000, 65600}, 1));
  write("rep_msgget", whole, rep(MsggetReply{0, 3}));
  write("rep_msgsnd_eagain", whole, rep(MsgsndReply{11}));
  write("rep_msgrcv", whole, rep(MsgrcvReply{0, 1, text("hello")}));
  write("rep_msgrcv_shutdown", whole, rep(MsgrcvReply{kStatusShuttingDown, 0, {}}));
  MsqidDs ds;
  ds.key = 0x73797376;
  ds.uid = ds.cuid = 1000;
  ds.mode = 0600;
  ds.qbytes = 16384;
  ds.qnum = 2;
  ds.cbytes = 10;
  ds.lspid = 42;
  write("rep_msgctl", whole, rep(MsgctlReply{0, 0, std::nullopt, std::nullopt}));
  write("rep_msgctl_ds", whole, rep(MsgctlReply{0, 0, ds, std::nullopt}));
  write("rep_msgctl_info", whole,
        rep(MsgctlReply{0, 3, std::nullopt, MsgInfo{16, 0, 8192, 16384, 32000, 16, 2, 0xffff}}));
  write("rep_admin", whole, rep(AdminReply{0, R"({"msgmax":16,"msgmnb":16384,"msgmni":32000})"}));

  // A client's conversation as one stream, in 1-, 7- and 3-byte chunks, then through
  // prepare/commit in 200-byte chunks.
  Bytes conv = req(HelloRequest{}, 1);
  for (const Bytes& b : {req(MsggetRequest{5, 01600}, 2),
                         req(MsgsndRequest{0, 0, 2, 3, TextState::present, text("abc")}, 3),
                         req(MsgrcvRequest{0, 0, 0, 100}, 4), req(CancelRequest{}, 4),
                         req(AdminRequest{R"({"op":"stats"})"}, 5)})
    conv.insert(conv.end(), b.begin(), b.end());
  write("stream_chunked", {0x03, 0, 6, 2}, conv);
  write("stream_prepare", {0x21, 199}, conv);
  // The daemon's side, a byte at a time.
  Bytes replies = rep(HelloReply{0, kVersion, 8192, 16384, 32000, 65600}, 1);
  for (const Bytes& b : {rep(MsggetReply{0, 0}, 2), rep(MsgsndReply{0}, 3),
                         rep(MsgrcvReply{4, 0, {}}, 4)})
    replies.insert(replies.end(), b.begin(), b.end());
  write("stream_replies_bytewise", {0x01, 0}, replies);
  // max_body 64: a MSGSND of 70 bytes of text is refused at its header.
  Bytes big = req(MsggetRequest{1, 0}, 1);
  const Bytes over = req(MsgsndRequest{0, 0, 1, 70, TextState::present, Bytes(70)}, 2);
  big.insert(big.end(), over.begin(), over.end());
  write("stream_oversized", {0x0a, 15, 40}, big);
  return 0;
}
