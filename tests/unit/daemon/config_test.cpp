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
}

TEST(Config, EveryKeyIsRead) {
  const Config c = parse_config(R"({
    "socket": {"path": "/tmp/x.sock", "mode": "0660"},
    "log_level": "debug",
    "limits": {"msgmax": 100, "msgmnb": 200, "msgmni": 3, "max_queued_bytes": 4096,
               "max_connections": 10, "max_frame_bytes": 2048},
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
