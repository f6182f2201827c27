#include "peer_credentials.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace sysvmq::server {

namespace {

// Source: include/uapi/linux/capability.h.
constexpr int kCapIpcOwner = 15;
constexpr int kCapSysAdmin = 21;
constexpr int kCapSysResource = 24;
// pid_ns of a peer in a nested pid namespace whose id the daemon may not read: a
// stand-in unique to that process, so it sees its own pid as it knows it (LTP compares
// msg_lspid with getpid()), and other processes of its namespace see 0.
std::uint64_t unknown_pid_namespace(pid_t host_pid) {
  return (std::uint64_t{1} << 63) | static_cast<std::uint64_t>(host_pid);
}

bool same_inode(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

std::uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

// Set when a /proc read failed because the daemon is out of descriptors or memory: then
// what it could not read says nothing about the peer, and the connection is dropped
// rather than judged by the fallback policy (which would make uid 0 privileged).
thread_local bool t_starved = false;

bool starved_by(int err) { return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS; }

// A /proc file's text; "" when it cannot be read.
std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    t_starved = t_starved || starved_by(errno);
    return {};
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) t_starved = t_starved || starved_by(errno);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

// Whether the peer shares the daemon's user namespace. The ns link needs ptrace access
// to the peer, which an unprivileged daemon (the system service) lacks for other users'
// processes; then identical uid and gid maps (world-readable) stand in for it. A process
// can only write an identity map for a new namespace if it already holds CAP_SETUID and
// CAP_SETGID over the daemon's, so the stand-in grants nothing that was not there.
bool same_user_namespace(const std::string& proc) {
  struct stat peer {}, self {};
  if (::stat((proc + "/ns/user").c_str(), &peer) == 0 && ::stat("/proc/self/ns/user", &self) == 0)
    return peer.st_ino == self.st_ino && peer.st_dev == self.st_dev;
  const std::string uid_map = read_file(proc + "/uid_map");
  const std::string gid_map = read_file(proc + "/gid_map");
  return !uid_map.empty() && uid_map == read_file("/proc/self/uid_map") &&
         gid_map == read_file("/proc/self/gid_map");
}

// A uid_map/gid_map as the daemon reads it: "inside outside count" lines, where
// `outside` is in the reader's (the daemon's) namespace. Empty when it matches the
// daemon's own map, i.e. the peer names ids as the daemon does.
std::vector<core::IdMapping> read_id_map(const std::string& path, const std::string& own_path) {
  const std::string text = read_file(path);
  if (text.empty() || text == read_file(own_path)) return {};
  std::vector<core::IdMapping> map;
  std::istringstream lines(text);
  core::IdMapping m;
  while (lines >> m.inside >> m.outside >> m.count) map.push_back(m);
  return map;
}

struct ProcStatus {
  bool ok = false;
  std::uint64_t cap_eff = 0;
  std::int32_t ns_pid = 0;  // last NSpid entry: the pid inside its own namespace
  int ns_depth = 0;         // NSpid entries: 1 = the daemon's pid namespace (its /proc)
};

ProcStatus read_status(pid_t pid) {
  ProcStatus st;
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/status");
  std::istringstream in(text);
  std::string line;
  bool have_cap = false;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      st.cap_eff = std::stoull(line.substr(7), nullptr, 16);
      have_cap = true;
    } else if (line.rfind("NSpid:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::int32_t v = 0;
      while (fields >> v) {
        st.ns_pid = v;
        ++st.ns_depth;
      }
    }
  }
  st.ok = have_cap;
  return st;
}

}  // namespace

bool read_peer_credentials(int fd, const CredentialPolicy& policy, PeerCredentials& out,
                           std::string& why) {
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    why = std::string("SO_PEERCRED: ") + std::strerror(errno);
    return false;
  }
  core::Caller& c = out.caller;
  c.uid = cred.uid;
  c.gid = cred.gid;

  // SO_PEERGROUPS (Linux 4.13+): the supplementary groups at connect().
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE || groups.size() > 65536) {
      groups.clear();
      break;
    }
    groups.resize(std::max<std::size_t>(glen / sizeof(gid_t), groups.size() * 2));
  }
  c.groups.assign(groups.begin(), groups.end());

  // Pids (Rule 6.5). A peer outside the daemon's pid namespace tree shows pid 0.
  c.process.host_pid = cred.pid;
  c.process.local_pid = cred.pid;
  c.process.pid_ns = 0;
  t_starved = false;
  ProcStatus status;
  if (cred.pid > 0) status = read_status(cred.pid);
  const std::string proc = "/proc/" + std::to_string(cred.pid);
  out.proc_readable = status.ok;
  if (status.ok) {
    if (status.ns_depth > 1 && !same_inode(proc + "/ns/pid", "/proc/self/ns/pid")) {
      // A nested pid namespace (Rule 6.5). Without access to its ns link (an
      // unprivileged daemon) the namespace cannot be named: see unknown_pid_namespace.
      const std::uint64_t ns = inode_of(proc + "/ns/pid");
      c.process.pid_ns = ns != 0 ? ns : unknown_pid_namespace(cred.pid);
      if (status.ns_pid > 0) c.process.local_pid = status.ns_pid;
    }
    // Ids the peer reads and writes through msqid_ds are its namespace's (rootless
    // containers see their own root as 0, as with the kernel).
    c.ids.uid = read_id_map(proc + "/uid_map", "/proc/self/uid_map");
    c.ids.gid = read_id_map(proc + "/gid_map", "/proc/self/gid_map");
    // Capabilities count only in the user namespace that owns the daemon's (Rule 5.3).
    if (same_user_namespace(proc)) {
      core::Capabilities caps;
      if (status.cap_eff & (1ull << kCapIpcOwner)) caps = caps.with(core::Capability::ipc_owner);
      if (status.cap_eff & (1ull << kCapSysAdmin)) caps = caps.with(core::Capability::sys_admin);
      if (status.cap_eff & (1ull << kCapSysResource))
        caps = caps.with(core::Capability::sys_resource);
      c.caps = caps;
    }
  } else if (cred.uid == 0) {
    // /proc cannot tell: the documented fallback policy is "uid 0 is privileged".
    c.caps = core::Capabilities::all();
  }
  out.starved = t_starved;
  if (t_starved) {
    why = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid) +
          ": /proc could not be read for lack of descriptors or memory (it is not judged "
          "without it)";
    return false;
  }
  const auto& p = policy.privileged_uids;
  if (std::find(p.begin(), p.end(), c.uid) != p.end()) c.caps = core::Capabilities::all();
  return true;
}

}  // namespace sysvmq::server
