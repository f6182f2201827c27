// constants_test.cpp: the numbers that cross the wire — errno values, opcodes, the magic
// and the fixed body sizes of PROTOCOL.md — checked against <cerrno> and the encoder.
// Not here: decoding and framing (codec_test.cpp).
#include <sys/msg.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <gtest/gtest.h>

#include "proto/codec.hpp"
#include "proto/errc.hpp"
#include "proto/sysv.hpp"

// Cases name only the fields they are about; the rest keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sysvmq::proto {
namespace {

std::size_t body_size(const Reply& r) {
  Bytes out;
  encode_reply(1, r, out);
  return out.size() - kHeaderBytes;
}

std::size_t body_size(const Request& r) {
  Bytes out;
  encode_request(1, 0, r, out);
  return out.size() - kHeaderBytes;
}

TEST(WireConstants, ErrcValuesAreLinuxErrnoNumbers) {
  EXPECT_EQ(static_cast<int>(Errc::eperm), EPERM);
  EXPECT_EQ(static_cast<int>(Errc::eintr), EINTR);
  EXPECT_EQ(static_cast<int>(Errc::e2big), E2BIG);
  EXPECT_EQ(static_cast<int>(Errc::eagain), EAGAIN);
  EXPECT_EQ(static_cast<int>(Errc::einval), EINVAL);
  EXPECT_EQ(static_cast<int>(Errc::enomsg), ENOMSG);
  EXPECT_EQ(static_cast<int>(Errc::eidrm), EIDRM);
  // PROTOCOL.md quotes these two numbers.
  EXPECT_EQ(EINVAL, 22);
  EXPECT_EQ(EIDRM, 43);
}

TEST(WireConstants, KnownStatusesAreTheErrcSet) {
  EXPECT_TRUE(is_known_errc(0));
  EXPECT_TRUE(is_known_errc(ENOMSG));
  EXPECT_TRUE(is_known_errc(EIDRM));
  EXPECT_FALSE(is_known_errc(EBADF));
  EXPECT_FALSE(is_known_errc(-1));
  EXPECT_EQ(kStatusShuttingDown, -1);
}

TEST(WireConstants, OpcodesAndFlagsAreThoseOfTheProtocol) {
  EXPECT_EQ(static_cast<int>(Opcode::hello), 1);
  EXPECT_EQ(static_cast<int>(Opcode::msgget), 2);
  EXPECT_EQ(static_cast<int>(Opcode::msgsnd), 3);
  EXPECT_EQ(static_cast<int>(Opcode::msgrcv), 4);
  EXPECT_EQ(static_cast<int>(Opcode::msgctl), 5);
  EXPECT_EQ(static_cast<int>(Opcode::cancel), 6);
  EXPECT_EQ(static_cast<int>(Opcode::admin), 7);
  EXPECT_EQ(static_cast<int>(Opcode::ring_setup), 8);
  EXPECT_EQ(static_cast<int>(Opcode::doorbell), 9);
  EXPECT_EQ(kReplyBit, 0x8000);
  EXPECT_EQ(kFlagOnCredit, 0x0002);
  EXPECT_EQ(kRequestFlagsMask, 0x0703);
  EXPECT_EQ(kHeaderBytes, 16u);
}

TEST(WireConstants, MagicIsSvmqInMemoryOrder) {
  Bytes out;
  encode_request(0, 0, HelloRequest{}, out);
  ASSERT_EQ(out.size(), kHeaderBytes + 8);
  EXPECT_EQ(out[16], std::byte{'S'});
  EXPECT_EQ(out[17], std::byte{'V'});
  EXPECT_EQ(out[18], std::byte{'M'});
  EXPECT_EQ(out[19], std::byte{'Q'});
  EXPECT_EQ(out[20], std::byte{1});  // version 1, little-endian
  EXPECT_EQ(out[21], std::byte{0});
}

TEST(WireConstants, MsgctlReplyIs16Or104Or48Bytes) {
  EXPECT_EQ(body_size(MsgctlReply{}), 16u);
  EXPECT_EQ(body_size(MsgctlReply{.ds = MsqidDs{}}), 104u);
  EXPECT_EQ(body_size(MsgctlReply{.info = MsgInfo{}}), 48u);
}

TEST(WireConstants, FixedBodySizesMatchTheProtocol) {
  EXPECT_EQ(body_size(HelloRequest{}), 8u);
  EXPECT_EQ(body_size(MsggetRequest{}), 8u);
  EXPECT_EQ(body_size(MsgsndRequest{}), std::size_t{kMsgsndFixedBytes});
  EXPECT_EQ(body_size(MsgrcvRequest{}), 24u);
  EXPECT_EQ(body_size(MsgctlRequest{}), 16u);
  EXPECT_EQ(body_size(MsgctlRequest{.buf_state = BufState::set}), 40u);
  EXPECT_EQ(body_size(CancelRequest{}), 0u);
  EXPECT_EQ(body_size(HelloReply{}), 24u);
  EXPECT_EQ(body_size(MsggetReply{}), 8u);
  EXPECT_EQ(body_size(MsgsndReply{}), 4u);
  EXPECT_EQ(body_size(MsgrcvReply{}), 16u);
  EXPECT_EQ(body_size(AdminReply{}), 4u);
}

TEST(WireConstants, DefaultFrameLimitLeavesRoomForAMsgmaxMsgsnd) {
  EXPECT_GE(kDefaultMaxFrameBytes, std::uint32_t{kDefaultMsgmax} + kMsgsndFixedBytes);
  EXPECT_EQ(kDefaultMaxFrameBytes, 65600u);
  EXPECT_EQ(kClientMaxReplyBytes, 64u << 20);
}

TEST(WireConstants, SysvFlagsMatchTheCHeaders) {
  EXPECT_EQ(kIpcCreat, IPC_CREAT);
  EXPECT_EQ(kIpcNowait, IPC_NOWAIT);
  EXPECT_EQ(kMsgNoerror, MSG_NOERROR);
  EXPECT_EQ(kIpcStat, IPC_STAT);
  EXPECT_EQ(kMsgInfo, MSG_INFO);
}

}  // namespace
}  // namespace sysvmq::proto
