// stats.hpp: the daemon's ADMIN answers as JSON — counters, every queue with all its
// msqid_ds fields, the limits in force — and the one ADMIN request that changes
// anything, set_limits (the sysctls msgmax/msgmnb/msgmni of Rule 1.11), which needs
// CAP_SYS_ADMIN. The rest is read-only: anyone may ask, as anyone may read
// /proc/sysvipc/msg.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "daemon/core/caller.hpp"
#include "proto/codec.hpp"

namespace sysvmq::server {

class Server;

// An ADMIN request's JSON, parsed and checked without a Server (tests/fuzz/fuzz_admin.cpp
// fuzzes this). answer_admin answers what it returns.
struct StatsQuery {};
struct QueuesQuery {};
struct LimitsQuery {};
// {"op":"set_limits", ...}: the values given, each within Rule 1.11's bounds (msgmni
// 0..32768, the others 0..INT_MAX), and the daemon's max_queues_per_uid (0..32768). Whether msgmax fits max_frame_bytes depends on the
// server and is checked by answer_admin.
struct SetLimitsQuery {
  std::optional<std::int32_t> msgmax;
  std::optional<std::int32_t> msgmnb;
  std::optional<std::int32_t> msgmni;
  std::optional<std::uint32_t> max_queues_per_uid;  // 0 (no cap) .. 32768
};
// A request answered with EINVAL and {"error": why}. For a set_limits request with bad
// keys or values (`set_limits` true), answer_admin checks CAP_SYS_ADMIN first: a caller
// without it gets EPERM, as for a good set_limits.
struct BadAdminQuery {
  std::string why;
  bool set_limits = false;
};
using AdminQuery = std::variant<StatsQuery, QueuesQuery, LimitsQuery, SetLimitsQuery, BadAdminQuery>;

AdminQuery parse_admin_request(std::string_view request_json);

// The reply to a refused request: `errc` and {"error": why} (why's invalid UTF-8 replaced).
proto::AdminReply admin_error_reply(const std::string& why, proto::Errc errc = proto::Errc::einval);

// `who`: the caller as the session verified it, narrowed by the request's capability
// flags (Rule 5.4.6).
proto::AdminReply answer_admin(Server& server, const core::Caller& who,
                               std::string_view request_json);

}  // namespace sysvmq::server
