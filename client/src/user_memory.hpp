// user_memory.hpp: copying to and from the caller's buffers without ever crashing on a
// bad pointer: a fault becomes a short count or false, and the caller answers EFAULT
// (SEMANTICS.md 8.5).
// Not here: which call faults where (c_api.cpp and calls.cpp follow Rules 2.1, 3.1, 4.x).
#pragma once

#include <cstddef>
#include <span>

namespace sysvmq::detail {

// One of our own buffers, as a piece of a longer range of the caller's memory.
struct Piece {
  void* data;
  std::size_t size;
};
struct ConstPiece {
  const void* data;
  std::size_t size;
};

// Copies the caller's bytes at `src` (as many as the pieces hold, in order) into the
// pieces, in one system call for the whole range: msgsnd reads its mtype and its text
// at once. Returns how many bytes were copied before the first that could not be read
// (all of them when nothing faulted).
std::size_t read_user(const void* src, std::span<const Piece> into);

// Copies the pieces, in order, to the caller's `dst` as one range; returns how many
// bytes were written before the first that could not be (the bytes before a fault may
// have been written, as with the kernel's copy_to_user).
std::size_t write_user(void* dst, std::span<const ConstPiece> from);

// One piece: true when all `n` bytes were copied.
bool read_user(const void* src, void* dst, std::size_t n);
bool write_user(void* dst, const void* src, std::size_t n);

}  // namespace sysvmq::detail
