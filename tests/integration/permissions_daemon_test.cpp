// permissions_daemon_test.cpp: permissions with real users in separate processes. One
// scenario — queues created by uid 1000 with modes 0600, 0640, 0604, 0060, …, then
// tried by other users (one sharing group 1000, one holding it as a supplementary group,
// one with nothing in common) and by root with and without CAP_IPC_OWNER/CAP_SYS_ADMIN:
// msgget with various flags, msgsnd, msgrcv, IPC_STAT, MSG_STAT(_ANY), IPC_SET,
// IPC_RMID; a creator who gives the queue away with IPC_SET and keeps owner rights —
// runs on the kernel (a private IPC namespace) and on a fresh sysvmqd. Each step runs in
// a forked child that takes its ids for good (setgroups, setresgid, setresuid) and, on the
// daemon side, connects itself, so the daemon judges it by SO_PEERCRED and /proc. Both
// must give exactly the same answers; the narrated steps also state what Linux answers
// (SEMANTICS.md section 5, Rules 1.3, 4.4, 4.5).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/support/daemon_backend.hpp"
#include "tests/support/daemon_fixture.hpp"
#include "tests/support/identity.hpp"
#include "tests/support/kernel_oracle.hpp"

namespace sysvmq::test {
namespace {

// ---------------------------------------------------------------- actors

struct Actor {
  const char* name;
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
  bool drop_ipc_caps;  // root without CAP_IPC_OWNER and CAP_SYS_ADMIN
};

const Actor kRoot{"root", 0, 0, {0}, false};
const Actor kRootNoCaps{"root-without-IPC_OWNER/SYS_ADMIN", 0, 0, {0}, true};
const Actor kOwner{"uid1000/gid1000", 1000, 1000, {}, false};
const Actor kMate{"uid1001/gid1000", 1001, 1000, {}, false};
const Actor kSupp{"uid1002/gid1002+sg1000", 1002, 1002, {1000}, false};
const Actor kStranger{"uid1003/gid1003", 1003, 1003, {}, false};
const Actor* const kActors[] = {&kOwner, &kMate, &kSupp, &kStranger, &kRootNoCaps, &kRoot};

// Takes `a`'s ids for good, as a login would: false if a step failed.
bool become(const Actor& a) {
  if (::setgroups(a.groups.size(), a.groups.data()) != 0) return false;
  if (::setresgid(a.gid, a.gid, a.gid) != 0 || ::setresuid(a.uid, a.uid, a.uid) != 0) return false;
  if (!a.drop_ipc_caps) return true;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[0].effective &= ~((1u << CAP_IPC_OWNER) | (1u << CAP_SYS_ADMIN));
  return ::syscall(SYS_capset, &header, data) == 0;
}

// ---------------------------------------------------------------- steps

using Names = std::map<std::string, int>;  // queue name -> id on this backend

// A key per queue name, handed out while the steps are built (in the parent, never in
// a child, so that every child sees the same table).
std::int32_t key_of(const std::string& queue) {
  static std::map<std::string, std::int32_t> keys;
  auto [it, added] = keys.emplace(queue, 0x5e000000 + static_cast<std::int32_t>(keys.size()) + 1);
  return it->second;
}
int id_of(const Names& names, const std::string& queue) {
  auto it = names.find(queue);
  return it == names.end() ? -1 : it->second;
}

struct Step {
  const Actor* who;
  std::string what;
  std::function<OpResult(MsgBackend&, const Names&)> call;
  std::string defines;        // a msgget whose id names this queue from now on
  std::optional<int> expect;  // 0 or the errno Linux answers; nullopt: the kernel decides
};

constexpr int kOk = 0;

Step get(const Actor& a, const std::string& q, int flg, std::optional<int> expect = {}) {
  const std::int32_t key = key_of(q);
  return {&a, describe_get(key, flg) + " [" + q + "]",
          [key, flg](MsgBackend& b, const Names&) { return b.msgget(key, flg); }, q, expect};
}
Step snd(const Actor& a, const std::string& q, std::optional<int> expect = {}) {
  return {&a,
          "msgsnd(" + q + ", 3 bytes)",
          [q](MsgBackend& b, const Names& n) {
            SndArgs s{id_of(n, q), 1, 3, proto::kIpcNowait, {}, false};
            s.text = {std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
            return b.msgsnd(s);
          },
          {},
          expect};
}
Step rcv(const Actor& a, const std::string& q, std::optional<int> expect = {}, int flg = 0) {
  return {&a,
          "msgrcv(" + q + ", " + msgflg_name(proto::kIpcNowait | flg) + ")",
          [q, flg](MsgBackend& b, const Names& n) {
            return b.msgrcv(RcvArgs{id_of(n, q), 100, 0, proto::kIpcNowait | flg});
          },
          {},
          expect};
}
Step ctl(const Actor& a, const std::string& q, int cmd, std::optional<int> expect = {},
         std::optional<proto::MsqidSet> set = {}) {
  CtlArgs shown{0, cmd, set};
  std::string what = describe_ctl(shown);
  what.replace(what.find("id=0"), 4, q);
  return {&a,
          what,
          [q, cmd, set](MsgBackend& b, const Names& n) {
            int id = id_of(n, q);
            // MSG_STAT and MSG_STAT_ANY take the slot index (Rule 4.3).
            if ((cmd == proto::kMsgStat || cmd == proto::kMsgStatAny) && id >= 0)
              id &= proto::kIpcmni - 1;
            return b.msgctl(CtlArgs{id, cmd, set});
          },
          {},
          expect};
}
Step set(const Actor& a, const std::string& q, std::uint32_t uid, std::uint32_t gid,
         std::uint32_t mode, std::uint64_t qbytes, std::optional<int> expect = {}) {
  return ctl(a, q, proto::kIpcSet, expect, proto::MsqidSet{uid, gid, mode, qbytes});
}

// The narrated part: every answer stated (Linux's, measured in SEMANTICS.md).
std::vector<Step> narrated() {
  const int creat_excl = proto::kIpcCreat | proto::kIpcExcl;
  return {
      get(kOwner, "give", creat_excl | 0600, kOk),
      // Rule 1.3: EEXIST before any permission check; no bits asked, nothing checked.
      get(kStranger, "give", creat_excl | 0600, EEXIST),
      get(kStranger, "give", 0, kOk),
      get(kStranger, "give", 0400, EACCES),
      get(kStranger, "give", proto::kIpcCreat | 0666, EACCES),
      snd(kStranger, "give", EACCES),
      set(kStranger, "give", 1003, 1003, 0666, 16384, EPERM),
      ctl(kStranger, "give", proto::kIpcRmid, EPERM),
      // Rule 5.3: uid 0 is not privilege — without CAP_IPC_OWNER / CAP_SYS_ADMIN root is
      // "other" and no owner.
      snd(kRootNoCaps, "give", EACCES),
      ctl(kRootNoCaps, "give", proto::kIpcStat, EACCES),
      ctl(kRootNoCaps, "give", proto::kIpcRmid, EPERM),
      ctl(kRoot, "give", proto::kIpcStat, kOk),
      ctl(kStranger, "give", proto::kMsgStatAny, kOk),  // Rule 4.3: no permission needed
      ctl(kStranger, "give", proto::kMsgStat, EACCES),
      snd(kOwner, "give", kOk),
      // Rule 4.4 step 6: the owner gives the queue away, no CAP_CHOWN needed...
      set(kOwner, "give", 1001, 1001, 0600, 16384, kOk),
      // ...and, as its creator (cuid), keeps owner rights: access, IPC_SET.
      ctl(kOwner, "give", proto::kIpcStat, kOk),
      snd(kMate, "give", kOk),
      rcv(kOwner, "give", kOk),
      set(kOwner, "give", 1001, 1001, 0060, 16384, kOk),
      // Rule 5.1: owner (uid or cuid) uses the owner triplet only, even when in the group.
      snd(kOwner, "give", EACCES),
      snd(kMate, "give", EACCES),
      // Group means gid or cgid (1000 here), supplementary groups included.
      snd(kSupp, "give", kOk),
      snd(kStranger, "give", EACCES),
      // The new owner passes it on, and is then nobody special.
      set(kMate, "give", 1003, 1003, 0600, 16384, kOk),
      ctl(kMate, "give", proto::kIpcStat, EACCES),
      set(kMate, "give", 1001, 1001, 0600, 16384, EPERM),
      get(kStranger, "give", 0600, kOk),
      ctl(kStranger, "give", proto::kIpcStat, kOk),
      rcv(kStranger, "give", kOk),
      // The creator takes it back (cuid), as group-readable.
      set(kOwner, "give", 1000, 1000, 0640, 16384, kOk),
      set(kStranger, "give", 1003, 1003, 0600, 16384, EPERM),
      // Rule 4.4 step 4: above msgmnb needs CAP_SYS_RESOURCE; lowering never does.
      set(kOwner, "give", 1000, 1000, 0640, 16385, EPERM),
      set(kOwner, "give", 1000, 1000, 0640, 100, kOk),
      set(kRoot, "give", 1000, 1000, 0640, 16385),  // the kernel decides: root's caps here
      rcv(kMate, "give", kOk),
      rcv(kMate, "give", ENOMSG),
      snd(kMate, "give", EACCES),
      ctl(kStranger, "give", proto::kIpcStat, EACCES),
      // Rule 4.5: the creator removes a queue someone else owns.
      get(kOwner, "give2", creat_excl | 0600, kOk),
      set(kOwner, "give2", 1003, 1003, 0600, 16384, kOk),
      snd(kStranger, "give2", kOk),
      ctl(kOwner, "give2", proto::kIpcRmid, kOk),
      snd(kStranger, "give2", EINVAL),  // Rule 1.9: a removed id is EINVAL
      ctl(kMate, "give", proto::kIpcRmid, EPERM),
      ctl(kOwner, "give", proto::kIpcRmid, kOk),
      ctl(kOwner, "give", proto::kIpcStat, EINVAL),
  };
}

struct MatrixQueue {
  std::string name;
  const Actor* creator;
  int mode;
};

const std::vector<MatrixQueue>& matrix_queues() {
  static const std::vector<MatrixQueue> q = {
      {"m0600", &kOwner, 0600}, {"m0640", &kOwner, 0640}, {"m0604", &kOwner, 0604},
      {"m0060", &kOwner, 0060}, {"m0620", &kOwner, 0620}, {"m0000", &kOwner, 0000},
      {"m0460", &kOwner, 0460}, {"m0006", &kOwner, 0006}, {"mate0640", &kMate, 0640},
  };
  return q;
}

// Every actor tries every call on every queue; the kernel decides each answer.
std::vector<Step> matrix() {
  std::vector<Step> steps;
  for (const auto& q : matrix_queues())
    steps.push_back(get(*q.creator, q.name, proto::kIpcCreat | proto::kIpcExcl | q.mode, kOk));
  static constexpr int kGetFlags[] = {0,
                                      0400,
                                      0200,
                                      0040,
                                      0020,
                                      0004,
                                      0002,
                                      0666,
                                      proto::kIpcCreat | 0666,
                                      proto::kIpcCreat | proto::kIpcExcl | 0600};
  for (const Actor* a : kActors) {
    for (const auto& q : matrix_queues()) {
      for (int flg : kGetFlags) steps.push_back(get(*a, q.name, flg));
      steps.push_back(snd(*a, q.name));
      steps.push_back(snd(*a, q.name));
      steps.push_back(rcv(*a, q.name, {}, proto::kMsgCopy));
      steps.push_back(rcv(*a, q.name));
      steps.push_back(ctl(*a, q.name, proto::kIpcStat));
      steps.push_back(ctl(*a, q.name, proto::kMsgStat));
      steps.push_back(ctl(*a, q.name, proto::kMsgStatAny));
      steps.push_back(set(*a, q.name, q.creator->uid, q.creator->gid,
                          static_cast<std::uint32_t>(q.mode), 16384));
      // Owners and root would succeed; they remove the queues below.
      if (a != &kRoot && a != q.creator) steps.push_back(ctl(*a, q.name, proto::kIpcRmid));
    }
  }
  for (const auto& q : matrix_queues())
    steps.push_back(ctl(*q.creator, q.name, proto::kIpcRmid, kOk));
  return steps;
}

// ---------------------------------------------------------------- running

// One OpResult through a pipe (trivially copyable parts, then the text).
struct WireResult {
  long ret;
  int err;
  std::int64_t mtype;
  std::uint64_t data_size;
  bool has_ds;
  bool has_info;
  proto::MsqidDs ds;
  proto::MsgInfo info;
};
static_assert(std::is_trivially_copyable_v<WireResult>);

bool write_all(int fd, const void* p, std::size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t k = ::write(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool read_all(int fd, void* p, std::size_t n) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t k = ::read(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    b += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool send_result(int fd, const OpResult& r) {
  WireResult w{};
  w.ret = r.ret;
  w.err = r.err;
  w.mtype = r.mtype;
  w.data_size = r.data.size();
  w.has_ds = r.ds.has_value();
  w.has_info = r.info.has_value();
  if (r.ds) w.ds = *r.ds;
  if (r.info) w.info = *r.info;
  return write_all(fd, &w, sizeof w) && write_all(fd, r.data.data(), r.data.size());
}

bool receive_result(int fd, OpResult& r) {
  WireResult w{};
  if (!read_all(fd, &w, sizeof w)) return false;
  r = OpResult{};
  r.ret = w.ret;
  r.err = w.err;
  r.mtype = w.mtype;
  r.data.resize(w.data_size);
  if (w.has_ds) r.ds = w.ds;
  if (w.has_info) r.info = w.info;
  return read_all(fd, r.data.data(), r.data.size());
}

struct ScenarioRun {
  std::vector<OpResult> results;
  std::vector<std::size_t> batch_of;  // step -> first step of the child that ran it
  std::map<pid_t, std::size_t> batch_by_pid;
  std::string failure;  // an environment failure, "" when every child did its part
};

// Runs `steps` on `backend`: each run of consecutive steps by one actor in one forked
// child that takes the actor's ids first (and, for the daemon, connects as that actor).
ScenarioRun run(const std::vector<Step>& steps, MsgBackend& backend) {
  ScenarioRun out;
  Names names;
  for (std::size_t first = 0; first < steps.size();) {
    std::size_t end = first;
    while (end < steps.size() && steps[end].who == steps[first].who) ++end;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      out.failure = std::string("pipe2: ") + std::strerror(errno);
      return out;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      out.failure = std::string("fork: ") + std::strerror(errno);
      return out;
    }
    if (pid == 0) {
      ::close(fds[0]);
      if (!become(*steps[first].who)) ::_exit(100);
      for (std::size_t i = first; i < end; ++i) {
        const OpResult r = steps[i].call(backend, names);
        if (!steps[i].defines.empty() && r.ok()) names[steps[i].defines] = static_cast<int>(r.ret);
        if (!send_result(fds[1], r)) ::_exit(101);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    out.batch_by_pid[pid] = first;
    for (std::size_t i = first; i < end; ++i) {
      OpResult r;
      if (!receive_result(fds[0], r)) break;
      if (!steps[i].defines.empty() && r.ok()) names[steps[i].defines] = static_cast<int>(r.ret);
      out.results.push_back(std::move(r));
      out.batch_of.push_back(first);
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.results.size() != end) {
      out.failure = std::string("the child for ") + steps[first].who->name +
                    " failed (wait status " + std::to_string(status) + ")";
      return out;
    }
    first = end;
  }
  return out;
}

// msg_lspid / msg_lrpid name the children, whose pids differ between the runs: compare
// them as "the child that ran step N" (0 stays 0, an unknown pid becomes -1).
void normalize_pids(ScenarioRun& r) {
  auto map = [&r](std::int32_t& pid) {
    if (pid == 0) return;
    auto it = r.batch_by_pid.find(pid);
    pid = it == r.batch_by_pid.end() ? -1 : static_cast<std::int32_t>(it->second) + 1;
  };
  for (auto& res : r.results) {
    if (!res.ds) continue;
    map(res.ds->lspid);
    map(res.ds->lrpid);
  }
}

std::string outcome(const OpResult& r) { return r.ret == -1 ? errno_name(r.err) : "ok"; }

class PermissionsDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CLONE_NEWIPC, setresuid)";
    if (daemon_path().empty()) GTEST_SKIP() << "no sysvmqd binary to test against";
    const std::string err = enter_private_ipc_namespace();
    ASSERT_TRUE(err.empty()) << err;
    std::string why;
    ASSERT_TRUE(daemon_.start(why)) << why;
  }
  void TearDown() override {
    if (const auto status = daemon_.stop()) {
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
    }
    daemon_.remove_dir();
  }

  // Runs `steps` on both sides and compares; the number of steps that differ.
  int compare_runs(const std::vector<Step>& steps, std::map<std::string, int>* kernel_outcomes) {
    KernelBackend kernel;
    DaemonBackend daemon(daemon_.socket_path());
    ScenarioRun k = run(steps, kernel);
    ScenarioRun d = run(steps, daemon);
    EXPECT_EQ(k.failure, "");
    EXPECT_EQ(d.failure, "");
    normalize_pids(k);
    normalize_pids(d);
    int differ = 0;
    const std::size_t n = std::min(k.results.size(), d.results.size());
    EXPECT_EQ(n, steps.size());
    for (std::size_t i = 0; i < n; ++i) {
      const Step& s = steps[i];
      const std::string line = "step " + std::to_string(i) + ": [" + s.who->name + "] " + s.what +
                               "\n  kernel: " + describe(k.results[i]) +
                               "\n  daemon: " + describe(d.results[i]);
      if (s.expect) {
        const int got = k.results[i].ret == -1 ? k.results[i].err : kOk;
        EXPECT_EQ(got, *s.expect) << "the kernel does not answer as the scenario says\n" << line;
      }
      if (const std::string diff = compare(k.results[i], d.results[i]); !diff.empty()) {
        if (++differ <= 10) ADD_FAILURE() << line << "\n  differs in: " << diff;
      }
      if (kernel_outcomes) ++(*kernel_outcomes)[outcome(k.results[i])];
    }
    return differ;
  }

  Daemon daemon_;
};

TEST_F(PermissionsDaemon, OwnerGroupOtherAndGiveAwayAnswerAsTheKernel) {
  EXPECT_EQ(compare_runs(narrated(), nullptr), 0);
}

TEST_F(PermissionsDaemon, EveryUserTriesEveryCallOnEveryModeAsTheKernelAnswers) {
  std::map<std::string, int> seen;
  EXPECT_EQ(compare_runs(matrix(), &seen), 0);
  // The matrix reaches every kind of answer permissions can give.
  for (const char* kind : {"ok", "EACCES", "EPERM", "EEXIST", "ENOMSG"})
    EXPECT_GT(seen[kind], 0) << kind;
}

}  // namespace
}  // namespace sysvmq::test
