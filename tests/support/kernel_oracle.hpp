// kernel_oracle.hpp: the same msgget/msgsnd/msgrcv/msgctl calls made on different
// backends — the Linux kernel (raw syscalls of this thread, inside a private IPC
// namespace) and a core::Registry — with answers in one comparable shape (OpResult).
// The daemon's backend (libsysvmq's C API, daemon_backend.hpp) shares CallsBackend with
// the kernel's, so both see the very same buffers and unreadable pages.
// Also: entering a private IPC namespace, its limits, and waiting for a kernel task to
// park in msgsnd/msgrcv.
// Not here: identities (identity.hpp), calls that park (parked_calls.hpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/clock.hpp"
#include "daemon/core/message.hpp"
#include "daemon/core/registry.hpp"
#include "proto/limits.hpp"
#include "proto/sysv.hpp"

struct msqid_ds;  // <sys/msg.h>

namespace sysvmq::test {

// unshare(CLONE_NEWIPC): a fresh namespace (ids from 0, default limits) for this thread
// and the threads and children it creates later. "" on success, else what failed.
// Needs CAP_SYS_ADMIN; queues of the namespace left behind die with it.
std::string enter_private_ipc_namespace();

// /proc/sys/kernel/msg{max,mnb,mni} of the caller's IPC namespace (per-namespace
// sysctls). write_ipc_limits is false if any file could not be written (read-only /proc).
proto::Limits read_ipc_limits();
bool write_ipc_limits(const proto::Limits& limits);

// One answer, whatever the backend. ret is the syscall's return value (-1 on error).
struct OpResult {
  long ret = 0;
  int err = 0;                         // errno when ret == -1
  bool parked = false;                 // no answer (yet): the call is waiting
  std::int64_t mtype = 0;              // msgrcv
  core::Bytes data;                    // msgrcv: the ret bytes written
  std::optional<proto::MsqidDs> ds;    // IPC_STAT, MSG_STAT, MSG_STAT_ANY
  std::optional<proto::MsgInfo> info;  // IPC_INFO, MSG_INFO

  static OpResult error(int e) { return OpResult{-1, e, false, 0, {}, {}, {}}; }
  bool ok() const { return !parked && ret != -1; }
};

struct SndArgs {
  int msqid = 0;
  std::int64_t mtype = 1;
  std::int64_t msgsz = 0;  // normally text.size(); negative or > msgmax to test EINVAL
  int msgflg = 0;
  core::Bytes text;
  bool text_fault = false;  // mtype readable, text not (EFAULT, Rule 2.1 step 4)
};

struct RcvArgs {
  int msqid = 0;
  std::int64_t msgsz = 0;  // negative: passed to the kernel as a huge size_t
  std::int64_t msgtyp = 0;
  int msgflg = 0;
};

struct CtlArgs {
  int msqid = 0;
  int cmd = 0;
  std::optional<proto::MsqidSet> set;  // IPC_SET's buffer; nullopt = NULL (EFAULT)
};

// A buffer big enough for any message a test sends; msgrcv may pass a larger msgsz,
// the kernel writes at most the message's length.
inline constexpr std::size_t kMaxTestMessage = 64 * 1024;

class MsgBackend {
 public:
  virtual ~MsgBackend() = default;
  virtual std::string_view name() const = 0;
  virtual OpResult msgget(std::int32_t key, int msgflg) = 0;
  virtual OpResult msgsnd(const SndArgs& a) = 0;
  virtual OpResult msgrcv(const RcvArgs& a) = 0;
  virtual OpResult msgctl(const CtlArgs& a) = 0;
};

// msgget/msgsnd/msgrcv/msgctl with libc's signatures and errno convention (-1 and errno
// on failure): the kernel's raw syscalls, or libsysvmq's sysvmq_msg* functions.
struct MsgCalls {
  int (*msgget)(key_t key, int msgflg);
  int (*msgsnd)(int msqid, const void* msgp, std::size_t msgsz, int msgflg);
  ssize_t (*msgrcv)(int msqid, void* msgp, std::size_t msgsz, long msgtyp, int msgflg);
  int (*msgctl)(int msqid, int cmd, struct ::msqid_ds* buf);
};

// A backend reached through MsgCalls by the calling thread, as a C program calls libc:
// msgbuf-shaped buffers, a real struct msqid_ds / msginfo, NULL for a missing IPC_SET
// buffer, and an mtype followed by an unmapped page for SndArgs::text_fault.
// text.size() must stay <= kMaxTestMessage.
class CallsBackend : public MsgBackend {
 public:
  // `name` must outlive the backend (a string literal).
  CallsBackend(std::string_view name, const MsgCalls& calls) : name_(name), calls_(calls) {}

