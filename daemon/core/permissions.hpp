// permissions.hpp: ipc_perm and the kernel's checks on it (SEMANTICS.md section 5).
// Not here: which operation asks for what (registry.cpp, queue.cpp cite Rule 5.2).
#pragma once

#include <cstdint>

#include "daemon/core/caller.hpp"

namespace sysvmq::core {

// struct kern_ipc_perm, as far as message queues use it.
struct Perm {
  std::int32_t key = 0;  // 0 for IPC_PRIVATE queues
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t cuid = 0;  // creator: never changes, keeps owner rights (Rule 4.4 step 6)
  std::uint32_t cgid = 0;
  std::uint32_t mode = 0;  // 0..0777
  std::uint32_t seq = 0;   // the sequence half of the id (Rule 1.7)
};

inline constexpr int kRead = 4;   // S_IRUGO as a triplet bit
inline constexpr int kWrite = 2;  // S_IWUGO as a triplet bit

// The bits msgget asks for on an existing key: any of the three triplets of flg & 0777
// counts, so 0400, 0040 and 0004 all mean "read" (Rule 5.2, first row).
int requested_by_msgget(int msgflg);

// ipcperms(): true if `requested` (a mask of kRead | kWrite) is granted (Rule 5.1).
bool has_access(const Caller& who, const Perm& perm, int requested);

// What a granted access depends on in the caller's identity. The daemon grants ahead of
// time (send credit, lent messages: PROTOCOL.md "Grants and identity"), and a client
// whose thread changed its ids since connecting (Rule 5.4.2) may go on using a grant
// only while the same check would still pass; this says which ids it must compare.
enum class AccessBasis : std::uint8_t {
  identity = 0,   // euid, egid and groups: a change of any of them may change the answer
  owner_uid = 1,  // the owner class (euid is uid or cuid) and its triplet: euid alone
  anyone = 2,     // all three triplets have the bits: no identity is refused
};

// The basis of has_access(who, perm, requested) judged without capabilities, which the
// caller has found true.
AccessBasis access_basis(const Caller& who, const Perm& perm, int requested);

// The owner test of IPC_SET and IPC_RMID: euid is uid or cuid, or CAP_SYS_ADMIN
// (Rule 5.2; CAP_IPC_OWNER does not help here).
bool is_owner_or_admin(const Caller& who, const Perm& perm);

}  // namespace sysvmq::core
