#include "stats.hpp"

#include <unistd.h>

#include <climits>

#include <nlohmann/json.hpp>

#include "daemon/server/server.hpp"

namespace sysvmq::server {

namespace {

using nlohmann::json;

json snapshots_json(const Server& s) {
  const SnapshotInfo& info = s.snapshot_info();
  if (info.state_dir.empty()) return json{{"enabled", false}};
  json j{{"enabled", true},
         {"state_dir", info.state_dir},
         {"interval_seconds", info.interval.count()},
         {"loaded_queues", info.loaded_queues},
         {"loaded_messages", info.loaded_messages},
         {"loaded_taken_at", info.loaded_taken_at}};
  if (!info.refused.empty()) {
    j["refused_at_start"] = info.refused;
    j["kept_aside"] = info.kept_aside;
  }
  if (const SnapshotWriter* w = s.snapshot_writer()) {
    const auto st = w->status();
    j["written"] = st.written;
    j["failed"] = st.failed;
    j["last_taken_at"] = st.last_taken_at;
    j["last_bytes"] = st.last_bytes;
    if (!st.last_error.empty()) j["last_error"] = st.last_error;
  }
  return j;
}

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
              {"accept_failures", c.accept_failures},
              {"connections_refused_per_uid", c.connections_refused_per_uid},
              {"queues_refused_per_uid", c.queues_refused_per_uid},
              {"sends_refused_quota", c.sends_refused_quota},
              {"parks_refused", c.parks_refused},
              {"frames_too_large", c.frames_too_large},
              {"frame_deadline_closes", c.frame_deadline_closes},
              {"output_pauses", c.output_pauses},
              {"requests_total", c.requests_total},
              {"sessions_closed_bad_input", c.sessions_closed_bad_input},
              {"messages_restored", c.messages_restored},
              {"parked_calls", s.registry().parked_count()},
              {"queues", s.registry().queue_count()},
              {"queued_messages", u.queued_messages},
              {"queued_bytes", u.queued_bytes},
              {"fast_path", {{"connections", s.ring_session_count()},
                             {"rings_set_up", c.rings_set_up},
                             {"sends_on_credit", c.sends_on_credit},
                             {"credit_revocations", c.credit_revocations},
                             {"receives_on_lease", c.receives_on_lease},
                             {"lease_revocations", c.lease_revocations},
                             {"reserved_bytes", u.reserved_bytes}}},
              {"snapshots", snapshots_json(s)}};
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
              {"max_queues_per_uid", l.max_queues_per_uid},
              {"max_connections", o.max_connections},
              {"max_connections_per_uid", o.max_connections_per_uid},
              {"max_frame_bytes", o.max_frame_bytes},
              {"max_parked_per_connection", o.max_parked_per_connection},
              {"frame_deadline_ms", o.frame_deadline.count()},
              {"max_output_bytes", o.max_output_bytes}};
}

// {"op":"set_limits", "msgmax":N, "msgmnb":N, "msgmni":N, "max_queues_per_uid":N}, any
// subset; the others keep their values. Checked as the config file's "limits" are
// (daemon/config.cpp); nothing changes unless every value is good.
AdminQuery parse_set_limits(const json& req) {
  SetLimitsQuery q;
  for (const auto& [key, value] : req.items()) {
    if (key == "op") continue;
    if (key == "max_queues_per_uid") {
      // As the config file's limits.max_queues_per_uid: 0 (no cap) .. IPCMNI.
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > proto::kIpcmni)
        return BadAdminQuery{"set_limits: \"max_queues_per_uid\" must be an integer between 0 "
                             "and " + std::to_string(proto::kIpcmni),
                             true};
      q.max_queues_per_uid = static_cast<std::uint32_t>(value.get<std::int64_t>());
      continue;
    }
    std::optional<std::int32_t>* field = key == "msgmax"   ? &q.msgmax
                                         : key == "msgmnb" ? &q.msgmnb
                                         : key == "msgmni" ? &q.msgmni
                                                           : nullptr;
    if (field == nullptr)
      return BadAdminQuery{"set_limits: unknown key \"" + key +
                               "\" (msgmax, msgmnb, msgmni, max_queues_per_uid)",
                           true};
    // Rule 1.11's bounds: 0..INT_MAX, and msgmni at most IPCMNI (32768).
    const std::int64_t hi = key == "msgmni" ? proto::kIpcmni : INT_MAX;
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        value.get<std::int64_t>() > hi)
      return BadAdminQuery{"set_limits: \"" + key + "\" must be an integer between 0 and " +
                               std::to_string(hi),
                           true};
    *field = static_cast<std::int32_t>(value.get<std::int64_t>());
  }
  return q;
}

