#include "logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace sysvmq::daemon {

namespace {
// JOURNAL_STREAM is "DEV:INODE" of the stream journald reads; it applies only if stderr
// is still that stream (systemd.exec(5)).
bool journald_reads_stderr() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}
}  // namespace

void setup_logging(const std::string& level) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw std::runtime_error("unknown log level \"" + level + "\"");
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  const std::string pattern = journald_reads_stderr() ? "%n: %v" : "%Y-%m-%d %H:%M:%S.%e %^%l%$ %n: %v";
  for (const char* name : {"sysvmqd", "server", "session", "config"}) {
    auto logger = spdlog::get(name);
    if (!logger) {
      logger = std::make_shared<spdlog::logger>(name, sink);
      spdlog::register_logger(logger);
    }
    logger->set_pattern(pattern);
    logger->set_level(lvl);
  }
  spdlog::set_default_logger(spdlog::get("sysvmqd"));
}

}  // namespace sysvmq::daemon
