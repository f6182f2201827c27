#include "tests/support/kernel_oracle.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "tests/support/identity.hpp"

namespace sysvmq::test {

namespace {

// A struct msgbuf with room for any test message; aligned for the leading long.
struct alignas(long) MsgBuffer {
  long mtype;
  std::byte text[kMaxTestMessage];
};

MsgBuffer& scratch() {
  static thread_local MsgBuffer buffer;
  return buffer;
}

// mtype readable at the end of one page, the text on the next, unreadable page: the
// kernel's get_user(mtype) succeeds and load_msg() faults (Rule 2.1 step 4).
void* text_fault_msgp() {
  static void* msgp = [] {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return static_cast<void*>(nullptr);
    char* base = static_cast<char*>(p);
    mprotect(base + page, page, PROT_NONE);
    long one = 1;
    std::memcpy(base + page - sizeof(long), &one, sizeof one);
    return static_cast<void*>(base + page - sizeof(long));
  }();
  return msgp;
}

proto::MsqidDs from_kernel(const struct msqid_ds& k) {
  proto::MsqidDs ds;
  ds.key = k.msg_perm.__key;
  ds.uid = k.msg_perm.uid;
  ds.gid = k.msg_perm.gid;
  ds.cuid = k.msg_perm.cuid;
  ds.cgid = k.msg_perm.cgid;
  ds.mode = k.msg_perm.mode;
  ds.seq = k.msg_perm.__seq;
  ds.stime = k.msg_stime;
  ds.rtime = k.msg_rtime;
  ds.ctime = k.msg_ctime;
  ds.cbytes = k.__msg_cbytes;
  ds.qnum = k.msg_qnum;
  ds.qbytes = k.msg_qbytes;
  ds.lspid = k.msg_lspid;
  ds.lrpid = k.msg_lrpid;
  return ds;
}

proto::MsgInfo from_kernel(const struct msginfo& k) {
  proto::MsgInfo mi;
  mi.msgpool = k.msgpool;
  mi.msgmap = k.msgmap;
  mi.msgmax = k.msgmax;
  mi.msgmnb = k.msgmnb;
  mi.msgmni = k.msgmni;
  mi.msgssz = k.msgssz;
  mi.msgtql = k.msgtql;
  mi.msgseg = k.msgseg;
  return mi;
}

OpResult from_syscall(long ret) {
  OpResult r;
  r.ret = ret;
  if (ret == -1) r.err = errno;
  return r;
}

bool fills_ds(int cmd) {
  return cmd == proto::kIpcStat || cmd == proto::kMsgStat || cmd == proto::kMsgStatAny;
}
bool fills_info(int cmd) { return cmd == proto::kIpcInfo || cmd == proto::kMsgInfo; }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return in ? ss.str() : std::string{};
}

}  // namespace

// ---------------------------------------------------------------- namespace and limits

std::string enter_private_ipc_namespace() {
  if (unshare(CLONE_NEWIPC) != 0)
    return std::string("unshare(CLONE_NEWIPC): ") + std::strerror(errno);
  return {};
}

proto::Limits read_ipc_limits() {
  proto::Limits l;
  auto get = [](const char* file, std::int32_t fallback) {
    const std::string s = read_file(std::string("/proc/sys/kernel/") + file);
    return s.empty() ? fallback : static_cast<std::int32_t>(std::stol(s));
  };
  l.msgmax = get("msgmax", l.msgmax);
  l.msgmnb = get("msgmnb", l.msgmnb);
  l.msgmni = get("msgmni", l.msgmni);
  return l;
}

bool write_ipc_limits(const proto::Limits& limits) {
  auto put = [](const char* file, std::int32_t v) {
    std::FILE* f = std::fopen((std::string("/proc/sys/kernel/") + file).c_str(), "w");
    if (f == nullptr) return false;
    const bool wrote = std::fprintf(f, "%d\n", v) > 0;
    return (std::fclose(f) == 0) && wrote;
  };
  const bool ok =
      put("msgmax", limits.msgmax) && put("msgmnb", limits.msgmnb) && put("msgmni", limits.msgmni);
  return ok && read_ipc_limits() == proto::Limits{limits.msgmax, limits.msgmnb, limits.msgmni, 0};
}

