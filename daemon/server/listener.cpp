#include "listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sysvmq::server {

namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START
constexpr int kBacklog = 1024;

std::runtime_error failure(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("socket path \"" + path + "\" is empty or longer than " +
                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True if a daemon answers at `path`.
bool someone_listens(const sockaddr_un& addr) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

}  // namespace

int adopt_systemd_socket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr) return -1;
  if (std::strtol(pid, nullptr, 10) != ::getpid()) return -1;
  const long n = std::strtol(fds, nullptr, 10);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (n < 1) return -1;
  if (n > 1) throw std::runtime_error("systemd passed " + std::to_string(n) + " sockets; expected one");
  const int fd = kListenFdsStart;
  int type = 0, listening = 0;
  socklen_t len = sizeof(type);
  sockaddr_un addr{};
  socklen_t alen = sizeof(addr);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0)
    throw failure("the socket passed by systemd is unusable");
  len = sizeof(listening);
  ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (addr.sun_family != AF_UNIX || type != SOCK_STREAM || !listening)
    throw std::runtime_error("the socket passed by systemd is not a listening AF_UNIX stream socket");
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

ListenSocket bind_socket(const std::string& path, unsigned mode) {
  const sockaddr_un addr = address_of(path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error(path + " exists and is not a socket; refusing to replace it");
    if (someone_listens(addr))
      throw std::runtime_error("another daemon is already serving " + path);
    if (::unlink(path.c_str()) != 0) throw failure("cannot remove the stale socket " + path);
  }
  ListenSocket s;
  s.path = path;
  s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) throw failure("socket");
  // Nobody may connect before the mode is right: bind under a tight umask, then chmod.
  const mode_t old = ::umask(0177);
  const int rc = ::bind(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0) {
    const auto e = failure("cannot bind " + path);
    ::close(s.fd);
    throw e;
  }
  if (::chmod(path.c_str(), mode) != 0 || ::lstat(path.c_str(), &st) != 0) {
    const auto e = failure("cannot set the mode of " + path);
    ::close(s.fd);
    ::unlink(path.c_str());
    throw e;
  }
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  if (::listen(s.fd, kBacklog) != 0) {
    const auto e = failure("cannot listen on " + path);
    ::close(s.fd);
    ::unlink(path.c_str());
    throw e;
  }
  return s;
}

void remove_socket_file(const ListenSocket& s) {
  if (s.from_systemd || s.path.empty()) return;
  struct stat st {};
  if (::lstat(s.path.c_str(), &st) == 0 && st.st_dev == s.dev && st.st_ino == s.ino)
    ::unlink(s.path.c_str());
}

}  // namespace sysvmq::server
