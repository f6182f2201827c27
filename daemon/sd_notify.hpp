// sd_notify.hpp: the few lines of sd_notify(3) the daemon needs (READY=1, STOPPING=1),
// without linking libsystemd: one datagram to $NOTIFY_SOCKET, if it is set.
#pragma once

#include <string_view>

namespace sysvmq::daemon {

// Returns false if NOTIFY_SOCKET is set but the message could not be sent.
bool sd_notify(std::string_view state);

}  // namespace sysvmq::daemon