// ---------------------------------------------------------------- calls backends

OpResult CallsBackend::msgget(std::int32_t key, int msgflg) {
  return from_syscall(calls_.msgget(static_cast<key_t>(key), msgflg));
}

OpResult CallsBackend::msgsnd(const SndArgs& a) {
  void* msgp = nullptr;
  if (a.text_fault) {
    msgp = text_fault_msgp();
    std::memcpy(msgp, &a.mtype, sizeof(long));
  } else {
    MsgBuffer& b = scratch();
    b.mtype = static_cast<long>(a.mtype);
    // An empty text's data() may be null, which memcpy must never be given.
    if (!a.text.empty()) std::memcpy(b.text, a.text.data(), std::min(a.text.size(), kMaxTestMessage));
    msgp = &b;
  }
  // A negative msgsz arrives as a huge size_t, as from a C caller.
  return from_syscall(calls_.msgsnd(a.msqid, msgp, static_cast<std::size_t>(a.msgsz), a.msgflg));
}

OpResult CallsBackend::msgrcv(const RcvArgs& a) {
  MsgBuffer& b = scratch();
  b.mtype = LONG_MIN;  // shows whether the call wrote mtype
  OpResult r = from_syscall(calls_.msgrcv(a.msqid, &b, static_cast<std::size_t>(a.msgsz),
                                          static_cast<long>(a.msgtyp), a.msgflg));
  if (r.ret >= 0) {
    r.mtype = b.mtype;
    r.data.assign(b.text,
                  b.text + std::min<std::size_t>(static_cast<std::size_t>(r.ret), kMaxTestMessage));
  }
  return r;
}

OpResult CallsBackend::msgctl(const CtlArgs& a) {
  union {
    struct msqid_ds ds;
    struct msginfo info;
  } buf;
  std::memset(&buf, 0, sizeof buf);
  struct msqid_ds* p = &buf.ds;
  if (a.cmd == proto::kIpcSet) {
    if (a.set) {
      buf.ds.msg_perm.uid = a.set->uid;
      buf.ds.msg_perm.gid = a.set->gid;
      buf.ds.msg_perm.mode = a.set->mode;
      buf.ds.msg_qbytes = a.set->qbytes;
    } else {
      p = nullptr;
    }
  }
  OpResult r = from_syscall(calls_.msgctl(a.msqid, a.cmd, p));
  if (r.ret >= 0 && fills_ds(a.cmd)) r.ds = from_kernel(buf.ds);
  if (r.ret >= 0 && fills_info(a.cmd)) r.info = from_kernel(buf.info);
  return r;
}

namespace {

// The kernel's calls, without glibc's wrappers in between.
int raw_msgget(key_t key, int msgflg) { return static_cast<int>(syscall(SYS_msgget, key, msgflg)); }
int raw_msgsnd(int msqid, const void* msgp, std::size_t msgsz, int msgflg) {
  return static_cast<int>(syscall(SYS_msgsnd, msqid, msgp, msgsz, msgflg));
}
ssize_t raw_msgrcv(int msqid, void* msgp, std::size_t msgsz, long msgtyp, int msgflg) {
  return static_cast<ssize_t>(syscall(SYS_msgrcv, msqid, msgp, msgsz, msgtyp, msgflg));
}
int raw_msgctl(int msqid, int cmd, struct msqid_ds* buf) {
  return static_cast<int>(syscall(SYS_msgctl, msqid, cmd, buf));
}

}  // namespace

KernelBackend::KernelBackend()
    : CallsBackend("kernel", MsgCalls{raw_msgget, raw_msgsnd, raw_msgrcv, raw_msgctl}) {}

// ---------------------------------------------------------------- core backend

core::TimePoint coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return core::TimePoint{std::chrono::seconds{ts.tv_sec}};
}

