// fuzz_config: sysvmqd's config parser, daemon::parse_config (daemon/config.hpp), on any
// text. Checked, trapping on violation:
//  - it returns a Config or throws std::runtime_error whose message starts "config: ";
//    any other exception (std::out_of_range from a conversion, nlohmann's own …) traps;
//  - a returned Config passes validate() and has every field within its documented
//    bounds (socket mode 0..0777, msgmni 0..32768, max_frame_bytes carrying msgmax, …);
//  - written back as a config file (the keys below) it parses to the same Config. The
//    file is parsed over the Config itself, so that keys added to Config later and not
//    yet written here carry over; every key written here is fully determined by the file.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/config.hpp"

namespace {

using sysvmq::daemon::Config;

#define CHECK(cond)                  \
  do {                               \
    if (!(cond)) __builtin_trap();   \
  } while (0)

bool same(const Config& a, const Config& b) {
  return a.socket_path == b.socket_path && a.socket_mode == b.socket_mode &&
         a.log_level == b.log_level && a.limits == b.limits &&
         a.max_connections == b.max_connections && a.max_frame_bytes == b.max_frame_bytes &&
         a.privileged_uids == b.privileged_uids;
}

std::string as_file(const Config& c) {
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", c.socket_mode);
  const nlohmann::json j{
      {"socket", {{"path", c.socket_path}, {"mode", mode}}},
      {"log_level", c.log_level},
      {"limits",
       {{"msgmax", c.limits.msgmax},
        {"msgmnb", c.limits.msgmnb},
        {"msgmni", c.limits.msgmni},
        {"max_queued_bytes", c.limits.max_queued_bytes},
        {"max_connections", c.max_connections},
        {"max_frame_bytes", c.max_frame_bytes}}},
      {"privileged_uids", c.privileged_uids}};
  return j.dump();
}

// Config, or nothing when the documented exception was thrown; anything else traps.
bool parse(const std::string& text, Config& out, const Config& base = {}) {
  try {
    out = sysvmq::daemon::parse_config(text, base);
    return true;
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).rfind("config: ", 0) == 0);
    return false;
  } catch (...) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Config c;
  if (!parse(text, c)) return 0;

  try {
    sysvmq::daemon::validate(c);
  } catch (...) {
    __builtin_trap();
  }
  CHECK(!c.socket_path.empty());
  CHECK(c.socket_mode <= 0777u);
  CHECK(c.limits.msgmax >= 0 && c.limits.msgmnb >= 0);
  CHECK(c.limits.msgmni >= 0 && c.limits.msgmni <= 32768);
  CHECK(c.max_connections >= 1 && c.max_connections <= (1u << 20));
  CHECK(c.max_frame_bytes >= 1024 && c.max_frame_bytes <= 0x7fffffffu);
  CHECK(std::uint64_t{c.max_frame_bytes} >=
        static_cast<std::uint64_t>(c.limits.msgmax) + sysvmq::proto::kMsgsndFixedBytes);
  CHECK(c.limits.max_queued_bytes <= static_cast<std::uint64_t>(INT64_MAX));
  for (const auto uid : c.privileged_uids) CHECK(uid != UINT32_MAX);

  // The config as a file of its own: the same Config.
  std::string file;
  try {
    file = as_file(c);  // strict dump: the parser only lets valid UTF-8 into strings
  } catch (...) {
    __builtin_trap();
  }
  Config again;
  CHECK(parse(file, again, c));
  CHECK(same(c, again));
  return 0;
}