proto::AdminReply answer_set_limits(Server& server, const core::Caller& who,
                                    const AdminQuery& query) {
  // The kernel's sysctls belong to the namespace's administrator; here, CAP_SYS_ADMIN.
  if (!who.caps.has(core::Capability::sys_admin))
    return admin_error_reply("set_limits needs CAP_SYS_ADMIN", proto::Errc::eperm);
  if (const auto* bad = std::get_if<BadAdminQuery>(&query)) return admin_error_reply(bad->why);
  const auto& q = std::get<SetLimitsQuery>(query);
  proto::Limits limits = server.registry().limits();
  if (q.msgmax) limits.msgmax = *q.msgmax;
  if (q.msgmnb) limits.msgmnb = *q.msgmnb;
  if (q.msgmni) limits.msgmni = *q.msgmni;
  if (q.max_queues_per_uid) limits.max_queues_per_uid = *q.max_queues_per_uid;
  const std::uint64_t need = static_cast<std::uint64_t>(limits.msgmax) + proto::kMsgsndFixedBytes;
  if (need > server.options().max_frame_bytes)
    return admin_error_reply("set_limits: msgmax " + std::to_string(limits.msgmax) +
                             " does not fit in max_frame_bytes " +
                             std::to_string(server.options().max_frame_bytes));
  server.set_limits(limits, who);
  return proto::AdminReply{
      proto::kStatusOk, limits_json(server).dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

proto::AdminReply admin_error_reply(const std::string& why, proto::Errc errc) {
  return proto::AdminReply{
      static_cast<std::int32_t>(errc),
      json{{"error", why}}.dump(-1, ' ', false, json::error_handler_t::replace)};
}

AdminQuery parse_admin_request(std::string_view request_json) {
  const json req = json::parse(request_json, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) return BadAdminQuery{"request is not a JSON object"};
  const auto op = req.find("op");
  if (op == req.end() || !op->is_string()) return BadAdminQuery{"request has no \"op\" string"};
  const std::string& name = op->get_ref<const std::string&>();
  if (name == "stats") return StatsQuery{};
  if (name == "queues") return QueuesQuery{};
  if (name == "limits") return LimitsQuery{};
  if (name == "set_limits") return parse_set_limits(req);
  return BadAdminQuery{"unknown op \"" + name + "\" (stats, queues, limits, set_limits)"};
}

proto::AdminReply answer_admin(Server& server, const core::Caller& who,
                               std::string_view request_json) {
  const AdminQuery query = parse_admin_request(request_json);
  json answer;
  if (std::holds_alternative<StatsQuery>(query)) {
    answer = stats_json(server);
  } else if (std::holds_alternative<QueuesQuery>(query)) {
    answer = queues_json(server);
  } else if (std::holds_alternative<LimitsQuery>(query)) {
    answer = limits_json(server);
  } else if (std::holds_alternative<SetLimitsQuery>(query) ||
             std::get<BadAdminQuery>(query).set_limits) {
    return answer_set_limits(server, who, query);
  } else {
    return admin_error_reply(std::get<BadAdminQuery>(query).why);
  }
  return proto::AdminReply{proto::kStatusOk, answer.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace sysvmq::server