CoreBackend::CoreBackend(core::Registry& registry, CallerSource who, Clock now)
    : registry_(registry),
      who_(who ? std::move(who) : CallerSource{caller_from_process}),
      now_(std::move(now)) {}

namespace {
template <class T>
OpResult answer_of(const core::Outcome<T>& o, core::WaiterId& last_waiter) {
  OpResult r;
  if (o.parked()) {
    r.parked = true;
    last_waiter = o.waiter();
    return r;
  }
  if (!o.ok()) return OpResult::error(static_cast<int>(o.error()));
  return r;
}
}  // namespace

OpResult CoreBackend::msgget(std::int32_t key, int msgflg) {
  auto o = registry_.msgget(who_(), key, msgflg, now_());
  OpResult r = answer_of(o, last_waiter_);
  if (o.ok()) r.ret = o.value();
  return r;
}

OpResult CoreBackend::msgsnd(const SndArgs& a) { return msgsnd_as(who_(), a); }
OpResult CoreBackend::msgrcv(const RcvArgs& a) { return msgrcv_as(who_(), a); }

OpResult CoreBackend::msgsnd_as(const core::Caller& who, const SndArgs& a) {
  core::MsgsndArgs args;
  args.msqid = a.msqid;
  args.mtype = a.mtype;
  args.msgsz = a.msgsz;
  args.msgflg = a.msgflg;
  args.text = a.text;
  // A client library reads msgsz bytes of text; with none to read nothing can fault.
  args.text_fault = a.text_fault && a.msgsz > 0;
  auto o = registry_.msgsnd(who, std::move(args), now_());
  return answer_of(o, last_waiter_);
}

OpResult CoreBackend::msgrcv_as(const core::Caller& who, const RcvArgs& a) {
  core::MsgrcvArgs args;
  args.msqid = a.msqid;
  args.msgsz = a.msgsz;
  args.msgtyp = a.msgtyp;
  args.msgflg = a.msgflg;
  auto o = registry_.msgrcv(who, args, now_());
  OpResult r = answer_of(o, last_waiter_);
  if (o.ok()) {
    r.ret = static_cast<long>(o.value().text.size());
    r.mtype = o.value().mtype;
    r.data = o.value().text;
  }
  return r;
}

OpResult CoreBackend::msgctl(const CtlArgs& a) {
  core::MsgctlArgs args;
  args.msqid = a.msqid;
  args.cmd = a.cmd;
  args.set = a.set;
  args.buf_fault = a.cmd == proto::kIpcSet && !a.set;
  auto o = registry_.msgctl(who_(), args, now_());
  OpResult r = answer_of(o, last_waiter_);
  if (o.ok()) {
    r.ret = o.value().ret;
    r.ds = o.value().ds;
    r.info = o.value().info;
  }
  return r;
}

OpResult from_completion(const core::Completion& c, bool receiver) {
  if (c.error != core::Errc::ok) return OpResult::error(static_cast<int>(c.error));
  OpResult r;
  if (receiver && c.received) {
    r.ret = static_cast<long>(c.received->text.size());
    r.mtype = c.received->mtype;
    r.data = c.received->text;
  }
  return r;
}

// ---------------------------------------------------------------- descriptions

std::string errno_name(int e) {
  const auto name = proto::errc_name(static_cast<proto::Errc>(e));
  if (name != "E?") return std::string(name);
  const char* n = strerrorname_np(e);
  return n ? n : "errno " + std::to_string(e);
}

