// guarded_copy.hpp: copying to and from the caller's memory without a system call,
// where a fault becomes a short count instead of a crash — the kernel's exception-table
// idea in user space. A SIGSEGV/SIGBUS handler of ours sees the fault at the one copying
// instruction and resumes after it; any other fault is the program's, and goes on as if
// we had never been there (SIG_DFL: the process dies with its core).
//
// Exact only while the handler is ours and neither signal is blocked in the calling
// thread (a blocked or foreign-handled fault would kill or confuse the program where the
// kernel answers EFAULT), so every copy first asks the kernel (three cheap queries, raw
// system calls: a preloaded library or a sanitizer may wrap the libc ones). When anything
// is not as it must be — the program had its own handler first, replaced ours, blocks the
// signals, or SYSVMQ_GUARDED_COPY=0 — guarded_copy_ready() is false and the caller copies
// with process_vm_readv/writev (user_memory.cpp), as exactly and more slowly.
//
// x86_64 only; elsewhere guarded_copy_ready() is always false.
// Not here: which call faults where (c_api.cpp, calls.cpp).
#pragma once

#include <cstddef>

namespace sysvmq::detail {

// True when a copy may go through guarded_copy() now, on this thread. Installs the
// handlers on first use if both signals are at SIG_DFL (never over the program's own).
bool guarded_copy_ready();

// Copies `n` bytes from `src` to `dst`; returns how many were copied before the first
// byte that could not be read or written. Only after guarded_copy_ready() was true on
// this thread, with nothing in between that could change it.
std::size_t guarded_copy(void* dst, const void* src, std::size_t n);

}  // namespace sysvmq::detail
