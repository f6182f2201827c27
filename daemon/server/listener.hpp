// listener.hpp: the daemon's listening socket — adopted from systemd (LISTEN_FDS), or
// bound at a path with a given mode, replacing a stale socket only when nothing answers
// on it and refusing to start when another daemon is live there.
#pragma once

#include <sys/types.h>

#include <string>

namespace sysvmq::server {

struct ListenSocket {
  int fd = -1;
  bool from_systemd = false;
  std::string path;     // empty when adopted
  dev_t dev = 0;        // the socket file we created, to remove only that one at exit
  ino_t ino = 0;
};

// The socket passed by the service manager (sd_listen_fds(3) protocol), if any: -1 when
// none was passed; throws std::runtime_error on a passed fd that is not what we need.
int adopt_systemd_socket();

// Bind and listen at `path` with `mode`. Throws std::runtime_error with a clear message.
ListenSocket bind_socket(const std::string& path, unsigned mode);

// Remove the socket file at exit, if it is still the one we created.
void remove_socket_file(const ListenSocket& s);

}  // namespace sysvmq::server