std::string msgflg_name(int flg) {
  std::string s;
  auto add = [&s](const char* n) { s += s.empty() ? n : std::string("|") + n; };
  struct Flag {
    int bit;
    const char* name;
  };
  static constexpr Flag kFlags[] = {
      {proto::kIpcCreat, "IPC_CREAT"},   {proto::kIpcExcl, "IPC_EXCL"},
      {proto::kIpcNowait, "IPC_NOWAIT"}, {proto::kMsgNoerror, "MSG_NOERROR"},
      {proto::kMsgExcept, "MSG_EXCEPT"}, {proto::kMsgCopy, "MSG_COPY"}};
  int rest = flg;
  for (const Flag& f : kFlags) {
    if (flg & f.bit) {
      add(f.name);
      rest &= ~f.bit;
    }
  }
  if (rest != 0 || s.empty()) {
    char oct[24];
    std::snprintf(oct, sizeof oct, "0%o", static_cast<unsigned>(rest));
    add(oct);
  }
  return s;
}

std::string cmd_name(int cmd) {
  const bool ipc64 = cmd >= 0 && (cmd & proto::kIpc64);
  std::string base;
  switch (ipc64 ? cmd & ~proto::kIpc64 : cmd) {
    case proto::kIpcRmid:
      base = "IPC_RMID";
      break;
    case proto::kIpcSet:
      base = "IPC_SET";
      break;
    case proto::kIpcStat:
      base = "IPC_STAT";
      break;
    case proto::kIpcInfo:
      base = "IPC_INFO";
      break;
    case proto::kMsgStat:
      base = "MSG_STAT";
      break;
    case proto::kMsgInfo:
      base = "MSG_INFO";
      break;
    case proto::kMsgStatAny:
      base = "MSG_STAT_ANY";
      break;
    default:
      return std::to_string(cmd);
  }
  return ipc64 ? base + "|IPC_64" : base;
}

std::string msgtyp_name(std::int64_t t) {
  if (t == LONG_MIN) return "LONG_MIN";
  if (t == LONG_MAX) return "LONG_MAX";
  return std::to_string(t);
}

std::string describe(const proto::MsqidDs& d) {
  char b[400];
  std::snprintf(b, sizeof b,
                "{key=%#x uid=%u gid=%u cuid=%u cgid=%u mode=0%o seq=%u stime=%lld rtime=%lld "
                "ctime=%lld cbytes=%llu qnum=%llu qbytes=%llu lspid=%d lrpid=%d}",
                static_cast<unsigned>(d.key), d.uid, d.gid, d.cuid, d.cgid, d.mode, d.seq,
                static_cast<long long>(d.stime), static_cast<long long>(d.rtime),
                static_cast<long long>(d.ctime), static_cast<unsigned long long>(d.cbytes),
                static_cast<unsigned long long>(d.qnum), static_cast<unsigned long long>(d.qbytes),
                d.lspid, d.lrpid);
  return b;
}

std::string describe(const proto::MsgInfo& m) {
  char b[200];
  std::snprintf(
      b, sizeof b,
      "{msgpool=%d msgmap=%d msgmax=%d msgmnb=%d msgmni=%d msgssz=%d msgtql=%d msgseg=%u}",
      m.msgpool, m.msgmap, m.msgmax, m.msgmnb, m.msgmni, m.msgssz, m.msgtql,
      static_cast<unsigned>(m.msgseg));
  return b;
}

std::string describe(const OpResult& r) {
  if (r.parked) return "parked (no answer)";
  if (r.ret == -1) return "-1 " + errno_name(r.err);
  std::string s = std::to_string(r.ret);
  if (r.mtype != 0 || !r.data.empty()) {
    s += " mtype=" + std::to_string(r.mtype) + " text=";
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < std::min<std::size_t>(r.data.size(), 12); ++i) {
      const auto v = static_cast<unsigned>(r.data[i]);
      s += kHex[v >> 4];
      s += kHex[v & 15];
    }
    if (r.data.size() > 12) s += "...";
  }
  if (r.ds) s += " " + describe(*r.ds);
  if (r.info) s += " " + describe(*r.info);
  return s;
}

std::string describe_get(std::int32_t key, int msgflg) {
  char b[48];
  std::snprintf(b, sizeof b, "msgget(key=%#x, ", static_cast<unsigned>(key));
  return (key == 0 ? std::string("msgget(IPC_PRIVATE, ") : std::string(b)) + msgflg_name(msgflg) +
         ")";
}

