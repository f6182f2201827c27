#include "stats.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon/server/server.hpp"

namespace sysvmq::server {

namespace {

using nlohmann::json;

json stats_json(const Server& s) {
  const auto& c = s.counters();
  const auto& u = s.registry().usage();
  const auto up = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - s.started());
  return json{{"pid", ::getpid()},
              {"uptime_seconds", up.count()},
              {"connections", s.session_count()},
              {"connections_total", c.connections_total},
              {"connections_refused", c.connections_refused},
              {"requests_total", c.requests_total},
              {"sessions_closed_bad_input", c.sessions_closed_bad_input},
              {"messages_restored", c.messages_restored},
              {"parked_calls", s.registry().parked_count()},
              {"queues", s.registry().queue_count()},
              {"queued_messages", u.queued_messages},
              {"queued_bytes", u.queued_bytes}};
}

json queues_json(const Server& s) {
  // Pids as the daemon sees them: a reader in the daemon's own pid namespace.
  const core::Caller daemon_view;
  json list = json::array();
  for (const core::Queue* q : s.registry().queues()) {
    const proto::MsqidDs ds = q->stat(daemon_view);
    list.push_back(json{{"key", ds.key},
                        {"msqid", q->id()},
                        {"uid", ds.uid},
                        {"gid", ds.gid},
                        {"cuid", ds.cuid},
                        {"cgid", ds.cgid},
                        {"mode", ds.mode},
                        {"seq", ds.seq},
                        {"stime", ds.stime},
                        {"rtime", ds.rtime},
                        {"ctime", ds.ctime},
                        {"cbytes", ds.cbytes},
                        {"qnum", ds.qnum},
                        {"qbytes", ds.qbytes},
                        {"lspid", ds.lspid},
                        {"lrpid", ds.lrpid},
                        {"parked_senders", q->parked_senders()},
                        {"parked_receivers", q->parked_receivers()}});
  }
  return json{{"queues", list}};
}

json limits_json(const Server& s) {
  const auto& l = s.registry().limits();
  const auto& o = s.options();
  return json{{"msgmax", l.msgmax},
              {"msgmnb", l.msgmnb},
              {"msgmni", l.msgmni},
              {"max_queued_bytes", l.max_queued_bytes},
              {"max_connections", o.max_connections},
              {"max_frame_bytes", o.max_frame_bytes}};
}

proto::AdminReply error_reply(const std::string& why) {
  return proto::AdminReply{static_cast<std::int32_t>(proto::Errc::einval),
                           json{{"error", why}}.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

proto::AdminReply answer_admin(const Server& server, std::string_view request_json) {
  const json req = json::parse(request_json, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) return error_reply("request is not a JSON object");
  const auto op = req.find("op");
  if (op == req.end() || !op->is_string()) return error_reply("request has no \"op\" string");
  const std::string& name = op->get_ref<const std::string&>();
  json answer;
  if (name == "stats") {
    answer = stats_json(server);
  } else if (name == "queues") {
    answer = queues_json(server);
  } else if (name == "limits") {
    answer = limits_json(server);
  } else {
    return error_reply("unknown op \"" + name + "\" (stats, queues, limits)");
  }
  return proto::AdminReply{proto::kStatusOk, answer.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace sysvmq::server
