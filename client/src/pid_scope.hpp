// pid_scope.hpp: the calling process's pid, read once per API call. Copying the caller's
// memory needs it (process_vm_readv names a pid) and so does the fast path's check that
// this process owns the rings; each read is a system call (~0.2 µs here). A PidScope
// around one call makes them share one. No process can change inside a call: fork()
// and clone() return in the thread that called them, never in the middle of ours.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace sysvmq::detail {

inline thread_local pid_t t_scope_pid = 0;

// The pid of this process: the enclosing PidScope's, else asked of the kernel (raw: a
// preloaded library may wrap getpid).
inline pid_t current_pid() {
  return t_scope_pid != 0 ? t_scope_pid : static_cast<pid_t>(::syscall(SYS_getpid));
}

// For the duration of one API call. Nests (a signal handler may call in the middle of
// another call on the same thread): the inner scope restores the outer one's value.
class PidScope {
 public:
  PidScope() : saved_(t_scope_pid) { t_scope_pid = static_cast<pid_t>(::syscall(SYS_getpid)); }
  ~PidScope() { t_scope_pid = saved_; }
  PidScope(const PidScope&) = delete;
  PidScope& operator=(const PidScope&) = delete;

 private:
  pid_t saved_;
};

}  // namespace sysvmq::detail
