// guarded_copy.cpp: see guarded_copy.hpp.
#include "client/src/guarded_copy.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)

// The copy: `rep movsb` is interruptible and precise — on a fault the saved rip is the
// instruction itself and rcx says how many bytes were left. The handler moves rip to the
// fixup, which returns that count.
//   size_t sysvmq_guarded_movsb(void* dst (rdi), const void* src (rsi), size_t n (rdx))
//   returns the bytes NOT copied.
asm(R"(
    .text
    .p2align 4
    .globl sysvmq_guarded_movsb
    .hidden sysvmq_guarded_movsb
    .type sysvmq_guarded_movsb, @function
sysvmq_guarded_movsb:
    movq %rdx, %rcx
    .globl sysvmq_guarded_movsb_insn
    .hidden sysvmq_guarded_movsb_insn
sysvmq_guarded_movsb_insn:
    rep movsb
    xorl %eax, %eax
    ret
    .globl sysvmq_guarded_movsb_fixup
    .hidden sysvmq_guarded_movsb_fixup
sysvmq_guarded_movsb_fixup:
    movq %rcx, %rax
    ret
    .size sysvmq_guarded_movsb, .-sysvmq_guarded_movsb
)");

extern "C" {
std::size_t sysvmq_guarded_movsb(void* dst, const void* src, std::size_t n);
extern const char sysvmq_guarded_movsb_insn[];
extern const char sysvmq_guarded_movsb_fixup[];
}

namespace sysvmq::detail {
namespace {

// The kernel's struct sigaction for rt_sigaction on x86_64 (8-byte sigset).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

constexpr unsigned long bit(int sig) { return 1ul << (sig - 1); }

// untried → installing (one caller, by compare-and-swap) → installed or refused. Whoever
// finds another caller installing (another thread, or a signal handler interrupting the
// first call on this one) copies the slow way meanwhile: nobody waits, nothing deadlocks.
enum class State : int { untried, installing, installed, refused };
std::atomic<State> g_state{State::untried};

void on_fault(int sig, siginfo_t* info, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  auto& rip = uc->uc_mcontext.gregs[REG_RIP];
  // A fault (si_code > 0: sent by the kernel, not kill()) at our copying instruction.
  if (info != nullptr && info->si_code > 0 &&
      rip == reinterpret_cast<greg_t>(sysvmq_guarded_movsb_insn)) {
    rip = reinterpret_cast<greg_t>(sysvmq_guarded_movsb_fixup);
    return;
  }
  // The program's: as if we had never been there. Our handlers replaced only SIG_DFL.
  const int saved_errno = errno;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) {
    // Sent, not a fault: send it again, to be delivered (as default) once we return.
    ::syscall(SYS_rt_tgsigqueueinfo, ::syscall(SYS_getpid), ::syscall(SYS_gettid), sig, info);
  }
  // A fault: returning runs the instruction again, and it faults again under SIG_DFL.
  errno = saved_errno;
}

bool query(int sig, KernelSigaction& out) {
  return ::syscall(SYS_rt_sigaction, sig, nullptr, &out, sizeof(unsigned long)) == 0;
}

bool handler_is_ours(int sig) {
  KernelSigaction k{};
  return query(sig, k) && k.handler == reinterpret_cast<void*>(&on_fault);
}

bool disabled_by_environment() {
  const char* v = ::getenv("SYSVMQ_GUARDED_COPY");
  return v != nullptr && std::strcmp(v, "0") == 0;
}

// Installs our handlers when both signals are at SIG_DFL; never over the program's.
State install() {
  State expected = State::untried;
  if (!g_state.compare_exchange_strong(expected, State::installing, std::memory_order_acq_rel))
    return expected;
  State state = State::refused;
  KernelSigaction segv{}, bus{};
  if (!disabled_by_environment() && query(SIGSEGV, segv) && query(SIGBUS, bus) &&
      segv.handler == nullptr && bus.handler == nullptr) {
    struct sigaction ours {};
    ours.sa_sigaction = on_fault;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&ours.sa_mask);
    struct sigaction before {};
    // Through libc (a sanitizer keeps its own books), and keeping what was there: a
    // program that installed its own handler in between gets it back at once.
    const auto was_default = [](const struct sigaction& a) {
      return a.sa_handler == SIG_DFL && !(a.sa_flags & SA_SIGINFO);
    };
    struct sigaction segv_before {};
    if (::sigaction(SIGSEGV, &ours, &segv_before) == 0) {
      if (was_default(segv_before) && ::sigaction(SIGBUS, &ours, &before) == 0) {
        if (was_default(before)) {
          state = State::installed;
        } else {
          ::sigaction(SIGBUS, &before, nullptr);
        }
      }
      // Not both: neither stays ours.
      if (state != State::installed) ::sigaction(SIGSEGV, &segv_before, nullptr);
    }
  }
  g_state.store(state, std::memory_order_release);
  return state;
}

}  // namespace

bool guarded_copy_ready() {
  State state = g_state.load(std::memory_order_acquire);
  if (state == State::untried) state = install();
  if (state != State::installed) return false;
  // Still ours (the program may have installed its own since), and deliverable on this
  // thread (a blocked fault signal kills the process instead of calling any handler).
  unsigned long blocked = 0;
  if (::syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &blocked, sizeof blocked) != 0)
    return false;
  if (blocked & (bit(SIGSEGV) | bit(SIGBUS))) return false;
  return handler_is_ours(SIGSEGV) && handler_is_ours(SIGBUS);
}

std::size_t guarded_copy(void* dst, const void* src, std::size_t n) {
  return n - sysvmq_guarded_movsb(dst, src, n);
}

}  // namespace sysvmq::detail

#else  // not x86_64: process_vm_readv/writev only

namespace sysvmq::detail {
bool guarded_copy_ready() { return false; }
std::size_t guarded_copy(void*, const void*, std::size_t) { return 0; }
}  // namespace sysvmq::detail

#endif
