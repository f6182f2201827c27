// limits.hpp: the tunable limits of one namespace of queues, with the kernel's defaults.
// Not here: enforcement (daemon/core/registry.cpp) or parsing (daemon config).
#pragma once

#include <cstdint>

namespace sysvmq::proto {

// Source: include/uapi/linux/msg.h; the defaults of kernels since 3.19 (msgmni is no
// longer scaled by memory), confirmed in /proc/sys/kernel/msg* of a fresh namespace.
inline constexpr std::int32_t kDefaultMsgmax = 8192;   // MSGMAX: largest message text
inline constexpr std::int32_t kDefaultMsgmnb = 16384;  // MSGMNB: default msg_qbytes
inline constexpr std::int32_t kDefaultMsgmni = 32000;  // MSGMNI: most queues at once

struct Limits {
  std::int32_t msgmax = kDefaultMsgmax;  // 0..INT_MAX
  std::int32_t msgmnb = kDefaultMsgmnb;  // 0..INT_MAX
  std::int32_t msgmni = kDefaultMsgmni;  // 0..32768 (IPCMNI)
  // Daemon-wide cap on queued text bytes across all queues; 0 = no cap. Not in Linux:
  // a refusal answers ENOMEM and never parks (SEMANTICS.md Rule 2.13).
  std::uint64_t max_queued_bytes = 0;
  // Most queues one creator uid (cuid, as the daemon sees it) may hold at once; 0 = no
  // cap. Not in Linux, where msgmni alone caps everyone together: over it, msgget's
  // create answers ENOSPC, as at msgmni (Rule 1.5), so one user cannot take every id.
  std::uint32_t max_queues_per_uid = 0;

  friend bool operator==(const Limits&, const Limits&) = default;
};

}  // namespace sysvmq::proto
