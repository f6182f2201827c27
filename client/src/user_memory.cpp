// user_memory.cpp: a guarded copy without a system call where it is exact
// (guarded_copy.hpp), else process_vm_readv/process_vm_writev on our own pid. The kernel does
// the copy and reports EFAULT for an address that is not mapped (or not writable),
// exactly where copy_from_user/copy_to_user would have failed in the real syscalls.
// Our side may be several pieces (mtype and text), the caller's is one range: one
// system call per msgsnd or msgrcv, not one per piece (each costs ~1.2 µs here,
// bench/experiments/07). Where those syscalls are unavailable (ENOSYS, or EPERM from a
// seccomp filter), the fallback catches only NULL and the first page — a documented
// weakening.
#include "client/src/user_memory.hpp"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "client/src/guarded_copy.hpp"
#include "client/src/pid_scope.hpp"

namespace sysvmq::detail {
namespace {

std::atomic<bool> g_vm_calls_unavailable{false};

// More pieces than any call uses.
constexpr std::size_t kMaxPieces = 4;

bool low_address(std::uintptr_t p, std::size_t n) { return n != 0 && p < 4096; }

enum class Direction { read, write };

// Copies between our `pieces` and the caller's range at `remote`; returns the bytes
// copied before the first fault.
std::size_t copy(Direction dir, std::span<const iovec> pieces, std::uintptr_t remote) {
  std::size_t total = 0;
  for (const iovec& p : pieces) total += p.iov_len;
  if (guarded_copy_ready()) {
    // No system call: a fault ends the copy there (guarded_copy.hpp).
    std::size_t at = 0;
    for (const iovec& p : pieces) {
      auto* r = reinterpret_cast<char*>(remote + at);
      const std::size_t k = dir == Direction::read ? guarded_copy(p.iov_base, r, p.iov_len)
                                                   : guarded_copy(r, p.iov_base, p.iov_len);
      at += k;
      if (k < p.iov_len) break;
    }
    return at;
  }
  std::size_t done = 0;
  if (!g_vm_calls_unavailable.load(std::memory_order_relaxed)) {
    const pid_t self = current_pid();
    while (done < total) {
      // Our pieces from `done` on.
      std::array<iovec, kMaxPieces> local{};
      std::size_t count = 0;
      std::size_t skip = done;
      for (const iovec& p : pieces) {
        if (skip >= p.iov_len) {
          skip -= p.iov_len;
          continue;
        }
        local[count++] = iovec{static_cast<char*>(p.iov_base) + skip, p.iov_len - skip};
        skip = 0;
      }
      iovec range{reinterpret_cast<void*>(remote + done), total - done};
      const ssize_t k =
          dir == Direction::read
              ? ::process_vm_readv(self, local.data(), count, &range, 1, 0)
              : ::process_vm_writev(self, local.data(), count, &range, 1, 0);
      if (k > 0) {
        // A partial copy stops at the first page it could not reach; the next round
        // starts there and reports the fault.
        done += static_cast<std::size_t>(k);
        continue;
      }
      if (k < 0 && (errno == ENOSYS || errno == EPERM)) {
        g_vm_calls_unavailable.store(true, std::memory_order_relaxed);
        break;
      }
      return done;  // EFAULT (or a copy of 0 bytes: the same fault)
    }
    if (done == total) return total;
  }
  if (low_address(remote + done, total - done)) return done;
  std::size_t at = 0;
  for (const iovec& p : pieces) {
    if (p.iov_len != 0) {
      auto* r = reinterpret_cast<char*>(remote + at);
      if (dir == Direction::read) {
        std::memcpy(p.iov_base, r, p.iov_len);
      } else {
        std::memcpy(r, p.iov_base, p.iov_len);
      }
    }
    at += p.iov_len;
  }
  return total;
}

}  // namespace

std::size_t read_user(const void* src, std::span<const Piece> into) {
  if (into.size() > kMaxPieces) return 0;  // never: the callers pass one or two
  std::array<iovec, kMaxPieces> local{};
  for (std::size_t i = 0; i < into.size(); ++i) local[i] = iovec{into[i].data, into[i].size};
  return copy(Direction::read, std::span(local.data(), into.size()),
              reinterpret_cast<std::uintptr_t>(src));
}

std::size_t write_user(void* dst, std::span<const ConstPiece> from) {
  if (from.size() > kMaxPieces) return 0;  // never: the callers pass one or two
  std::array<iovec, kMaxPieces> local{};
  for (std::size_t i = 0; i < from.size(); ++i)
    local[i] = iovec{const_cast<void*>(from[i].data), from[i].size};
  return copy(Direction::write, std::span(local.data(), from.size()),
              reinterpret_cast<std::uintptr_t>(dst));
}

bool read_user(const void* src, void* dst, std::size_t n) {
  const Piece piece{dst, n};
  return read_user(src, std::span(&piece, 1)) == n;
}

bool write_user(void* dst, const void* src, std::size_t n) {
  const ConstPiece piece{src, n};
  return write_user(dst, std::span(&piece, 1)) == n;
}

}  // namespace sysvmq::detail
