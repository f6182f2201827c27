// pid_scope.hpp: the calling process's pid, read once per API call. Copying the caller's
// memory needs it (process_vm_readv names a pid) and so does the fast path's check that
// this process owns the rings; each read is a system call (~0.2 µs here). A PidScope
// around one call makes them share one. A fork() inside the call (a signal handler's)
// ends the scope's value in the child: it holds for the fork generation it was read in.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace sysvmq::detail {

// How many fork()s this process descends through since the library's handlers were
// registered (connection.cpp; registers them on first use).
unsigned fork_generation();

struct ScopePid {
  pid_t pid = 0;
  unsigned generation = 0;
};
inline thread_local ScopePid t_scope_pid;

// The pid of this process: the enclosing PidScope's, else asked of the kernel (raw: a
// preloaded library may wrap getpid).
inline pid_t current_pid() {
  if (t_scope_pid.pid != 0 && t_scope_pid.generation == fork_generation()) return t_scope_pid.pid;
  return static_cast<pid_t>(::syscall(SYS_getpid));
}

// For the duration of one API call. Nests (a signal handler may call in the middle of
// another call on the same thread): the inner scope restores the outer one's value.
class PidScope {
 public:
  PidScope() : saved_(t_scope_pid) {
    t_scope_pid = ScopePid{static_cast<pid_t>(::syscall(SYS_getpid)), fork_generation()};
  }
  ~PidScope() { t_scope_pid = saved_; }
  PidScope(const PidScope&) = delete;
  PidScope& operator=(const PidScope&) = delete;

 private:
  ScopePid saved_;
};

}  // namespace sysvmq::detail
