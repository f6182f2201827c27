// errc.hpp: the error answers of SysV message-queue calls, with Linux's errno values.
// Not here: how an Errc travels on the wire (codec) or becomes errno (client).
// Shared by the core, the server and the client; standard library only.
#pragma once

#include <cstdint>
#include <string_view>

namespace sysvmq::proto {

// Values are the Linux errno numbers (identical on every common Linux ABI), so an
// Errc can cross the wire and become errno without a table. Checked in errc.cpp.
enum class Errc : std::int32_t {
  ok = 0,
  eperm = 1,
  enoent = 2,
  eintr = 4,
  e2big = 7,
  eagain = 11,
  enomem = 12,
  eacces = 13,
  efault = 14,
  eexist = 17,
  einval = 22,
  enospc = 28,
  enosys = 38,
  enomsg = 42,
  eidrm = 43,
};

// "EACCES", "EINVAL", …; "E?" for a value this enum does not name.
std::string_view errc_name(Errc e) noexcept;

// True for the values listed above; a decoder uses it to reject anything else.
bool is_known_errc(std::int32_t value) noexcept;

}  // namespace sysvmq::proto
