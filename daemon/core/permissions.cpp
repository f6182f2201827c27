#include "permissions.hpp"

namespace sysvmq::core {

int requested_by_msgget(int msgflg) {
  const int f = msgflg & 0777;
  return ((f >> 6) | (f >> 3) | f) & 7;
}

bool has_access(const Caller& who, const Perm& perm, int requested) {
  std::uint32_t granted = perm.mode;
  // The classes do not fall through: an owner refused by the owner triplet is refused,
  // even when the group triplet would allow it (Rule 5.1, measured).
  if (who.uid == perm.cuid || who.uid == perm.uid) {
    granted >>= 6;
  } else if (who.in_group(perm.cgid) || who.in_group(perm.gid)) {
    granted >>= 3;
  }
  if ((requested & ~granted & 7) == 0) return true;
  return who.caps.has(Capability::ipc_owner);
}

AccessBasis access_basis(const Caller& who, const Perm& perm, int requested) {
  const auto bits = static_cast<std::uint32_t>(requested & 7);
  const auto triplet_has = [&](int shift) { return ((perm.mode >> shift) & bits) == bits; };
  if (triplet_has(6) && triplet_has(3) && triplet_has(0)) return AccessBasis::anyone;
  // In the owner class the answer is the owner triplet's, whatever egid and groups are.
  if (who.uid == perm.cuid || who.uid == perm.uid) return AccessBasis::owner_uid;
  return AccessBasis::identity;
}

bool is_owner_or_admin(const Caller& who, const Perm& perm) {
  return who.uid == perm.cuid || who.uid == perm.uid || who.caps.has(Capability::sys_admin);
}

}  // namespace sysvmq::core
