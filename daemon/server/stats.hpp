// stats.hpp: the daemon's ADMIN answers as JSON — counters, every queue with all its
// msqid_ds fields, the limits in force. Read-only: anyone may ask, as anyone may read
// /proc/sysvipc/msg.
#pragma once

#include <string_view>

#include "proto/codec.hpp"

namespace sysvmq::server {

class Server;

proto::AdminReply answer_admin(const Server& server, std::string_view request_json);

}  // namespace sysvmq::server
