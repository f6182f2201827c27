// main.cpp: sysvmqd — flags and config, logging, the listening socket, signals,
// sd_notify, and the one io thread that runs the Server.
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "daemon/logging.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/server/listener.hpp"
#include "daemon/server/server.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: sysvmqd [--socket PATH] [--config FILE] [--log-level LEVEL]\n"
    "\n"
    "Serve System V message queues over a Unix-domain socket, in the foreground.\n"
    "\n"
    "  --socket PATH       where to listen (default /run/sysvmq/sysvmq.sock; ignored when\n"
    "                      systemd passes a socket)\n"
    "  --config FILE       JSON settings: socket, log_level, limits, privileged_uids\n"
    "  --log-level LEVEL   trace, debug, info, warn, error, critical or off\n"
    "  -h, --help          this text\n"
    "  --version           print the version\n";

struct Flags {
  std::optional<std::string> socket, config, log_level;
};

// Returns the exit status to stop with, or -1 to go on.
int parse_flags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::optional<std::string>& into) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sysvmqd: %s needs a value\n%s", a.c_str(), kUsage);
        return false;
      }
      into = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::puts("sysvmqd " SYSVMQ_VERSION);
      return 0;
    } else if (a == "--socket") {
      if (!value(f.socket)) return 2;
    } else if (a == "--config") {
      if (!value(f.config)) return 2;
    } else if (a == "--log-level") {
      if (!value(f.log_level)) return 2;
    } else {
      std::fprintf(stderr, "sysvmqd: unknown argument \"%s\"\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sysvmq;
  Flags flags;
  if (const int rc = parse_flags(argc, argv, flags); rc >= 0) return rc;

  // Signals are caught before the socket exists: a SIGTERM sent the moment a client can
  // connect must already mean "stop gracefully".
  ::signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context io(1);
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);

  daemon::Config config;
  server::ListenSocket listen;
  try {
    if (flags.config) config = daemon::load_config_file(*flags.config);
    if (flags.socket) config.socket_path = *flags.socket;
    if (flags.log_level) config.log_level = *flags.log_level;
    daemon::validate(config);
    daemon::setup_logging(config.log_level);
    listen.fd = server::adopt_systemd_socket();
    if (listen.fd >= 0) {
      listen.from_systemd = true;
    } else {
      listen = server::bind_socket(config.socket_path, config.socket_mode);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sysvmqd: %s\n", e.what());
    return 1;
  }

  server::ServerOptions options;
  options.limits = config.limits;
  options.max_frame_bytes = config.max_frame_bytes;
  options.max_connections = config.max_connections;
  options.max_connections_per_uid = config.max_connections_per_uid;
  options.max_parked_per_connection = config.max_parked_per_connection;
  options.frame_deadline = std::chrono::milliseconds(config.frame_deadline_ms);
  options.max_output_bytes = config.max_output_bytes;
  options.credentials.privileged_uids = config.privileged_uids;
  options.fast_path = config.fast_path;
  options.ring_bytes = config.ring_bytes;
  server::Server srv(io, listen.fd, options);

  boost::asio::steady_timer deadline(io);
  bool stopping = false;
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    stopping = true;
    spdlog::info("{} received: stopping", ::strsignal(signo));
    daemon::sd_notify("STOPPING=1");
    srv.stop();
    remove_socket_file(listen);
    // Clients that never read their replies must not hold the exit hostage.
    deadline.expires_after(std::chrono::seconds(5));
    deadline.async_wait([&](boost::system::error_code e) {
      if (!e) io.stop();
    });
  });

  srv.start();
  spdlog::info("sysvmqd {} serving {} (msgmax {}, msgmnb {}, msgmni {})", SYSVMQ_VERSION,
               listen.from_systemd ? std::string("the socket passed by systemd") : listen.path,
               config.limits.msgmax, config.limits.msgmnb, config.limits.msgmni);
  daemon::sd_notify("READY=1");
  // One thread owns every queue. After a stop, run until the last session has written
  // its final replies (or the deadline passes).
  while (!io.stopped()) {
    io.run_one();
    if (stopping && srv.session_count() == 0) break;
  }
  spdlog::info("stopped");
  return 0;
}
