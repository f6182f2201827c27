// differential.cpp: see differential.hpp. The generator's choices, the seeds and the
// audits are the kernel-vs-core test's own, moved here unchanged so that every
// Candidate faces the very same calls.
#include "tests/support/differential.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/identity.hpp"

namespace sysvmq::test {
namespace {

using proto::kIpcCreat;
using proto::kIpcExcl;
using proto::kIpcNowait;
using proto::kMsgCopy;
using proto::kMsgExcept;
using proto::kMsgNoerror;

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::strtol(v, nullptr, 10) : fallback;
}

// ---------------------------------------------------------------- operations

enum class OpKind { become, set_limits, msgget, msgsnd, msgrcv, msgctl };
enum class FollowUp { none, info, stat, churn };  // how the generator follows up a result

struct Op {
  OpKind kind = OpKind::msgget;
  Who who = Who::root;   // become
  proto::Limits limits;  // set_limits
  std::int32_t key = 0;  // msgget
  int msgflg = 0;        // msgget
  SndArgs snd;
  RcvArgs rcv;
  CtlArgs ctl;
  FollowUp follow_up = FollowUp::none;
};

std::string describe(const Op& op) {
  switch (op.kind) {
    case OpKind::become:
      return std::string("become ") + std::string(who_name(op.who));
    case OpKind::set_limits:
      return "set limits msgmax=" + std::to_string(op.limits.msgmax) +
             " msgmnb=" + std::to_string(op.limits.msgmnb) +
             " msgmni=" + std::to_string(op.limits.msgmni);
    case OpKind::msgget:
      return describe_get(op.key, op.msgflg);
    case OpKind::msgsnd:
      return describe_snd(op.snd);
    case OpKind::msgrcv:
      return describe_rcv(op.rcv);
    case OpKind::msgctl:
      return describe_ctl(op.ctl);
  }
  return "?";
}

bool is_call(const Op& op) { return op.kind != OpKind::become && op.kind != OpKind::set_limits; }

// ---------------------------------------------------------------- generator

class Generator {
 public:
  Generator(std::uint64_t seed, bool limits_writable)
      : rng_(seed), limits_writable_(limits_writable) {}

  // The seed's opening: every fourth seed runs with small limits (ENOSPC, tiny
  // msgmax/msgmnb), when this namespace's sysctls can be written.
  std::vector<Op> opening(std::uint64_t seed) {
    std::vector<Op> ops;
    if (limits_writable_ && seed % 4 == 3) ops.push_back(limits_op());
    return ops;
  }

  Op next() {
    if (!pending_.empty()) {
      Op op = pending_.front();
      pending_.pop_front();
      return op;
    }
    if (in_audit_) {
      in_audit_ = false;
      return become(audit_return_to_);
    }
    if (calls_ > 0 && calls_ % 100 == 0 && last_audit_ != calls_) {
      last_audit_ = calls_;
      start_audit();
      return next();
    }
    const unsigned r = below(1000);
    if (r < 8) {
      // A burst of create-and-remove: the cyclic slot cursor wraps past 64 and the
      // sequence number grows (Rule 1.8), so ids and MSG_STAT answers carry a seq.
      for (unsigned n = 8 + below(40); n > 0; --n) {
        Op get;
        get.kind = OpKind::msgget;
        get.msgflg = kIpcCreat | 0600;
        get.follow_up = FollowUp::churn;
        pending_.push_back(get);
      }
      return next();
    }
    if (r < 70) return become(pick_who());
    if (r < 75 && limits_writable_) return limits_op();
    ++calls_;
    return call_op();
  }

  Op call_op() {
    const unsigned r = below(100);
    if (r < 25) return msgget_op();
    if (r < 55) return msgsnd_op();
    if (r < 78) return msgrcv_op();
    return msgctl_op();
  }