std::string describe_snd(const SndArgs& a) {
  return "msgsnd(id=" + std::to_string(a.msqid) + ", mtype=" + msgtyp_name(a.mtype) +
         ", msgsz=" + std::to_string(a.msgsz) + (a.text_fault ? " (text unreadable)" : "") + ", " +
         msgflg_name(a.msgflg) + ")";
}

std::string describe_rcv(const RcvArgs& a) {
  return "msgrcv(id=" + std::to_string(a.msqid) + ", msgsz=" + std::to_string(a.msgsz) +
         ", msgtyp=" + msgtyp_name(a.msgtyp) + ", " + msgflg_name(a.msgflg) + ")";
}

std::string describe_ctl(const CtlArgs& a) {
  std::string s = "msgctl(id=" + std::to_string(a.msqid) + ", " + cmd_name(a.cmd);
  if (a.cmd == proto::kIpcSet) {
    if (!a.set) {
      s += ", NULL";
    } else {
      char b[120];
      std::snprintf(b, sizeof b, ", {uid=%d gid=%d mode=0%o qbytes=%llu}",
                    static_cast<int>(a.set->uid), static_cast<int>(a.set->gid), a.set->mode,
                    static_cast<unsigned long long>(a.set->qbytes));
      s += b;
    }
  }
  return s + ")";
}

// ---------------------------------------------------------------- comparison

namespace {
bool same_time(std::int64_t k, std::int64_t c, std::chrono::seconds slack) {
  if ((k == 0) != (c == 0)) return false;
  return (k > c ? k - c : c - k) <= slack.count();
}
}  // namespace

std::string compare(const OpResult& k, const OpResult& c, std::chrono::seconds slack) {
  if (k.parked != c.parked || k.ret != c.ret || k.err != c.err) return "return value / errno";
  if (k.mtype != c.mtype) return "mtype";
  if (k.data != c.data) return "message text";
  if (k.info != c.info) return "msginfo";
  if (k.ds.has_value() != c.ds.has_value()) return "msqid_ds presence";
  if (!k.ds) return {};
  const proto::MsqidDs& a = *k.ds;
  const proto::MsqidDs& b = *c.ds;
  if (a.key != b.key) return "msg_perm.__key";
  if (a.uid != b.uid || a.gid != b.gid) return "msg_perm.uid/gid";
  if (a.cuid != b.cuid || a.cgid != b.cgid) return "msg_perm.cuid/cgid";
  if (a.mode != b.mode) return "msg_perm.mode";
  if (a.seq != b.seq) return "msg_perm.__seq";
  if (a.cbytes != b.cbytes) return "msg_cbytes";
  if (a.qnum != b.qnum) return "msg_qnum";
  if (a.qbytes != b.qbytes) return "msg_qbytes";
  if (a.lspid != b.lspid) return "msg_lspid";
  if (a.lrpid != b.lrpid) return "msg_lrpid";
  if (!same_time(a.stime, b.stime, slack)) return "msg_stime";
  if (!same_time(a.rtime, b.rtime, slack)) return "msg_rtime";
  if (!same_time(a.ctime, b.ctime, slack)) return "msg_ctime";
  return {};
}

// ---------------------------------------------------------------- parked tasks

bool is_parked_in(pid_t pid, pid_t tid, Blocking which) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/";
  const std::string stat = read_file(dir + "stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'S')
    return false;
  const std::string wchan = read_file(dir + "wchan");
  const char* fn = which == Blocking::msgsnd ? "do_msgsnd" : "do_msgrcv";
  if (!wchan.empty() && wchan != "0") return wchan.find(fn) != std::string::npos;
  // wchan hidden: the syscall the task sleeps in (x86_64 numbers).
  const std::string sc = read_file(dir + "syscall");
  const long nr = which == Blocking::msgsnd ? SYS_msgsnd : SYS_msgrcv;
  return sc.rfind(std::to_string(nr) + " ", 0) == 0;
}

}  // namespace sysvmq::test
