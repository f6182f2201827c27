// main.cpp: sysvmqd — flags and config, logging, the listening socket, signals,
// sd_notify, and the one io thread that runs the Server.
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "daemon/core/snapshot.hpp"
#include "daemon/logging.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/server/listener.hpp"
#include "daemon/server/server.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: sysvmqd [--socket PATH] [--config FILE] [--log-level LEVEL]\n"
    "               [--state-dir DIR] [--snapshot-interval SECONDS]\n"
    "\n"
    "Serve System V message queues over a Unix-domain socket, in the foreground.\n"
    "\n"
    "  --socket PATH       where to listen (default /run/sysvmq/sysvmq.sock; ignored when\n"
    "                      systemd passes a socket)\n"
    "  --config FILE       JSON settings: socket, log_level, limits, privileged_uids,\n"
    "                      fast_path, state\n"
    "  --log-level LEVEL   trace, debug, info, warn, error, critical or off\n"
    "  --state-dir DIR     keep the queues in DIR/queues.snapshot: loaded at start, written\n"
    "                      at a graceful stop and every --snapshot-interval (default: the\n"
    "                      config's state.dir, else $STATE_DIRECTORY from systemd, else\n"
    "                      none, and a restart empties every queue)\n"
    "  --snapshot-interval SECONDS\n"
    "                      how often to write a snapshot while running, when anything\n"
    "                      changed (default 60; 0: only at a graceful stop). A crash loses\n"
    "                      what changed since the last one\n"
    "  -h, --help          this text\n"
    "  --version           print the version\n";

struct Flags {
  std::optional<std::string> socket, config, log_level, state_dir, snapshot_interval;
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
    } else if (a == "--state-dir") {
      if (!value(f.state_dir)) return 2;
    } else if (a == "--snapshot-interval") {
      if (!value(f.snapshot_interval)) return 2;
    } else {
      std::fprintf(stderr, "sysvmqd: unknown argument \"%s\"\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  return -1;
}

// --snapshot-interval's value: whole seconds, 0 to 86400.
bool parse_interval(const std::string& text, std::uint32_t& out) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const unsigned long v = std::stoul(text);
  if (v > 86400) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// systemd's StateDirectory= hands the daemon its directory as $STATE_DIRECTORY (the first
// of a colon-separated list).
std::string systemd_state_directory() {
  const char* v = std::getenv("STATE_DIRECTORY");
  if (v == nullptr) return {};
  std::string dir = v;
  return dir.substr(0, dir.find(':'));
}

// Loads the state directory's snapshot into `srv`. A snapshot that cannot be loaded is
// kept aside under another name, never deleted, and the daemon starts with no queues.
void load_snapshot(const sysvmq::server::SnapshotFile& file, sysvmq::server::Server& srv,
                   sysvmq::server::SnapshotInfo& info) {
  auto data = file.read();
  if (!data) {
    spdlog::info("no snapshot in {}: starting with no queues", file.dir());
    return;
  }
  std::string why;
  auto decoded = sysvmq::core::decode_snapshot(*data, why);
  if (!decoded) {
    info.refused = why;
    info.kept_aside = file.keep_aside();
    spdlog::error("snapshot {} refused: {}; kept aside as {}; starting with no queues",
                  file.path(), why, info.kept_aside);
    return;
  }
  info.loaded_queues = decoded->registry.queues.size();
  info.loaded_messages = decoded->messages;
  info.loaded_taken_at = decoded->taken_at;
  const std::uint64_t bytes = decoded->bytes;
  srv.load(std::move(decoded->registry));
  spdlog::info("snapshot {} loaded: {} queue(s), {} message(s), {} byte(s) of text, taken at {} "
               "(Unix time)", file.path(), info.loaded_queues, info.loaded_messages, bytes,
               info.loaded_taken_at);
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
  std::optional<server::SnapshotFile> snapshot_file;
  std::optional<server::SnapshotDirLock> state_lock;
  server::ListenSocket listen;
  try {
    if (flags.config) config = daemon::load_config_file(*flags.config);
    if (flags.socket) config.socket_path = *flags.socket;
    if (flags.log_level) config.log_level = *flags.log_level;
    if (flags.state_dir) config.state_dir = *flags.state_dir;
    if (config.state_dir.empty()) config.state_dir = systemd_state_directory();
    if (flags.snapshot_interval &&
        !parse_interval(*flags.snapshot_interval, config.snapshot_interval_seconds))
      throw std::runtime_error("--snapshot-interval: \"" + *flags.snapshot_interval +
                               "\" is not a number of seconds from 0 to 86400");
    daemon::validate(config);
    daemon::setup_logging(config.log_level);
    // The state directory is checked and locked before the socket is taken: a daemon
    // that cannot keep its queues never answers a client.
    if (!config.state_dir.empty()) {
      snapshot_file.emplace(config.state_dir);
      state_lock.emplace(snapshot_file->prepare());
    }
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

  // The snapshot is loaded once the socket is ours (a daemon refused the socket never
  // touches the state), before the first connection is accepted.
  std::unique_ptr<server::SnapshotWriter> snapshots;
  if (snapshot_file) {
    server::SnapshotInfo info;
    info.state_dir = config.state_dir;
    info.interval = std::chrono::seconds(config.snapshot_interval_seconds);
    try {
      load_snapshot(*snapshot_file, srv, info);
      snapshots = std::make_unique<server::SnapshotWriter>(std::move(*snapshot_file));
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      remove_socket_file(listen);
      return 1;
    }
    srv.enable_snapshots(snapshots.get(), std::move(info));
  } else {
    spdlog::info("no state directory: the queues will not survive a restart");
  }

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
  // Clients that never read their last replies: their received messages go back first.
  srv.close_remaining_sessions();
  int status = 0;
  if (snapshots) {
    const auto now = core::to_time_t(server::now_coarse());
    const auto image = core::encode_snapshot(srv.registry(), now);
    try {
      snapshots->write_now(image, now);
      spdlog::info("snapshot written: {} queue(s), {} message(s) in {} ({} bytes)",
                   srv.registry().queue_count(), srv.registry().usage().queued_messages,
                   snapshots->file().path(), image.size());
    } catch (const std::exception& e) {
      spdlog::critical("the final snapshot failed: {}; the next start loads the one before "
                       "it, and what changed since then is lost", e.what());
      status = 1;
    }
  }
  spdlog::info("stopped");
  return status;
}
