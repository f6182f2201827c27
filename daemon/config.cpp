#include "config.hpp"

#include <climits>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "proto/ring.hpp"
#include "proto/sysv.hpp"

namespace sysvmq::daemon {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw std::runtime_error("config: \"" + key + "\": " + why);
}

std::int64_t integer(const json& v, const std::string& key, std::int64_t lo, std::int64_t hi) {
  if (!v.is_number_integer()) bad(key, "must be an integer");
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi)
    bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

unsigned octal_mode(const json& v, const std::string& key) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 4 || s.find_first_not_of("01234567") != std::string::npos)
      bad(key, "must be an octal string such as \"0666\"");
    return static_cast<unsigned>(std::stoul(s, nullptr, 8)) & 0777;
  }
  bad(key, "must be an octal string such as \"0666\"");
}

void parse_limits(const json& j, Config& c) {
  if (!j.is_object()) bad("limits", "must be an object");
  for (const auto& [k, v] : j.items()) {
    const std::string key = "limits." + k;
    if (k == "msgmax") c.limits.msgmax = static_cast<std::int32_t>(integer(v, key, 0, INT_MAX));
    else if (k == "msgmnb") c.limits.msgmnb = static_cast<std::int32_t>(integer(v, key, 0, INT_MAX));
    else if (k == "msgmni") c.limits.msgmni = static_cast<std::int32_t>(integer(v, key, 0, 32768));
    else if (k == "max_queued_bytes")
      c.limits.max_queued_bytes = static_cast<std::uint64_t>(integer(v, key, 0, INT64_MAX));
    else if (k == "max_queues_per_uid")
      c.limits.max_queues_per_uid = static_cast<std::uint32_t>(integer(v, key, 0, proto::kIpcmni));
    else if (k == "max_connections")
      c.max_connections = static_cast<std::uint32_t>(integer(v, key, 1, 1 << 20));
    else if (k == "max_connections_per_uid")
      c.max_connections_per_uid = static_cast<std::uint32_t>(integer(v, key, 0, 1 << 20));
    else if (k == "max_frame_bytes")
      c.max_frame_bytes = static_cast<std::uint32_t>(integer(v, key, 1024, INT_MAX));
    else if (k == "max_parked_per_connection")
      c.max_parked_per_connection = static_cast<std::uint32_t>(integer(v, key, 0, 1 << 20));
    else if (k == "frame_deadline_ms")
      c.frame_deadline_ms = static_cast<std::uint32_t>(integer(v, key, 0, 24 * 3600 * 1000));
    else if (k == "max_output_bytes")
      c.max_output_bytes = static_cast<std::uint64_t>(integer(v, key, 4096, std::int64_t{1} << 40));
    else bad(key, "unknown key (msgmax, msgmnb, msgmni, max_queued_bytes, max_queues_per_uid, "
                  "max_connections, max_connections_per_uid, max_frame_bytes, "
                  "max_parked_per_connection, frame_deadline_ms, max_output_bytes)");
  }
}

}  // namespace

Config parse_config(const std::string& json_text, Config c) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (j.is_discarded()) throw std::runtime_error("config: not valid JSON");
  if (!j.is_object()) throw std::runtime_error("config: the top level must be an object");
  for (const auto& [k, v] : j.items()) {
    if (k == "socket") {
      if (!v.is_object()) bad(k, "must be an object");
      for (const auto& [sk, sv] : v.items()) {
        if (sk == "path") {
          if (!sv.is_string() || sv.get_ref<const std::string&>().empty())
            bad("socket.path", "must be a non-empty string");
          c.socket_path = sv.get<std::string>();
        } else if (sk == "mode") {
          c.socket_mode = octal_mode(sv, "socket.mode");
        } else {
          bad("socket." + sk, "unknown key (path, mode)");
        }
      }
    } else if (k == "log_level") {
      if (!v.is_string()) bad(k, "must be a string");
      c.log_level = v.get<std::string>();
    } else if (k == "limits") {
      parse_limits(v, c);
    } else if (k == "privileged_uids") {
      if (!v.is_array()) bad(k, "must be an array of uids");
      c.privileged_uids.clear();
      for (const auto& u : v)
        c.privileged_uids.push_back(static_cast<std::uint32_t>(integer(u, k, 0, UINT32_MAX - 1)));
    } else if (k == "fast_path") {
      if (!v.is_object()) bad(k, "must be an object");
      for (const auto& [fk, fv] : v.items()) {
        if (fk == "enabled") {
          if (!fv.is_boolean()) bad("fast_path.enabled", "must be true or false");
          c.fast_path = fv.get<bool>();
        } else if (fk == "ring_bytes") {
          c.ring_bytes = static_cast<std::uint64_t>(integer(fv, "fast_path.ring_bytes",
                                                            proto::ring::kMinRingBytes,
                                                            proto::ring::kMaxRingBytes));
        } else {
          bad("fast_path." + fk, "unknown key (enabled, ring_bytes)");
        }
      }
    } else if (k == "state") {
      if (!v.is_object()) bad(k, "must be an object");
      for (const auto& [sk, sv] : v.items()) {
        if (sk == "dir") {
          if (!sv.is_string()) bad("state.dir", "must be a string (\"\" for no snapshots)");
          c.state_dir = sv.get<std::string>();
        } else if (sk == "snapshot_interval_seconds") {
          c.snapshot_interval_seconds =
              static_cast<std::uint32_t>(integer(sv, "state.snapshot_interval_seconds", 0, 86400));
        } else {
          bad("state." + sk, "unknown key (dir, snapshot_interval_seconds)");
        }
      }
    } else {
      bad(k, "unknown key (socket, log_level, limits, privileged_uids, fast_path, state)");
    }
  }
  validate(c);
  return c;
}

Config load_config_file(const std::string& path, Config base) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("config: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse_config(text.str(), std::move(base));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

void validate(const Config& c) {
  static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool level_ok = false;
  for (const char* l : kLevels) level_ok = level_ok || c.log_level == l;
  if (!level_ok)
    bad("log_level", "\"" + c.log_level + "\" is not one of trace, debug, info, warn, error, critical, off");
  if ((c.ring_bytes & (c.ring_bytes - 1)) != 0 || c.ring_bytes < proto::ring::kMinRingBytes ||
      c.ring_bytes > proto::ring::kMaxRingBytes)
    bad("fast_path.ring_bytes", std::to_string(c.ring_bytes) +
                                    " is not a power of two from 16384 to 16777216");
  if (!c.state_dir.empty() && c.state_dir.front() != '/')
    bad("state.dir", "\"" + c.state_dir + "\" is not an absolute path");
  const std::uint64_t need = static_cast<std::uint64_t>(c.limits.msgmax) + proto::kMsgsndFixedBytes;
  if (c.max_frame_bytes < need)
    bad("limits.max_frame_bytes", std::to_string(c.max_frame_bytes) +
                                      " cannot carry a message of msgmax bytes (needs at least " +
                                      std::to_string(need) + ")");
}

}  // namespace sysvmq::daemon
