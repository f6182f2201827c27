// caller.hpp: who is making a call, as a value: ids, groups, process, capabilities.
// Not here: how the server learns them (server/peer_credentials) — the core never asks
// the operating system anything; it judges the Caller it is given.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sysvmq::core {

// The three capabilities the kernel consults for message queues (SEMANTICS.md 5.2).
// Privilege is what the caller holds, never "uid 0" (Rule 5.3).
enum class Capability : std::uint8_t {
  ipc_owner = 1 << 0,     // CAP_IPC_OWNER: bypass mode bits (Rule 5.1)
  sys_admin = 1 << 1,     // CAP_SYS_ADMIN: owner rights for IPC_SET / IPC_RMID
  sys_resource = 1 << 2,  // CAP_SYS_RESOURCE: msg_qbytes above msgmnb
};

class Capabilities {
 public:
  constexpr Capabilities() = default;
  static constexpr Capabilities all() { return Capabilities(0x7); }
  constexpr Capabilities with(Capability c) const {
    return Capabilities(bits_ | static_cast<std::uint8_t>(c));
  }
  constexpr bool has(Capability c) const { return (bits_ & static_cast<std::uint8_t>(c)) != 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  static constexpr Capabilities from_bits(std::uint8_t b) { return Capabilities(b & 0x7); }
  friend constexpr bool operator==(Capabilities, Capabilities) = default;

 private:
  constexpr explicit Capabilities(std::uint8_t b) : bits_(b) {}
  std::uint8_t bits_ = 0;
};

// A process as msg_lspid / msg_lrpid remember it (Rule 6.5): its pid in the daemon's
// pid namespace, its pid in its own namespace, and that namespace's id. pid_ns 0 means
// "the daemon's own pid namespace" (then local_pid == host_pid).
struct ProcessRef {
  std::int32_t host_pid = 0;
  std::int32_t local_pid = 0;
  std::uint64_t pid_ns = 0;

  friend bool operator==(const ProcessRef&, const ProcessRef&) = default;
};

struct Caller {
  std::uint32_t uid = 0;              // effective uid
  std::uint32_t gid = 0;              // effective gid (the kernel uses fsgid; Rule 5.4.3)
  std::vector<std::uint32_t> groups;  // supplementary groups
  ProcessRef process;
  Capabilities caps;

  // "In the group" of Rule 5.1: the effective gid or a supplementary group.
  bool in_group(std::uint32_t g) const {
    return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
  }
};

// The pid a reader sees for a recorded process (Rule 6.5 step 3): its own-view pid when
// both share a pid namespace, the daemon-view pid for a reader in the daemon's
// namespace, and 0 when the recorded process is not visible to the reader.
inline std::int32_t pid_as_seen_by(const ProcessRef& recorded, const Caller& reader) {
  if (recorded.pid_ns == reader.process.pid_ns) return recorded.local_pid;
  if (reader.process.pid_ns == 0) return recorded.host_pid;
  return 0;
}

}  // namespace sysvmq::core
