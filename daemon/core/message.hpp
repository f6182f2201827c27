// message.hpp: one SysV message, and what a receiver gets back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sysvmq::core {

using Bytes = std::vector<std::byte>;

// mtype is a C long; stored as 64 bits for every client ABI (Rule 2.2).
struct Message {
  std::int64_t mtype = 0;
  Bytes text;
};

// msgrcv's answer: the type and the text actually returned. text.size() is msgrcv's
// return value: the message length, or less under MSG_NOERROR (Rule 3.4).
struct Received {
  std::int64_t mtype = 0;
  Bytes text;
};

}  // namespace sysvmq::core
