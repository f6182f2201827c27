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

// A user namespace's uid_map or gid_map (user_namespaces(7)): ids `inside` ..
// `inside + count - 1` of that namespace are `outside` .. of the daemon's.
struct IdMapping {
  std::uint32_t inside = 0;
  std::uint32_t outside = 0;
  std::uint32_t count = 0;
};

// How a caller's user namespace names ids. Empty maps: the daemon's own namespace,
// where every id is itself.
struct IdMaps {
  std::vector<IdMapping> uid;
  std::vector<IdMapping> gid;
  bool identity() const { return uid.empty() && gid.empty(); }
};

// The overflow id the kernel shows for an id with no name in the reader's namespace
// (/proc/sys/kernel/overflowuid, overflowgid).
inline constexpr std::uint32_t kOverflowId = 65534;
inline constexpr std::uint32_t kInvalidId = static_cast<std::uint32_t>(-1);

// from_kuid_munged(): a daemon-side id as the namespace names it, else kOverflowId.
inline std::uint32_t id_inside(const std::vector<IdMapping>& map, std::uint32_t outside) {
  if (map.empty()) return outside;
  for (const auto& m : map)
    if (outside >= m.outside && outside - m.outside < m.count) return m.inside + (outside - m.outside);
  return kOverflowId;
}

// make_kuid(): an id the namespace names, as the daemon knows it, else kInvalidId.
inline std::uint32_t id_outside(const std::vector<IdMapping>& map, std::uint32_t inside) {
  if (inside == kInvalidId) return kInvalidId;
  if (map.empty()) return inside;
  for (const auto& m : map)
    if (inside >= m.inside && inside - m.inside < m.count) return m.outside + (inside - m.inside);
  return kInvalidId;
}

struct Caller {
  std::uint32_t uid = 0;              // effective uid
  std::uint32_t gid = 0;              // effective gid (the kernel uses fsgid; Rule 5.4.3)
  std::vector<std::uint32_t> groups;  // supplementary groups
  ProcessRef process;
  Capabilities caps;
  // The caller's user namespace: msqid_ds ids are shown, and IPC_SET's ids read, in its
  // terms (uid, gid and groups above are always the daemon's view, from SO_PEERCRED).
  IdMaps ids;

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
