// logging.hpp: the daemon's named loggers (server, session, config) on one stderr sink;
// no timestamps when journald reads stderr (it stamps lines itself).
#pragma once

#include <string>

namespace sysvmq::daemon {

// Throws std::runtime_error for an unknown level name.
void setup_logging(const std::string& level);

}  // namespace sysvmq::daemon
