// identity.hpp: the callers a kernel-oracle test plays (root with every capability, root
// without CAP_IPC_OWNER and CAP_SYS_ADMIN, three ordinary users), how this process
// switches between them and back, and the core::Caller each one amounts to.
// Not here: the msg* calls made under an identity (kernel_oracle.hpp, parked_calls.hpp).
// Tests using it run as root; an IdentityScope always returns the process to root.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "daemon/core/caller.hpp"

namespace sysvmq::test {

enum class Who : std::uint8_t {
  root,              // uid 0 with the capabilities the process started with
  root_no_ipc_caps,  // uid 0, CAP_IPC_OWNER and CAP_SYS_ADMIN dropped from the effective set
  u1000,             // uid 1000, gid 1000, no supplementary groups
  u1001_g1000,       // uid 1001, gid 1000: same group as u1000, another user
  u1002_sg1000,      // uid 1002, gid 1002, supplementary group 1000
};
inline constexpr Who kAllWho[] = {Who::root, Who::root_no_ipc_caps, Who::u1000, Who::u1001_g1000,
                                  Who::u1002_sg1000};

std::string_view who_name(Who w);

// Linux capability numbers (linux/capability.h) as bits of a 64-bit set.
inline constexpr std::uint64_t kCapIpcOwner = std::uint64_t{1} << 15;
inline constexpr std::uint64_t kCapSysAdmin = std::uint64_t{1} << 21;
inline constexpr std::uint64_t kCapSysResource = std::uint64_t{1} << 24;

// capget(2) of the calling thread; 0 on failure.
std::uint64_t effective_caps();
std::uint64_t permitted_caps();

// The three capabilities the core consults, out of a Linux capability set.
core::Capabilities to_core_caps(std::uint64_t linux_caps);

// The core's view of the calling thread right now: euid, egid, getgroups(), effective
// capabilities, and ProcessRef{getpid(), getpid(), 0} (the reader's own pid namespace).
core::Caller caller_from_process();

// The Caller a process with pid `pid` presents after become_for_good(w): root keeps the
// capabilities this process holds (Rule 5.3: not "all of them"), users hold none.
core::Caller caller_for(Who w, std::int32_t pid);

// Switches this process's effective identity and back. Construct while root; the
// destructor returns to root with the groups and capabilities it found.
class IdentityScope {
 public:
  IdentityScope();
  ~IdentityScope();
  IdentityScope(const IdentityScope&) = delete;
  IdentityScope& operator=(const IdentityScope&) = delete;

  // Back to root first (seteuid(0), setegid(0), setgroups, capset), then to `w`.
  // False (with errno) if a step failed; the process is then root.
  bool become(Who w);
  bool restore_root();
  Who current() const { return current_; }

 private:
  std::vector<unsigned> root_groups_;
  std::uint64_t root_effective_ = 0;
  Who current_ = Who::root;
};

// For a forked child: take identity `w` for good (real, effective and saved ids), so
// the kernel sees it exactly as the core's caller_for(w, getpid()). False on failure.
bool become_for_good(Who w);

}  // namespace sysvmq::test