  std::string_view name() const override { return name_; }
  OpResult msgget(std::int32_t key, int msgflg) override;
  OpResult msgsnd(const SndArgs& a) override;
  OpResult msgrcv(const RcvArgs& a) override;
  OpResult msgctl(const CtlArgs& a) override;

 private:
  std::string_view name_;
  MsgCalls calls_;
};

// The kernel, through raw syscalls (no libc wrapper in between) of the calling thread,
// with its current credentials and IPC namespace.
class KernelBackend final : public CallsBackend {
 public:
  KernelBackend();
};

// CLOCK_REALTIME_COARSE in whole seconds: the kernel's msg_*time clock (Rule 6.1).
core::TimePoint coarse_now();

// A core::Registry, judged with the Caller `who()` returns at each call (default: this
// process's credentials right now) at time `now()`. A call that parks answers
// OpResult{parked = true}; its later answer is the registry's Completion.
class CoreBackend final : public MsgBackend {
 public:
  using CallerSource = std::function<core::Caller()>;
  using Clock = std::function<core::TimePoint()>;
  // An empty `who` means caller_from_process (identity.hpp).
  explicit CoreBackend(core::Registry& registry, CallerSource who = {}, Clock now = coarse_now);

  std::string_view name() const override { return "core"; }
  OpResult msgget(std::int32_t key, int msgflg) override;
  OpResult msgsnd(const SndArgs& a) override;
  OpResult msgrcv(const RcvArgs& a) override;
  OpResult msgctl(const CtlArgs& a) override;

  core::Registry& registry() { return registry_; }
  // The waiter of the last call that answered parked.
  core::WaiterId last_waiter() const { return last_waiter_; }

  // Calls as an explicit caller (parked-call tests start calls as other processes).
  OpResult msgsnd_as(const core::Caller& who, const SndArgs& a);
  OpResult msgrcv_as(const core::Caller& who, const RcvArgs& a);

 private:
  core::Registry& registry_;
  CallerSource who_;
  Clock now_;
  core::WaiterId last_waiter_ = 0;
};

// A parked call's Completion as an OpResult (ret 0 for a sender, the length for a receiver).
OpResult from_completion(const core::Completion& c, bool receiver);

// Readable renderings for failure messages.
std::string errno_name(int e);
std::string msgflg_name(int flg);  // "IPC_CREAT|IPC_EXCL|0600", "IPC_NOWAIT|MSG_COPY"
std::string cmd_name(int cmd);     // "IPC_STAT", "MSG_STAT_ANY", "IPC_STAT|IPC_64", "4"
std::string msgtyp_name(std::int64_t t);
std::string describe(const OpResult& r);
std::string describe(const proto::MsqidDs& ds);
std::string describe(const proto::MsgInfo& mi);
std::string describe_snd(const SndArgs& a);
std::string describe_rcv(const RcvArgs& a);
std::string describe_ctl(const CtlArgs& a);
std::string describe_get(std::int32_t key, int msgflg);

// Compares two answers the way the differential test does: everything exactly, except
// times (both zero, or both non-zero and within `slack` of each other). "" if equal,
// else a description of the first difference.
std::string compare(const OpResult& kernel, const OpResult& core,
                    std::chrono::seconds slack = std::chrono::seconds{2});

// Which blocking syscall a kernel task is parked in.
enum class Blocking { msgsnd, msgrcv };

// True if task `tid` of process `pid` sleeps (state S) inside `which`: its wchan names
// do_msgsnd / do_msgrcv, or, where wchan is hidden, /proc/.../syscall shows the syscall
// number (69 msgsnd, 70 msgrcv on x86_64).
bool is_parked_in(pid_t pid, pid_t tid, Blocking which);

}  // namespace sysvmq::test