  // The kernel's answer to `op` (the reference; the candidate's equals it or the run stops).
  void observe(const Op& op, const OpResult& k) {
    if (op.kind == OpKind::become) who_ = op.who;
    if (op.kind == OpKind::set_limits) limits_ = op.limits;
    if (op.kind == OpKind::msgget && k.ok()) add_live(static_cast<int>(k.ret));
    if (op.kind == OpKind::msgctl && k.ok()) {
      if (op.ctl.cmd == proto::kMsgStat || op.ctl.cmd == proto::kMsgStatAny)
        add_live(static_cast<int>(k.ret));
      if (op.ctl.cmd == proto::kIpcRmid) {
        std::erase(live_, op.ctl.msqid);
        dead_.push_back(op.ctl.msqid);
      }
    }
    if (op.follow_up == FollowUp::churn && k.ok()) {
      pending_.push_front(ctl_op(static_cast<int>(k.ret), proto::kIpcRmid));
    }
    if (op.follow_up == FollowUp::info && k.ok()) {
      for (long slot = 0; slot <= k.ret + 1; ++slot) {
        Op s = ctl_op(static_cast<int>(slot), proto::kMsgStatAny);
        s.follow_up = FollowUp::stat;
        pending_.push_back(s);
      }
    }
    if (op.follow_up == FollowUp::stat && k.ok() && k.ds) {
      const auto qnum = static_cast<std::int64_t>(std::min<std::uint64_t>(k.ds->qnum, 40));
      for (std::int64_t pos = 0; pos <= qnum; ++pos) {
        Op c;
        c.kind = OpKind::msgrcv;
        c.rcv = RcvArgs{static_cast<int>(k.ret), std::int64_t{kMaxTestMessage} - 8, pos,
                        kIpcNowait | kMsgCopy};
        pending_.push_back(c);
      }
    }
  }

  // The seed's closing: an audit, then every queue removed by root, then MSG_INFO.
  std::vector<Op> closing() {
    std::vector<Op> ops{become(Who::root)};
    Op info = ctl_op(0, proto::kMsgInfo);
    info.follow_up = FollowUp::info;
    ops.push_back(info);
    return ops;
  }
  std::vector<Op> removal() const {
    std::vector<Op> ops;
    for (int id : live_) ops.push_back(ctl_op(id, proto::kIpcRmid));
    ops.push_back(ctl_op(0, proto::kMsgInfo));
    return ops;
  }
  bool has_pending() const { return !pending_.empty(); }
  Op pop_pending() {
    Op op = pending_.front();
    pending_.pop_front();
    return op;
  }

