// ADMIN {"op":"set_limits"}: the daemon's msgmax/msgmnb/msgmni sysctls (Rule 1.11) — any
// subset, for later calls only, checked like the config file's limits, and only for a
// caller holding CAP_SYS_ADMIN (verified by the daemon, narrowed by the request's flags,
// Rule 5.4.6). Needs root for the privileged half; skipped otherwise.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/daemon/daemon_process.hpp"

namespace sysvmq::test {
namespace {

using nlohmann::json;

constexpr std::int32_t kEinval = 22;
constexpr std::int32_t kEperm = 1;

class SetLimits : public RawDaemonTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN, setuid)";
    start_daemon();  // its directory is reachable by the unprivileged child of the EPERM test
  }
  // The ADMIN answer to `request`, sent with request flags `flags`.
  proto::AdminReply admin(RawConnection& c, const std::string& request, std::uint16_t flags = 0) {
    EXPECT_TRUE(c.write_all(c.frame(proto::AdminRequest{request}, 2, flags)));
    auto r = c.receive();
    if (!r) return proto::AdminReply{-100, "no reply"};
    return std::get<proto::AdminReply>(r->second);
  }
  json limits() {
    auto c = client();
    return json::parse(admin(*c, R"({"op":"limits"})").json);
  }
  template <class R>
  R call(RawConnection& c, const proto::Request& request) {
    EXPECT_TRUE(c.send(request, 3));
    auto r = c.receive();
    if (r) return std::get<R>(r->second);
    R none{};
    none.status = -100;  // no reply
    return none;
  }

};

TEST_F(SetLimits, AppliesToLaterCallsOnlyAndLeavesOtherLimitsAlone) {
  auto c = client();
  const int before = call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).msqid;
  const auto reply = admin(*c, R"({"op":"set_limits","msgmax":16,"msgmnb":100})");
  ASSERT_EQ(reply.status, 0) << reply.json;
  const json answer = json::parse(reply.json);
  EXPECT_EQ(answer["msgmax"], 16);
  EXPECT_EQ(answer["msgmnb"], 100);
  EXPECT_EQ(answer["msgmni"], 32000) << "a key not given keeps its value";
  EXPECT_EQ(limits()["msgmax"], 16);

  // msgmax: a 17-byte message is EINVAL now (Rule 2.1 step 2), 16 bytes still fit.
  proto::MsgsndRequest snd{before, proto::kIpcNowait,         1,
                           17,     proto::TextState::present, proto::Bytes(17)};
  EXPECT_EQ(call<proto::MsgsndReply>(*c, snd).status, kEinval);
  snd.msgsz = 16;
  snd.text.resize(16);
  EXPECT_EQ(call<proto::MsgsndReply>(*c, snd).status, 0);

  // msgmnb: the qbytes of queues created from now on; the older queue keeps its own.
  const int after = call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).msqid;
  auto stat = [&](int id) {
    return call<proto::MsgctlReply>(*c, proto::MsgctlRequest{id, proto::kIpcStat, {}, {}});
  };
  ASSERT_TRUE(stat(after).ds);
  EXPECT_EQ(stat(after).ds->qbytes, 100u);
  ASSERT_TRUE(stat(before).ds);
  EXPECT_EQ(stat(before).ds->qbytes, 16384u);

  // A new connection is told the new limits in HELLO.
  RawConnection fresh(sock());
  ASSERT_TRUE(fresh.send(proto::HelloRequest{}, 1));
  auto hello = fresh.receive();
  ASSERT_TRUE(hello);
  EXPECT_EQ(std::get<proto::HelloReply>(hello->second).msgmax, 16);
  EXPECT_EQ(std::get<proto::HelloReply>(hello->second).msgmnb, 100);
}

TEST_F(SetLimits, MsgmniAloneCapsTheNumberOfQueues) {
  auto c = client();
  ASSERT_EQ(admin(*c, R"({"op":"set_limits","msgmni":1})").status, 0);
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).status, 0);
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).status, 28)  // ENOSPC
      << "Rule 1.5";
  EXPECT_EQ(limits()["msgmax"], 8192);
}

