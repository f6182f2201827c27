#include "tests/support/identity.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sysvmq::test {

namespace {

struct Profile {
  std::uint32_t uid;
  std::uint32_t gid;
  std::vector<gid_t> groups;
  std::uint64_t dropped;  // effective capabilities removed (root profiles only)
};

Profile profile(Who w) {
  switch (w) {
    case Who::root:
      return {0, 0, {}, 0};
    case Who::root_no_ipc_caps:
      return {0, 0, {}, kCapIpcOwner | kCapSysAdmin};
    case Who::u1000:
      return {1000, 1000, {}, 0};
    case Who::u1001_g1000:
      return {1001, 1000, {}, 0};
    case Who::u1002_sg1000:
      return {1002, 1002, {1000}, 0};
  }
  return {0, 0, {}, 0};
}

bool is_root_profile(Who w) { return w == Who::root || w == Who::root_no_ipc_caps; }

bool capget_sets(std::uint64_t& effective, std::uint64_t& permitted, std::uint64_t& inheritable) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  effective = data[0].effective | (std::uint64_t{data[1].effective} << 32);
  permitted = data[0].permitted | (std::uint64_t{data[1].permitted} << 32);
  inheritable = data[0].inheritable | (std::uint64_t{data[1].inheritable} << 32);
  return true;
}

// Sets the effective set of the calling thread, keeping permitted and inheritable.
bool set_effective(std::uint64_t effective) {
  std::uint64_t e = 0, p = 0, i = 0;
  if (!capget_sets(e, p, i)) return false;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  data[0].effective = static_cast<std::uint32_t>(effective);
  data[1].effective = static_cast<std::uint32_t>(effective >> 32);
  data[0].permitted = static_cast<std::uint32_t>(p);
  data[1].permitted = static_cast<std::uint32_t>(p >> 32);
  data[0].inheritable = static_cast<std::uint32_t>(i);
  data[1].inheritable = static_cast<std::uint32_t>(i >> 32);
  return syscall(SYS_capset, &hdr, data) == 0;
}

}  // namespace

std::string_view who_name(Who w) {
  switch (w) {
    case Who::root:
      return "root";
    case Who::root_no_ipc_caps:
      return "root-without-IPC_OWNER/SYS_ADMIN";
    case Who::u1000:
      return "uid1000/gid1000";
    case Who::u1001_g1000:
      return "uid1001/gid1000";
    case Who::u1002_sg1000:
      return "uid1002/gid1002+sg1000";
  }
  return "?";
}

std::uint64_t effective_caps() {
  std::uint64_t e = 0, p = 0, i = 0;
  return capget_sets(e, p, i) ? e : 0;
}

std::uint64_t permitted_caps() {
  std::uint64_t e = 0, p = 0, i = 0;
  return capget_sets(e, p, i) ? p : 0;
}

core::Capabilities to_core_caps(std::uint64_t linux_caps) {
  core::Capabilities c;
  if (linux_caps & kCapIpcOwner) c = c.with(core::Capability::ipc_owner);
  if (linux_caps & kCapSysAdmin) c = c.with(core::Capability::sys_admin);
  if (linux_caps & kCapSysResource) c = c.with(core::Capability::sys_resource);
  return c;
}

core::Caller caller_from_process() {
  core::Caller c;
  c.uid = geteuid();
  c.gid = getegid();
  const int n = getgroups(0, nullptr);
  if (n > 0) {
    std::vector<gid_t> g(static_cast<std::size_t>(n));
    const int m = getgroups(n, g.data());
    for (int k = 0; k < m; ++k) c.groups.push_back(g[static_cast<std::size_t>(k)]);
  }
  const auto pid = static_cast<std::int32_t>(getpid());
  c.process = core::ProcessRef{pid, pid, 0};
  c.caps = to_core_caps(effective_caps());
  return c;
}

core::Caller caller_for(Who w, std::int32_t pid) {
  const Profile p = profile(w);
  core::Caller c;
  c.uid = p.uid;
  c.gid = p.gid;
  c.groups.assign(p.groups.begin(), p.groups.end());
  if (is_root_profile(w)) {
    // Root keeps its own supplementary groups (become_for_good leaves them alone).
    const int n = getgroups(0, nullptr);
    if (n > 0) {
      std::vector<gid_t> g(static_cast<std::size_t>(n));
      const int m = getgroups(n, g.data());
      c.groups.assign(g.begin(), g.begin() + std::max(m, 0));
    }
    c.caps = to_core_caps(effective_caps() & ~p.dropped);  // as become_for_good leaves it
  }
  c.process = core::ProcessRef{pid, pid, 0};
  return c;
}

IdentityScope::IdentityScope() {
  const int n = getgroups(0, nullptr);
  if (n > 0) {
    std::vector<gid_t> g(static_cast<std::size_t>(n));
    const int m = getgroups(n, g.data());
    root_groups_.assign(g.begin(), g.begin() + std::max(m, 0));
  }
  root_effective_ = effective_caps();
}

IdentityScope::~IdentityScope() { restore_root(); }

bool IdentityScope::restore_root() {
  // seteuid(0) first: it brings the permitted set back into the effective set, which
  // setgroups and capset need.
  bool ok = seteuid(0) == 0;
  ok = setegid(0) == 0 && ok;
  std::vector<gid_t> g(root_groups_.begin(), root_groups_.end());
  ok = setgroups(g.size(), g.data()) == 0 && ok;
  ok = set_effective(root_effective_) && ok;
  current_ = Who::root;
  return ok;
}

bool IdentityScope::become(Who w) {
  if (!restore_root()) return false;
  const Profile p = profile(w);
  if (is_root_profile(w)) {
    if (p.dropped != 0 && !set_effective(root_effective_ & ~p.dropped)) return false;
  } else {
    if (setgroups(p.groups.size(), p.groups.data()) != 0) return restore_root() && false;
    if (setegid(p.gid) != 0) return restore_root() && false;
    // Leaving euid 0 clears the effective capabilities (capabilities(7)).
    if (seteuid(p.uid) != 0) return restore_root() && false;
  }
  current_ = w;
  return true;
}

bool become_for_good(Who w) {
  const Profile p = profile(w);
  if (is_root_profile(w)) return p.dropped == 0 || set_effective(effective_caps() & ~p.dropped);
  if (setgroups(p.groups.size(), p.groups.data()) != 0) return false;
  if (setresgid(p.gid, p.gid, p.gid) != 0) return false;
  return setresuid(p.uid, p.uid, p.uid) == 0;
}

}  // namespace sysvmq::test