 private:
  unsigned below(unsigned n) { return static_cast<unsigned>(rng_() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T, std::size_t N>
  T pick(const T (&a)[N]) {
    return a[below(N)];
  }

  static Op become(Who w) {
    Op op;
    op.kind = OpKind::become;
    op.who = w;
    return op;
  }

  static Op ctl_op(int id, int cmd) {
    Op op;
    op.kind = OpKind::msgctl;
    op.ctl = CtlArgs{id, cmd, std::nullopt};
    return op;
  }

  void add_live(int id) {
    if (std::find(live_.begin(), live_.end(), id) == live_.end()) live_.push_back(id);
    std::erase(dead_, id);
  }

  void start_audit() {
    audit_return_to_ = who_;
    in_audit_ = true;
    pending_.push_back(become(Who::root));
    Op info = ctl_op(0, proto::kMsgInfo);
    info.follow_up = FollowUp::info;
    pending_.push_back(info);
  }

  // Root a third of the time, so that enough calls succeed to build up state.
  Who pick_who() { return chance(33) ? Who::root : kAllWho[below(std::size(kAllWho))]; }

  Op limits_op() {
    static constexpr std::int32_t kMax[] = {0, 16, 64, 200, 8192, 16000};
    static constexpr std::int32_t kMnb[] = {0, 5, 100, 300, 16384, 20000};
    static constexpr std::int32_t kMni[] = {1, 2, 3, 8, 32000, 32000};
    Op op;
    op.kind = OpKind::set_limits;
    op.limits.msgmax = pick(kMax);
    op.limits.msgmnb = pick(kMnb);
    op.limits.msgmni = pick(kMni);
    return op;
  }

  int pick_id() {
    const unsigned r = below(100);
    if (r < 76 && !live_.empty()) return live_[below(static_cast<unsigned>(live_.size()))];
    if (r < 85 && !dead_.empty()) return dead_[below(static_cast<unsigned>(dead_.size()))];
    if (r < 89) return chance(70) ? -1 : INT_MIN + static_cast<int>(below(3));
    if (r < 95) return static_cast<int>(below(72));
    return static_cast<int>(below(4)) * proto::kIpcmni + static_cast<int>(below(72));
  }

  Op msgget_op() {
    static constexpr std::int32_t kKeys[] = {
        0, 0, 0x1234, 0x5678, static_cast<std::int32_t>(0xdeadbeef), 1, INT_MIN};
    static constexpr int kModes[] = {0,    0600, 0644, 0200, 0040, 0400, 0004, 0666,
                                     0777, 0604, 0060, 0020, 0620, 0460, 0002, 0006};
    Op op;
    op.kind = OpKind::msgget;
    op.key = pick(kKeys);
    int flg = chance(12) ? static_cast<int>(below(01000)) : pick(kModes);
    if (chance(70)) flg |= kIpcCreat;
    if (chance(30)) flg |= kIpcExcl;
    if (chance(5)) flg |= kIpcNowait;
    if (chance(3)) flg |= 01000000;  // bits msgget ignores (Rule 1.5)
    op.msgflg = flg;
    return op;
  }

  std::int64_t pick_size() {
    const auto msgmax = static_cast<std::int64_t>(limits_.msgmax);
    const unsigned r = below(100);
    if (r < 45) return below(17);
    if (r < 65) return below(129);
    if (r < 75)
      return msgmax > 0 ? static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(msgmax + 1))
                        : 0;
    if (r < 82) return msgmax;
    if (r < 89) return msgmax + 1;  // EINVAL (Rule 2.1 step 2)
    if (r < 94) return -1;          // (size_t)-1 for the kernel
    return chance(50) ? 8192 : 8193;
  }

  Op msgsnd_op() {
    static constexpr std::int64_t kTypes[] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 0, -1, LONG_MAX};
    Op op;
    op.kind = OpKind::msgsnd;
    op.snd.msqid = pick_id();
    op.snd.mtype = chance(92) ? 1 + below(6) : pick(kTypes);
    op.snd.msgsz = pick_size();
    // Never block: the test is single-threaded.
    op.snd.msgflg = kIpcNowait | (chance(5) ? kMsgNoerror : 0);
    if (op.snd.msgsz >= 0 && op.snd.msgsz <= static_cast<std::int64_t>(kMaxTestMessage)) {
      op.snd.text.resize(static_cast<std::size_t>(op.snd.msgsz));
      for (auto& b : op.snd.text) b = static_cast<std::byte>(rng_());
    }
    if (op.snd.msgsz > 0 && chance(3)) op.snd.text_fault = true;
    return op;
  }

