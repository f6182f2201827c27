// deepbind.cpp: dlopen(3) without RTLD_DEEPBIND, so that libraries a program loads that
// way still reach the shim.
//
// Why: a library opened with RTLD_DEEPBIND looks its symbols up in its own dependencies
// (libc) before the global scope, so LD_PRELOAD's msgget never reaches it. PHP opens
// every extension so — its sysvmsg.so would talk to the kernel behind the shim's back.
// The shim therefore clears the flag; the library still loads, RTLD_GLOBAL and all, and
// resolves as an ordinary library does. Documented in client/README.md.
//
// How: on x86_64 a two-instruction trampoline clears the bit in the flags argument and
// jumps (not calls) to the real dlopen, so glibc still sees the program's own return
// address and searches the *caller's* RPATH/RUNPATH and link namespace, exactly as if
// the shim were not there. The real dlopen is found before main() runs (a constructor
// that only asks the dynamic linker, never the daemon).
#include <dlfcn.h>

#include <cstdint>

extern "C" {
// Read by the trampoline; written once, before main().
__attribute__((visibility("hidden"))) void* sysvmq_real_dlopen = nullptr;
// Used only if a dlopen arrives before the constructor ran (another preloaded library's
// constructor): resolve, then carry on as a plain call.
__attribute__((visibility("hidden"))) void* sysvmq_dlopen_slow(const char* file, int mode);
}

namespace {

void* find_real_dlopen() {
  // glibc 2.34+ has dlopen in libc at GLIBC_2.34; older programs link GLIBC_2.2.5.
  if (void* f = ::dlvsym(RTLD_NEXT, "dlopen", "GLIBC_2.34")) return f;
  return ::dlsym(RTLD_NEXT, "dlopen");
}

__attribute__((constructor(101))) void resolve_dlopen() {
  __atomic_store_n(&sysvmq_real_dlopen, find_real_dlopen(), __ATOMIC_RELEASE);
}

}  // namespace

void* sysvmq_dlopen_slow(const char* file, int mode) {
  void* real = find_real_dlopen();
  __atomic_store_n(&sysvmq_real_dlopen, real, __ATOMIC_RELEASE);
  using Dlopen = void* (*)(const char*, int);
  return real != nullptr ? reinterpret_cast<Dlopen>(real)(file, mode & ~RTLD_DEEPBIND) : nullptr;
}

#if defined(__x86_64__)
static_assert(RTLD_DEEPBIND == 0x8, "the trampoline clears bit 3 of the flags");
asm(R"(
    .text
    .globl dlopen
    .type dlopen, @function
dlopen:
    .cfi_startproc
    andl $-9, %esi                       # flags &= ~RTLD_DEEPBIND
    movq sysvmq_real_dlopen(%rip), %rax
    testq %rax, %rax
    jz 1f
    jmp *%rax                            # tail call: the caller stays the program
1:  jmp sysvmq_dlopen_slow
    .cfi_endproc
    .size dlopen, .-dlopen
)");
#else
// Elsewhere a plain wrapper: correct, except that glibc then sees the shim as the
// caller (its RPATH, not the program's, for file names without a slash).
extern "C" __attribute__((visibility("default"))) void* dlopen(const char* file, int mode) {
  void* real = __atomic_load_n(&sysvmq_real_dlopen, __ATOMIC_ACQUIRE);
  if (real == nullptr) return sysvmq_dlopen_slow(file, mode);
  using Dlopen = void* (*)(const char*, int);
  return reinterpret_cast<Dlopen>(real)(file, mode & ~RTLD_DEEPBIND);
}
#endif
