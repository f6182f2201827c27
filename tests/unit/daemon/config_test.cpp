// sysvmqd's JSON config: defaults, every key, and a clear refusal naming the bad key.
#include "daemon/config.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace sysvmq::daemon {
namespace {

std::string error_of(const std::string& json) {
  try {
    parse_config(json);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAreTheKernelsAndTheDesignsOnes) {
  const Config c = parse_config("{}");
  EXPECT_EQ(c.socket_path, "/run/sysvmq/sysvmq.sock");
  EXPECT_EQ(c.socket_mode, 0666u);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.limits.msgmax, 8192);
  EXPECT_EQ(c.limits.msgmnb, 16384);
  EXPECT_EQ(c.limits.msgmni, 32000);
  EXPECT_EQ(c.limits.max_queued_bytes, 0u);
  EXPECT_TRUE(c.privileged_uids.empty());
  // The limits that keep clients from each other (README "Configuration").
  EXPECT_EQ(c.limits.max_queues_per_uid, 0u);
  EXPECT_EQ(c.max_connections, 4096u);
  EXPECT_EQ(c.max_connections_per_uid, 1024u);
  EXPECT_EQ(c.max_parked_per_connection, 64u);
  EXPECT_EQ(c.frame_deadline_ms, 10000u);
  EXPECT_EQ(c.max_output_bytes, 4u << 20);
}

TEST(Config, TheShippedFileSaysTheDefaults) {
  // daemon/sysvmqd.json lists every limit with its default value.
  const Config shipped = load_config_file(SYSVMQ_SOURCE_DIR "/daemon/sysvmqd.json");
  const Config defaults;
  EXPECT_EQ(shipped.limits, defaults.limits);
  EXPECT_EQ(shipped.max_connections, defaults.max_connections);
  EXPECT_EQ(shipped.max_connections_per_uid, defaults.max_connections_per_uid);
  EXPECT_EQ(shipped.max_frame_bytes, defaults.max_frame_bytes);
  EXPECT_EQ(shipped.max_parked_per_connection, defaults.max_parked_per_connection);
  EXPECT_EQ(shipped.frame_deadline_ms, defaults.frame_deadline_ms);
  EXPECT_EQ(shipped.max_output_bytes, defaults.max_output_bytes);
}

TEST(Config, EveryKeyIsRead) {
  const Config c = parse_config(R"({
    "socket": {"path": "/tmp/x.sock", "mode": "0660"},
    "log_level": "debug",
    "limits": {"msgmax": 100, "msgmnb": 200, "msgmni": 3, "max_queued_bytes": 4096,
               "max_queues_per_uid": 7, "max_connections": 10, "max_connections_per_uid": 5,
               "max_frame_bytes": 2048, "max_parked_per_connection": 2,
               "frame_deadline_ms": 250, "max_output_bytes": 65536},
    "privileged_uids": [0, 1000]
  })");
  EXPECT_EQ(c.socket_path, "/tmp/x.sock");
  EXPECT_EQ(c.socket_mode, 0660u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.limits.msgmax, 100);
  EXPECT_EQ(c.limits.msgmnb, 200);
  EXPECT_EQ(c.limits.msgmni, 3);
  EXPECT_EQ(c.limits.max_queued_bytes, 4096u);
  EXPECT_EQ(c.max_connections, 10u);
  EXPECT_EQ(c.max_frame_bytes, 2048u);
  EXPECT_EQ(c.limits.max_queues_per_uid, 7u);
  EXPECT_EQ(c.max_connections_per_uid, 5u);
  EXPECT_EQ(c.max_parked_per_connection, 2u);
  EXPECT_EQ(c.frame_deadline_ms, 250u);
  EXPECT_EQ(c.max_output_bytes, 65536u);
  EXPECT_EQ(c.privileged_uids, (std::vector<std::uint32_t>{0, 1000}));
}

TEST(Config, SnapshotsAreOffUnlessAStateDirectoryIsNamed) {
  const Config none = parse_config("{}");
  EXPECT_EQ(none.state_dir, "");
  EXPECT_EQ(none.snapshot_interval_seconds, 60u);
  const Config c = parse_config(R"({"state": {"dir": "/var/lib/x", "snapshot_interval_seconds": 0}})");
  EXPECT_EQ(c.state_dir, "/var/lib/x");
  EXPECT_EQ(c.snapshot_interval_seconds, 0u);
  EXPECT_NE(error_of(R"({"state": {"dir": "relative"}})").find("state.dir"), std::string::npos);
  EXPECT_NE(error_of(R"({"state": {"snapshot_interval_seconds": -1}})")
                .find("state.snapshot_interval_seconds"), std::string::npos);
  EXPECT_NE(error_of(R"({"state": {"path": "/x"}})").find("state.path"), std::string::npos);
}

TEST(Config, UnknownKeysAreRefusedByName) {
  EXPECT_NE(error_of(R"({"sockets": {}})").find("\"sockets\""), std::string::npos);
  EXPECT_NE(error_of(R"({"socket": {"owner": "x"}})").find("socket.owner"), std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"msgmnx": 1}})").find("limits.msgmnx"), std::string::npos);
}

TEST(Config, BadValuesAreRefusedByName) {
  EXPECT_NE(error_of(R"({"limits": {"msgmni": 40000}})").find("limits.msgmni"), std::string::npos)
      << "msgmni above IPCMNI (SEMANTICS.md 1.11: 40000 rejected)";
  EXPECT_NE(error_of(R"({"limits": {"msgmax": -1}})").find("limits.msgmax"), std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"msgmnb": "big"}})").find("limits.msgmnb"), std::string::npos);
  EXPECT_NE(error_of(R"({"socket": {"mode": 438}})").find("socket.mode"), std::string::npos);
  EXPECT_NE(error_of(R"({"socket": {"mode": "0999"}})").find("socket.mode"), std::string::npos);
  EXPECT_NE(error_of(R"({"log_level": "loud"})").find("log_level"), std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"max_queues_per_uid": 40000}})").find("limits.max_queues_per_uid"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"max_connections_per_uid": -1}})")
                .find("limits.max_connections_per_uid"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"max_parked_per_connection": "64"}})")
                .find("limits.max_parked_per_connection"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"frame_deadline_ms": -5}})").find("limits.frame_deadline_ms"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"max_output_bytes": 100}})").find("limits.max_output_bytes"),
            std::string::npos)
      << "below one page of replies";
  EXPECT_NE(error_of(R"({"privileged_uids": [-1]})").find("privileged_uids"), std::string::npos);
  EXPECT_NE(error_of("[1,2]").find("top level"), std::string::npos);
  EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
}

TEST(Config, AFrameMustCarryAMsgmaxSizedMessage) {
  const std::string e = error_of(R"({"limits": {"msgmax": 100000}})");
  EXPECT_NE(e.find("limits.max_frame_bytes"), std::string::npos) << e;
  EXPECT_NO_THROW(parse_config(R"({"limits": {"msgmax": 100000, "max_frame_bytes": 100032}})"));
}

}  // namespace
}  // namespace sysvmq::daemon
