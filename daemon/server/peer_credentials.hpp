// peer_credentials.hpp: who is on the other end of a connection, from the kernel alone
// (SO_PEERCRED, SO_PEERGROUPS, /proc) — never from anything the client says (Rule 5.4).
// Not here: permission decisions (core/permissions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/core/caller.hpp"

namespace sysvmq::server {

struct CredentialPolicy {
  // uids granted CAP_IPC_OWNER, CAP_SYS_ADMIN and CAP_SYS_RESOURCE whatever /proc says
  // (config "privileged_uids").
  std::vector<std::uint32_t> privileged_uids;
};

struct PeerCredentials {
  core::Caller caller;
  bool proc_readable = true;  // false: capabilities/pid namespace fell back to policy
  // The daemon ran out of descriptors or memory reading /proc: nothing is known.
  bool starved = false;
};

// Reads the connect-time snapshot of the peer of a connected AF_UNIX socket. Capabilities
// count only when the peer lives in the daemon's user namespace (Rule 5.4.4); pids follow
// Rule 6.5. Returns false (with `why`) when SO_PEERCRED fails, and when /proc could not
// be read for lack of descriptors or memory (`starved`): a peer is never judged by the
// fallback policy for the daemon's own shortage.
bool read_peer_credentials(int fd, const CredentialPolicy& policy, PeerCredentials& out,
                           std::string& why);

}  // namespace sysvmq::server