  Op msgrcv_op() {
    static constexpr std::int64_t kTypes[] = {0,  1,  2,  3,  4,  5,  6,        7,        -1,
                                              -2, -3, -4, -5, -6, -7, LONG_MIN, LONG_MAX, 0};
    Op op;
    op.kind = OpKind::msgrcv;
    op.rcv.msqid = pick_id();
    int flg = kIpcNowait;
    if (chance(30)) flg |= kMsgNoerror;
    if (chance(25)) flg |= kMsgExcept;
    if (chance(15)) flg |= kMsgCopy;
    // MSG_COPY without IPC_NOWAIT is EINVAL before anything could block (Rule 3.1).
    if (chance(4)) flg = (flg | kMsgCopy) & ~kIpcNowait;
    if (chance(2)) flg |= 0200000;  // a bit msgrcv does not define: ignored
    op.rcv.msgflg = flg;
    op.rcv.msgtyp =
        (flg & kMsgCopy) && chance(75) ? static_cast<std::int64_t>(below(7)) - 1 : pick(kTypes);
    const unsigned r = below(100);
    if (r < 10)
      op.rcv.msgsz = 0;
    else if (r < 50)
      op.rcv.msgsz = 1 + below(16);
    else if (r < 70)
      op.rcv.msgsz = below(201);
    else if (r < 80)
      op.rcv.msgsz = 10000;
    else if (r < 85)
      op.rcv.msgsz = limits_.msgmax;
    else if (r < 88)
      op.rcv.msgsz = std::int64_t{1} << 40;  // the kernel writes only the message
    else if (r < 90)
      op.rcv.msgsz = LONG_MAX;
    else if (r < 96)
      op.rcv.msgsz = -1;
    else
      op.rcv.msgsz = 8192;
    return op;
  }

  std::uint32_t pick_owner() {
    static constexpr std::uint32_t kIds[] = {0, 1000, 1001, 1002, 1000, 0, 65534, 4000000000u};
    return chance(6) ? static_cast<std::uint32_t>(-1) : pick(kIds);
  }

  Op msgctl_op() {
    const unsigned r = below(100);
    Op op;
    op.kind = OpKind::msgctl;
    op.ctl.msqid = pick_id();
    if (r < 22) {
      op.ctl.cmd = proto::kIpcStat;
    } else if (r < 40) {
      op.ctl.cmd = proto::kIpcSet;
      if (!chance(4)) {
        static constexpr std::uint32_t kModes[] = {0600, 0666, 0644,  0400, 0200, 0060,
                                                   0006, 0,    07777, 0777, 0640, 0604};
        const auto mnb = static_cast<std::uint64_t>(limits_.msgmnb);
        const std::uint64_t kQbytes[] = {0, 1, 5, 10, 30, 100, 16384, 16385, 100000, mnb, mnb + 1};
        proto::MsqidSet s;
        s.uid = pick_owner();
        s.gid = pick_owner();
        s.mode = chance(15) ? static_cast<std::uint32_t>(below(010000)) : pick(kModes);
        s.qbytes = chance(20) ? below(300) : pick(kQbytes);
        op.ctl.set = s;
      }
    } else if (r < 52) {
      op.ctl.cmd = proto::kIpcRmid;
    } else if (r < 56) {
      op.ctl.cmd = proto::kIpcInfo;
    } else if (r < 62) {
      op.ctl.cmd = proto::kMsgInfo;
    } else if (r < 92) {
      op.ctl.cmd = chance(50) ? proto::kMsgStat : proto::kMsgStatAny;
      if (chance(60)) op.ctl.msqid = static_cast<int>(below(70));  // a slot index
    } else {
      static constexpr int kBad[] = {-1, 4,      proto::kIpcStat | proto::kIpc64, proto::kIpc64, 14,
                                     10, INT_MIN};
      op.ctl.cmd = pick(kBad);
    }
    if ((op.ctl.cmd == proto::kIpcInfo || op.ctl.cmd == proto::kMsgInfo) && chance(50))
      op.ctl.msqid = chance(20) ? -1 : static_cast<int>(below(100000));
    return op;
  }

  std::mt19937_64 rng_;
  bool limits_writable_;
  proto::Limits limits_;
  Who who_ = Who::root;
  std::vector<int> live_;
  std::vector<int> dead_;
  std::deque<Op> pending_;
  bool in_audit_ = false;
  Who audit_return_to_ = Who::root;
  int last_audit_ = 0;  // calls_ when the last audit started
  int calls_ = 0;
};

// ---------------------------------------------------------------- runner

struct Step {
  Op op;
  Who who = Who::root;  // identity the op ran under
  OpResult kernel;
  OpResult other;    // the candidate's answer
  std::string diff;  // "" when the answers agree
};

// One namespace and one Candidate, side by side. Construct as root.
class Runner {
 public:
  explicit Runner(const DifferentialOptions& options) : options_(options) {}

