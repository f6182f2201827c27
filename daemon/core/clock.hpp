// clock.hpp: how the core spells time. The core never reads a clock: every call that
// stamps msg_stime / msg_rtime / msg_ctime takes `now` from its caller (server/ reads
// CLOCK_REALTIME_COARSE, Rule 6.1; tests pass whatever they like).
#pragma once

#include <chrono>

namespace sysvmq::core {

using TimePoint = std::chrono::sys_seconds;

inline std::int64_t to_time_t(TimePoint t) { return t.time_since_epoch().count(); }

}  // namespace sysvmq::core
