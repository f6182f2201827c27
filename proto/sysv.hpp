// sysv.hpp: the SysV message-queue constants and structures as the daemon and its
// clients exchange them: flags, msgctl commands, the msqid_ds and msginfo field sets.
// Not here: wire encoding (codec), the C layout of struct msqid_ds (the client fills it).
// Standard library only; sysv_check.cpp proves every number against <sys/msg.h>.
#pragma once

#include <cstdint>

namespace sysvmq::proto {

// Source: include/uapi/linux/ipc.h and msg.h. Octal, as in the headers.
inline constexpr int kIpcCreat = 01000;
inline constexpr int kIpcExcl = 02000;
inline constexpr int kIpcNowait = 04000;
inline constexpr int kMsgNoerror = 010000;
inline constexpr int kMsgExcept = 020000;
inline constexpr int kMsgCopy = 040000;
inline constexpr int kIpcPrivate = 0;
inline constexpr int kModeMask = 0777;  // S_IRWXUGO: the only mode bits a queue keeps

// msgctl commands. Source: include/uapi/linux/ipc.h, msg.h.
inline constexpr int kIpcRmid = 0;
inline constexpr int kIpcSet = 1;
inline constexpr int kIpcStat = 2;
inline constexpr int kIpcInfo = 3;
inline constexpr int kMsgStat = 11;
inline constexpr int kMsgInfo = 12;
inline constexpr int kMsgStatAny = 13;
inline constexpr int kIpc64 = 0x100;  // glibc adds it on 32-bit ABIs; x86_64 rejects it

// Identifier layout. Source: ipc/util.h (IPCMNI_SHIFT 15, ipcid_seq_max()).
inline constexpr int kIpcmniShift = 15;
inline constexpr int kIpcmni = 1 << kIpcmniShift;  // 32768 slots
inline constexpr int kSlotMask = kIpcmni - 1;
inline constexpr int kSeqMax = 0x7fffffff >> kIpcmniShift;  // 65535: seq runs 0..65534
inline constexpr int kMinCycle = 64;  // ipc_min_cycle = RADIX_TREE_MAP_SIZE

// Reporting constants of IPC_INFO. Source: include/uapi/linux/msg.h.
inline constexpr int kMsgpool = 32000 * 16384 / 1024;  // MSGMNI * MSGMNB / 1024 = 512000
inline constexpr int kMsgmap = 16384;                  // MSGMAP = MSGMNB
inline constexpr int kMsgtql = 16384;                  // MSGTQL = MSGMNB
inline constexpr int kMsgssz = 16;                     // MSGSSZ
inline constexpr int kMsgseg = 0xffff;                 // MSGSEG, capped to unsigned short

// The information of struct msqid_ds (SEMANTICS.md Rule 4.8), independent of any ABI.
// Pids are as the reader sees them (Rule 6.5); times are seconds since the Epoch.
struct MsqidDs {
  std::int32_t key = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t cuid = 0;
  std::uint32_t cgid = 0;
  std::uint32_t mode = 0;
  std::uint32_t seq = 0;
  std::int64_t stime = 0;
  std::int64_t rtime = 0;
  std::int64_t ctime = 0;
  std::uint64_t cbytes = 0;
  std::uint64_t qnum = 0;
  std::uint64_t qbytes = 0;
  std::int32_t lspid = 0;
  std::int32_t lrpid = 0;

  friend bool operator==(const MsqidDs&, const MsqidDs&) = default;
};

// The fields IPC_SET reads from the caller's msqid_ds (Rule 4.4 step 6).
struct MsqidSet {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t mode = 0;
  std::uint64_t qbytes = 0;

  friend bool operator==(const MsqidSet&, const MsqidSet&) = default;
};

// struct msginfo (Rule 4.9): eight fields; msgseg is an unsigned short in the C layout.
struct MsgInfo {
  std::int32_t msgpool = 0;
  std::int32_t msgmap = 0;
  std::int32_t msgmax = 0;
  std::int32_t msgmnb = 0;
  std::int32_t msgmni = 0;
  std::int32_t msgssz = 0;
  std::int32_t msgtql = 0;
  std::uint16_t msgseg = 0;

  friend bool operator==(const MsgInfo&, const MsgInfo&) = default;
};

}  // namespace sysvmq::proto
