// user_memory.cpp: process_vm_readv/process_vm_writev on our own pid. The kernel does
// the copy and reports EFAULT for an address that is not mapped (or not writable),
// exactly where copy_from_user/copy_to_user would have failed in the real syscalls.
// Where those syscalls are unavailable (ENOSYS, or EPERM from a seccomp filter), the
// fallback catches only NULL and the first page — a documented weakening.
#include "client/src/user_memory.hpp"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace sysvmq::detail {
namespace {

std::atomic<bool> g_vm_calls_unavailable{false};

bool low_address(const void* p, std::size_t n) {
  return n != 0 && reinterpret_cast<std::uintptr_t>(p) < 4096;
}

enum class Direction { read, write };

// Copies between our `local` buffer and the caller's `remote` one.
bool copy(Direction dir, void* local, void* remote, std::size_t n) {
  auto* l = static_cast<char*>(local);
  auto* r = static_cast<char*>(remote);
  if (!g_vm_calls_unavailable.load(std::memory_order_relaxed)) {
    const pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
    while (n > 0) {
      iovec liov{l, n};
      iovec riov{r, n};
      const ssize_t k = dir == Direction::read ? ::process_vm_readv(self, &liov, 1, &riov, 1, 0)
                                               : ::process_vm_writev(self, &liov, 1, &riov, 1, 0);
      if (k > 0) {
        // A partial copy stops at the first page it could not reach; the next round
        // starts there and reports the fault.
        l += k;
        r += k;
        n -= static_cast<std::size_t>(k);
        continue;
      }
      if (k < 0 && (errno == ENOSYS || errno == EPERM)) {
        g_vm_calls_unavailable.store(true, std::memory_order_relaxed);
        break;
      }
      return false;  // EFAULT (or a copy of 0 bytes: the same fault)
    }
    if (n == 0) return true;
  }
  if (low_address(r, n)) return false;
  if (n != 0) {
    if (dir == Direction::read) {
      std::memcpy(l, r, n);
    } else {
      std::memcpy(r, l, n);
    }
  }
  return true;
}

}  // namespace

bool read_user(const void* src, void* dst, std::size_t n) {
  return copy(Direction::read, dst, const_cast<void*>(src), n);
}

bool write_user(void* dst, const void* src, std::size_t n) {
  return copy(Direction::write, const_cast<void*>(src), dst, n);
}

}  // namespace sysvmq::detail
