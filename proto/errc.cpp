#include "errc.hpp"

#include <cerrno>

namespace sysvmq::proto {

// The enum's numbers must be the host's errno numbers: the client hands them to errno.
static_assert(static_cast<int>(Errc::eperm) == EPERM);
static_assert(static_cast<int>(Errc::enoent) == ENOENT);
static_assert(static_cast<int>(Errc::eintr) == EINTR);
static_assert(static_cast<int>(Errc::e2big) == E2BIG);
static_assert(static_cast<int>(Errc::eagain) == EAGAIN);
static_assert(static_cast<int>(Errc::enomem) == ENOMEM);
static_assert(static_cast<int>(Errc::eacces) == EACCES);
static_assert(static_cast<int>(Errc::efault) == EFAULT);
static_assert(static_cast<int>(Errc::eexist) == EEXIST);
static_assert(static_cast<int>(Errc::einval) == EINVAL);
static_assert(static_cast<int>(Errc::enospc) == ENOSPC);
static_assert(static_cast<int>(Errc::enosys) == ENOSYS);
static_assert(static_cast<int>(Errc::enomsg) == ENOMSG);
static_assert(static_cast<int>(Errc::eidrm) == EIDRM);

std::string_view errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "OK";
    case Errc::eperm: return "EPERM";
    case Errc::enoent: return "ENOENT";
    case Errc::eintr: return "EINTR";
    case Errc::e2big: return "E2BIG";
    case Errc::eagain: return "EAGAIN";
    case Errc::enomem: return "ENOMEM";
    case Errc::eacces: return "EACCES";
    case Errc::efault: return "EFAULT";
    case Errc::eexist: return "EEXIST";
    case Errc::einval: return "EINVAL";
    case Errc::enospc: return "ENOSPC";
    case Errc::enosys: return "ENOSYS";
    case Errc::enomsg: return "ENOMSG";
    case Errc::eidrm: return "EIDRM";
  }
  return "E?";
}

bool is_known_errc(std::int32_t value) noexcept {
  return errc_name(static_cast<Errc>(value)) != "E?";
}

}  // namespace sysvmq::proto