TEST_F(SetLimits, MaxQueuesPerUidCapsOneCreatorFromNowOn) {
  auto c = client();
  ASSERT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).status, 0);
  const auto reply = admin(*c, R"({"op":"set_limits","max_queues_per_uid":2})");
  ASSERT_EQ(reply.status, 0) << reply.json;
  EXPECT_EQ(json::parse(reply.json)["max_queues_per_uid"], 2);
  EXPECT_EQ(json::parse(reply.json)["msgmni"], 32000) << "a key not given keeps its value";
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).status, 0);
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).status, 28)  // ENOSPC
      << "the queue made before the cap counts";
  ASSERT_EQ(admin(*c, R"({"op":"set_limits","max_queues_per_uid":0})").status, 0);
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0, 0600}).status, 0)
      << "0: no cap";
  EXPECT_EQ(limits()["max_queues_per_uid"], 0);
}

TEST_F(SetLimits, BadValuesAreEinvalAndChangeNothing) {
  auto c = client();
  const json before = limits();
  for (const char* bad : {
           R"({"op":"set_limits","msgmni":32769})",
           R"({"op":"set_limits","msgmni":-1})",
           R"({"op":"set_limits","msgmax":-1})",
           R"({"op":"set_limits","msgmnb":2147483648})",
           R"({"op":"set_limits","msgmax":"16"})",
           R"({"op":"set_limits","msgmax":1.5})",
           R"({"op":"set_limits","msgmax":16,"msgtql":5})",
           R"({"op":"set_limits","max_queues_per_uid":-1})",
           R"({"op":"set_limits","max_queues_per_uid":32769})",
           R"({"op":"set_limits","max_queues_per_uid":"2"})",
           // msgmax must leave a MSGSND frame within max_frame_bytes (65600 - 32).
           R"({"op":"set_limits","msgmax":65569})",
       }) {
    const auto reply = admin(*c, bad);
    EXPECT_EQ(reply.status, kEinval) << bad;
    const json answer = json::parse(reply.json, nullptr, false);
    EXPECT_TRUE(answer.is_object() && answer.contains("error")) << bad << " -> " << reply.json;
  }
  EXPECT_EQ(limits(), before);
  // The bounds themselves are accepted.
  EXPECT_EQ(
      admin(*c, R"({"op":"set_limits","msgmni":32768,"msgmnb":2147483647,"msgmax":0})").status, 0);
  EXPECT_EQ(admin(*c, R"({"op":"set_limits","msgmni":0,"msgmax":65568})").status, 0);
}

TEST_F(SetLimits, UnprivilegedCallerGetsEperm) {
  // A child that is nobody for good connects itself: the daemon judges SO_PEERCRED and
  // the child's /proc capabilities (none).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(10);
    RawConnection c(sock());
    if (!c.connected() || !c.send(proto::HelloRequest{}, 1) || !c.receive()) ::_exit(11);
    // Claiming CAP_SYS_ADMIN in the flags cannot raise what the daemon verified.
    const std::uint16_t claim = proto::kFlagCaps | proto::kFlagCapSysAdmin;
    if (!c.write_all(c.frame(proto::AdminRequest{R"({"op":"set_limits","msgmax":16})"}, 2, claim)))
      ::_exit(12);
    auto r = c.receive();
    if (!r) ::_exit(13);
    const auto& reply = std::get<proto::AdminReply>(r->second);
    const json answer = json::parse(reply.json, nullptr, false);
    if (!answer.is_object() || !answer.contains("error")) ::_exit(14);
    ::_exit(reply.status == kEperm ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10-12: setup failed; 13/14: no (JSON) answer; 15: not EPERM";
  EXPECT_EQ(limits()["msgmax"], 8192);
}

TEST_F(SetLimits, RootWhoseThreadDroppedCapSysAdminGetsEperm) {
  // Rule 5.4.6: the request's flags narrow the verified capabilities.
  auto c = client();
  const auto no_admin = static_cast<std::uint16_t>(proto::kFlagCaps | proto::kFlagCapIpcOwner |
                                                   proto::kFlagCapSysResource);
  EXPECT_EQ(admin(*c, R"({"op":"set_limits","msgmax":16})", no_admin).status, kEperm);
  EXPECT_EQ(limits()["msgmax"], 8192);
  const auto all = static_cast<std::uint16_t>(no_admin | proto::kFlagCapSysAdmin);
  EXPECT_EQ(admin(*c, R"({"op":"set_limits","msgmax":16})", all).status, 0);
}

}  // namespace
}  // namespace sysvmq::test