  // "" when ready; otherwise why the kernel or the candidate could not start.
  std::string start() {
    ids_.restore_root();
    std::string err = enter_private_ipc_namespace();
    if (!err.empty()) return err;
    candidate_ = options_.make_candidate();
    err = candidate_->start(read_ipc_limits());
    return err.empty() ? err : options_.candidate_name + ": " + err;
  }

  // Runs `op`; false if the environment failed (identity switch, sysctl write, the
  // candidate refusing new limits), with `why` set.
  bool run(const Op& op, Step& step, std::string& why) {
    step.op = op;
    step.who = ids_.current();
    switch (op.kind) {
      case OpKind::become:
        if (ids_.become(op.who)) return true;
        why = std::strerror(errno);
        return false;
      case OpKind::set_limits: {
        const Who back = ids_.current();
        bool ok = ids_.restore_root() && write_ipc_limits(op.limits);
        if (!ok) why = std::string("sysctl: ") + std::strerror(errno);
        const std::string err = candidate_->set_limits(
            proto::Limits{op.limits.msgmax, op.limits.msgmnb, op.limits.msgmni, 0});
        if (!err.empty()) {
          why = options_.candidate_name + ": " + err;
          ok = false;
        }
        return ids_.become(back) && ok;
      }
      case OpKind::msgget:
        step.kernel = kernel_.msgget(op.key, op.msgflg);
        step.other = candidate_->backend().msgget(op.key, op.msgflg);
        break;
      case OpKind::msgsnd:
        step.kernel = kernel_.msgsnd(op.snd);
        step.other = candidate_->backend().msgsnd(op.snd);
        break;
      case OpKind::msgrcv:
        step.kernel = kernel_.msgrcv(op.rcv);
        step.other = candidate_->backend().msgrcv(op.rcv);
        break;
      case OpKind::msgctl:
        step.kernel = kernel_.msgctl(op.ctl);
        step.other = candidate_->backend().msgctl(op.ctl);
        break;
    }
    step.diff = compare(step.kernel, step.other);
    return true;
  }

  // Removes every kernel queue of the namespace left behind, as root, and ends the
  // candidate (a daemon is stopped and waited for).
  void cleanup() {
    ids_.restore_root();
    OpResult info = kernel_.msgctl(CtlArgs{0, proto::kMsgInfo, std::nullopt});
    for (long slot = 0; info.ok() && slot <= info.ret; ++slot) {
      OpResult st =
          kernel_.msgctl(CtlArgs{static_cast<int>(slot), proto::kMsgStatAny, std::nullopt});
      if (st.ok())
        (void)kernel_.msgctl(CtlArgs{static_cast<int>(st.ret), proto::kIpcRmid, std::nullopt});
    }
    candidate_.reset();
  }

  std::size_t kernel_queue_count() {
    OpResult info = kernel_.msgctl(CtlArgs{0, proto::kMsgInfo, std::nullopt});
    return info.info ? static_cast<std::size_t>(info.info->msgpool) : 0;
  }

 private:
  const DifferentialOptions& options_;
  IdentityScope ids_;
  KernelBackend kernel_;
  std::unique_ptr<Candidate> candidate_;
};

// Whether this namespace's limits sysctls can be written (not when /proc is read-only).
bool limits_writable() {
  IdentityScope ids;
  ids.restore_root();
  if (!enter_private_ipc_namespace().empty()) return false;
  return write_ipc_limits(read_ipc_limits());
}

std::string describe(const Step& s, const DifferentialOptions& o) {
  std::string line = "[" + std::string(who_name(s.who)) + "] " + describe(s.op);
  if (is_call(s.op)) {
    std::string label = o.candidate_name + ":";
    label.resize(std::max<std::size_t>(label.size(), 7), ' ');
    line += "\n      kernel: " + describe(s.kernel) + "\n      " + label + " " + describe(s.other);
    if (!s.diff.empty()) line += "\n      differs in: " + s.diff;
  }
  return line;
}

// Replays a fixed op list in a fresh namespace and candidate; the index of the first
// mismatching op, or -1. `steps` receives what ran.
long replay(const std::vector<Op>& ops, const DifferentialOptions& o, std::vector<Step>* steps) {
  Runner r(o);
  if (!r.start().empty()) return -1;
  long bad = -1;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    Step s;
    std::string why;
    if (!r.run(ops[i], s, why)) break;
    if (steps) steps->push_back(s);
    if (!s.diff.empty()) {
      bad = static_cast<long>(i);
      break;
    }
  }
  r.cleanup();
  return bad;
}

