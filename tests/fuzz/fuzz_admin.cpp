// fuzz_admin: the ADMIN request's JSON, server::parse_admin_request
// (daemon/server/stats.hpp), which answer_admin answers from. Checked, trapping on
// violation:
//  - it never throws, and gives the same answer twice;
//  - stats/queues/limits/set_limits only for a JSON object whose "op" is that string;
//    an unknown op, a non-object or a missing "op" is a BadAdminQuery with a reason,
//    flagged set_limits only when "op" is "set_limits";
//  - a SetLimitsQuery holds exactly the object's msgmax/msgmnb/msgmni, each an integer
//    within Rule 1.11's bounds (msgmni 0..32768, the others 0..INT_MAX), and the object
//    has no other key but "op"; written back as a request it parses to the same query;
//  - the refusal built from a BadAdminQuery, admin_error_reply, is EINVAL with a JSON
//    object {"error": why} that parses back to the same reason.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/server/stats.hpp"

namespace {

using namespace sysvmq::server;
using nlohmann::json;

#define CHECK(cond)                  \
  do {                               \
    if (!(cond)) __builtin_trap();   \
  } while (0)

AdminQuery parse(std::string_view text) {
  try {
    return parse_admin_request(text);
  } catch (...) {
    __builtin_trap();
  }
}

bool same(const AdminQuery& a, const AdminQuery& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<SetLimitsQuery>(&a)) {
    const auto& y = std::get<SetLimitsQuery>(b);
    return x->msgmax == y.msgmax && x->msgmnb == y.msgmnb && x->msgmni == y.msgmni;
  }
  if (const auto* x = std::get_if<BadAdminQuery>(&a)) {
    const auto& y = std::get<BadAdminQuery>(b);
    return x->why == y.why && x->set_limits == y.set_limits;
  }
  return true;
}

// The "op" of `text` as nlohmann reads it, or nullopt (not an object, no "op" string).
std::optional<std::string> op_of(const json& j) {
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto op = j.find("op");
  if (op == j.end() || !op->is_string()) return std::nullopt;
  return op->get<std::string>();
}

void check_value(const json& j, const char* key, const std::optional<std::int32_t>& v,
                 std::int64_t hi) {
  const auto it = j.find(key);
  if (!v) {
    CHECK(it == j.end());
    return;
  }
  CHECK(it != j.end() && it->is_number_integer());
  CHECK(*v >= 0 && *v <= hi && it->get<std::int64_t>() == *v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const AdminQuery q = parse(text);
  CHECK(same(q, parse(text)));

  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto op = op_of(j);

  if (const auto* bad = std::get_if<BadAdminQuery>(&q)) {
    CHECK(!bad->why.empty());
    CHECK(!bad->set_limits || op == "set_limits");
    CHECK(op != "stats" && op != "queues" && op != "limits");
    const auto reply = admin_error_reply(bad->why);
    CHECK(reply.status == 22);  // EINVAL
    const json answer = json::parse(reply.json, nullptr, false);
    CHECK(answer.is_object() && answer.size() == 1 && answer.contains("error"));
    CHECK(answer["error"].is_string() && answer["error"].get<std::string>() == bad->why);
    return 0;
  }
  CHECK(op.has_value());
  if (std::holds_alternative<StatsQuery>(q)) CHECK(op == "stats");
  if (std::holds_alternative<QueuesQuery>(q)) CHECK(op == "queues");
  if (std::holds_alternative<LimitsQuery>(q)) CHECK(op == "limits");
  if (const auto* set = std::get_if<SetLimitsQuery>(&q)) {
    CHECK(op == "set_limits");
    for (const auto& [key, value] : j.items())
      CHECK(key == "op" || key == "msgmax" || key == "msgmnb" || key == "msgmni");
    check_value(j, "msgmax", set->msgmax, INT_MAX);
    check_value(j, "msgmnb", set->msgmnb, INT_MAX);
    check_value(j, "msgmni", set->msgmni, 32768);
    json again{{"op", "set_limits"}};
    if (set->msgmax) again["msgmax"] = *set->msgmax;
    if (set->msgmnb) again["msgmnb"] = *set->msgmnb;
    if (set->msgmni) again["msgmni"] = *set->msgmni;
    CHECK(same(q, parse(again.dump())));
  }
  return 0;
}
