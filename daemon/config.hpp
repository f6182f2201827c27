// config.hpp: sysvmqd's settings — defaults, the JSON config file, and the flags that
// override it. Unknown keys and bad values stop the start with a message naming them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/codec.hpp"
#include "proto/limits.hpp"

namespace sysvmq::daemon {

struct Config {
  std::string socket_path = "/run/sysvmq/sysvmq.sock";
  unsigned socket_mode = 0666;  // anyone may connect, as anyone may call msgget
  std::string log_level = "info";
  proto::Limits limits;
  std::uint32_t max_connections = 4096;
  // One uid's share of max_connections; 0 = no cap beyond the total.
  std::uint32_t max_connections_per_uid = 1024;
  std::uint32_t max_frame_bytes = proto::kDefaultMaxFrameBytes;
  // Calls one connection may have parked at once; 0 = no cap. A library connection parks
  // at most one (one call at a time per thread).
  std::uint32_t max_parked_per_connection = 64;
  // Once a frame's first byte has arrived, the rest must arrive within this; 0 = never.
  std::uint32_t frame_deadline_ms = 10000;
  // Replies one connection may leave unread before the daemon stops reading from it.
  std::uint64_t max_output_bytes = 4u << 20;
  std::vector<std::uint32_t> privileged_uids;
  bool fast_path = true;                 // offer shared-memory rings (PROTOCOL.md "Rings")
  std::uint64_t ring_bytes = 64 * 1024;  // per ring; a power of two, 16 KiB .. 16 MiB
  // Snapshots (README "Restarts"): where they live ("" = none: a restart empties every
  // queue), and how often one is written besides the one at a graceful stop (0 = never).
  std::string state_dir;
  std::uint32_t snapshot_interval_seconds = 60;
};

// Parse a config file's text over `base`. Throws std::runtime_error naming the key.
Config parse_config(const std::string& json_text, Config base = {});
Config load_config_file(const std::string& path, Config base = {});

// Final checks across fields (e.g. max_frame_bytes must carry a msgmax-sized message).
void validate(const Config& c);

}  // namespace sysvmq::daemon