// ddmin over the ops up to the first mismatch: a shortest-found list still mismatching.
std::vector<Op> reduce(std::vector<Op> ops, const DifferentialOptions& o) {
  std::size_t n = 2;
  int budget = 4000;
  while (ops.size() >= 2 && budget > 0) {
    const std::size_t chunk = (ops.size() + n - 1) / n;
    bool removed = false;
    for (std::size_t start = 0; start < ops.size() && budget > 0; start += chunk) {
      std::vector<Op> rest(ops.begin(), ops.begin() + static_cast<long>(start));
      rest.insert(rest.end(), ops.begin() + static_cast<long>(std::min(start + chunk, ops.size())),
                  ops.end());
      --budget;
      const long bad = replay(rest, o, nullptr);
      if (bad >= 0) {
        rest.resize(static_cast<std::size_t>(bad) + 1);
        ops = std::move(rest);
        n = std::max<std::size_t>(n - 1, 2);
        removed = true;
        break;
      }
    }
    if (!removed) {
      if (n >= ops.size()) break;
      n = std::min(n * 2, ops.size());
    }
  }
  return ops;
}

struct SeedOutcome {
  bool environment_ok = true;
  std::string environment_error;
  std::vector<Op> ops;      // every op run, up to and including the first mismatch
  std::vector<Step> steps;  // likewise
  long mismatch = -1;
  int calls = 0;
};

// How often each kind of kernel answer came up: shows what the random mix reaches.
using Coverage = std::map<std::string, long>;

std::string outcome_key(const Step& s) {
  std::string k;
  switch (s.op.kind) {
    case OpKind::msgget:
      k = s.op.key == 0 ? "msgget(PRIVATE)" : "msgget(key)";
      break;
    case OpKind::msgsnd:
      k = "msgsnd";
      break;
    case OpKind::msgrcv:
      k = (s.op.rcv.msgflg & kMsgCopy) ? "msgrcv(COPY)" : "msgrcv";
      break;
    case OpKind::msgctl:
      k = cmd_name(s.op.ctl.cmd);
      break;
    default:
      return {};
  }
  return k + " " + (s.kernel.ret == -1 ? errno_name(s.kernel.err) : std::string("ok"));
}

SeedOutcome run_seed(std::uint64_t seed, int ops_per_seed, bool writable,
                     const DifferentialOptions& o, Coverage& coverage) {
  SeedOutcome out;
  Runner r(o);
  if (std::string e = r.start(); !e.empty()) {
    out.environment_ok = false;
    out.environment_error = e;
    r.cleanup();
    return out;
  }
  Generator gen(seed, writable);
  auto run_op = [&](const Op& op) {
    Step s;
    std::string why;
    if (!r.run(op, s, why)) {
      out.environment_ok = false;
      out.environment_error = "environment step failed: " + describe(op) + ": " + why;
      return false;
    }
    out.ops.push_back(op);
    out.steps.push_back(s);
    if (is_call(op)) {
      ++out.calls;
      ++coverage[outcome_key(s)];
    }
    gen.observe(op, s.kernel);
    if (!s.diff.empty()) {
      out.mismatch = static_cast<long>(out.ops.size()) - 1;
      return false;
    }
    return true;
  };
  auto run_all = [&](const std::vector<Op>& ops) {
    for (const Op& op : ops)
      if (!run_op(op)) return false;
    return true;
  };
  bool going = run_all(gen.opening(seed));
  while (going && out.calls < ops_per_seed) going = run_op(gen.next());
  if (going) going = run_all(gen.closing());
  while (going && gen.has_pending()) going = run_op(gen.pop_pending());
  if (going) going = run_all(gen.removal());
  if (going && r.kernel_queue_count() != 0) {
    out.environment_ok = false;
    out.environment_error = "queues left in the namespace after removal";
  }
  r.cleanup();
  return out;
}

