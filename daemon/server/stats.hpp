// stats.hpp: the daemon's ADMIN answers as JSON — counters, every queue with all its
// msqid_ds fields, the limits in force — and the one ADMIN request that changes
// anything, set_limits (the sysctls msgmax/msgmnb/msgmni of Rule 1.11), which needs
// CAP_SYS_ADMIN. The rest is read-only: anyone may ask, as anyone may read
// /proc/sysvipc/msg.
#pragma once

#include <string_view>

#include "daemon/core/caller.hpp"
#include "proto/codec.hpp"

namespace sysvmq::server {

class Server;

// `who`: the caller as the session verified it, narrowed by the request's capability
// flags (Rule 5.4.6).
proto::AdminReply answer_admin(Server& server, const core::Caller& who,
                               std::string_view request_json);

}  // namespace sysvmq::server
