// user_memory.hpp: copying to and from the caller's buffers without ever crashing on a
// bad pointer: a fault becomes false, and the caller answers EFAULT (SEMANTICS.md 8.5).
// Not here: which call faults where (c_api.cpp follows Rules 2.1, 3.1 and 4.x).
#pragma once

#include <cstddef>

namespace sysvmq::detail {

// Copies `n` bytes from the caller's `src`; false if any of them cannot be read.
bool read_user(const void* src, void* dst, std::size_t n);

// Copies `n` bytes to the caller's `dst`; false if any of them cannot be written (the
// bytes before the fault may have been written, as with the kernel's copy_to_user).
bool write_user(void* dst, const void* src, std::size_t n);

}  // namespace sysvmq::detail