std::string report(std::uint64_t seed, const SeedOutcome& out, const DifferentialOptions& o,
                   bool with_reduction) {
  std::ostringstream s;
  const Step& bad = out.steps.at(static_cast<std::size_t>(out.mismatch));
  s << "seed " << seed << ", op " << out.mismatch << ": kernel and " << o.candidate_name
    << " differ\n  " << describe(bad, o) << "\n  replay: SYSVMQ_DIFF_SEED=" << seed << " "
    << o.replay_hint << " --output-on-failure\n";
  const std::size_t from = out.steps.size() > 12 ? out.steps.size() - 12 : 0;
  s << "  last ops of the seed:\n";
  for (std::size_t i = from; i < out.steps.size(); ++i)
    s << "    #" << i << " " << describe(out.steps[i], o) << "\n";
  if (with_reduction) {
    std::vector<Op> minimal = reduce(out.ops, o);
    std::vector<Step> steps;
    replay(minimal, o, &steps);
    s << "  reduced to " << minimal.size() << " ops (fresh namespace, fresh " << o.candidate_name
      << ", as root):\n";
    for (std::size_t i = 0; i < steps.size(); ++i)
      s << "    " << i << ". " << describe(steps[i], o) << "\n";
  }
  return s.str();
}

}  // namespace

void run_differential_chunk(int chunk, const DifferentialOptions& options) {
  const long replay_seed = env_long("SYSVMQ_DIFF_SEED", -1);
  const int ops_per_seed = static_cast<int>(env_long("SYSVMQ_DIFF_OPS", 500));
  const long seeds_per_chunk = env_long("SYSVMQ_DIFF_SEEDS", 100);
  if (replay_seed >= 0 && chunk != 0)
    GTEST_SKIP() << "replaying seed " << replay_seed << " in chunk 0";

  std::vector<std::uint64_t> seeds;
  if (replay_seed >= 0) {
    seeds.push_back(static_cast<std::uint64_t>(replay_seed));
  } else {
    for (long i = 0; i < seeds_per_chunk; ++i)
      seeds.push_back(static_cast<std::uint64_t>(1 + chunk * seeds_per_chunk + i));
  }

  const bool writable = limits_writable();
  int failures = 0;
  long calls = 0;
  Coverage coverage;
  for (std::uint64_t seed : seeds) {
    SeedOutcome o = run_seed(seed, ops_per_seed, writable, options, coverage);
    ASSERT_TRUE(o.environment_ok) << "seed " << seed << ": " << o.environment_error;
    calls += o.calls;
    if (o.mismatch < 0) continue;
    ++failures;
    if (failures <= 3) ADD_FAILURE() << report(seed, o, options, failures == 1);
  }
  EXPECT_EQ(failures, 0) << failures << " of " << seeds.size() << " seeds differ";
  testing::Test::RecordProperty("calls", static_cast<int>(calls));
  std::printf("chunk %d: %zu seeds, %ld calls compared (kernel vs %s), limits sysctls %s\n", chunk,
              seeds.size(), calls, options.candidate_name.c_str(),
              writable ? "varied" : "fixed (read-only)");
  if (env_long("SYSVMQ_DIFF_COVERAGE", 0) != 0)
    for (const auto& [k, n] : coverage) std::printf("  %-28s %ld\n", k.c_str(), n);
}

}  // namespace sysvmq::test
