// The limits that keep clients from each other (README "Configuration", SECURITY.md):
// queues per uid, connections per uid and in total, parked calls per connection, the
// deadline for finishing a started frame, and the bound on replies a client leaves
// unread. Each refuses only the offending client, with the kernel's errno where one
// exists, counts every refusal in the stats and logs once; the daemon goes on serving.
// Judged from outside with frames written by hand (a library client never pipelines).
#include <gtest/gtest.h>
#include <grp.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/daemon/daemon_process.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::int32_t kEnomem = 12;
constexpr std::int32_t kEagain = 11;
constexpr std::int32_t kEnospc = 28;

// How many times `needle` occurs in `hay`.
std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class DaemonLimits : public RawDaemonTest {
 protected:
  // Starts a daemon whose config file holds `limits` (a JSON object's members).
  // `measured`: the test bounds the daemon's peak memory (asan_options_for_memory_bounds).
  void start(const std::string& limits, bool measured = false) {
    std::ofstream(dir_.file("c.json")) << R"({"limits": {)" << limits << "}}";
    std::vector<std::string> env;
    if (measured) env.push_back(asan_options_for_memory_bounds());
    start_daemon({"--config", dir_.file("c.json")}, std::move(env));
  }
  json admin(const std::string& op) {
    auto c = client();
    c->send(proto::AdminRequest{R"({"op":")" + op + R"("})"}, 2);
    auto r = c->receive();
    if (!r) return json::object();
    return json::parse(std::get<proto::AdminReply>(r->second).json);
  }
  template <class R>
  R call(RawConnection& c, const proto::Request& request, std::uint64_t id = 3) {
    EXPECT_TRUE(c.send(request, id));
    auto r = c.receive();
    if (r) return std::get<R>(r->second);
    R none{};
    none.status = -100;  // no reply
    return none;
  }
  int create_queue(RawConnection& c, int mode = 0666) {
    return call<proto::MsggetReply>(c, proto::MsggetRequest{proto::kIpcPrivate, mode}).msqid;
  }
  static proto::MsgsndRequest message(int q, std::int64_t mtype, std::size_t size, int flags = 0) {
    return proto::MsgsndRequest{q,    flags, mtype, static_cast<std::int64_t>(size),
                                proto::TextState::present, proto::Bytes(size, std::byte{'m'})};
  }
  // A connection that may first be refused while the daemon has not yet seen an earlier
  // one close (start()'s probe, a connection just dropped): tried until admitted.
  // Refusals on the way are counted in retried_refusals_.
  std::unique_ptr<RawConnection> admitted() {
    std::unique_ptr<RawConnection> c;
    eventually([&] {
      c = std::make_unique<RawConnection>(sock());
      c->send(proto::HelloRequest{}, 1);
      auto r = c->receive();
      if (r && r->first == 0) ++retried_refusals_;
      return r && r->first == 1 && std::get<proto::HelloReply>(r->second).status == 0;
    });
    return c;
  }
  int retried_refusals_ = 0;

  // The outcome of a connection attempt that the daemon refuses: the unasked HELLO
  // reply (request_id 0) and then the close. The status, or -100 without a reply.
  std::int32_t refusal_status() {
    RawConnection c(sock());
    if (!c.connected()) return -101;
    c.send(proto::HelloRequest{}, 7);  // may fail: the daemon may have closed already
    auto r = c.receive();
    if (!r || r->first != 0) return -100;
    const auto status = std::get<proto::HelloReply>(r->second).status;
    return c.closed_by_peer() ? status : -102;
  }

};

// Runs `body` in a child that is uid/gid 65534 for good; its exit status (0: passed).
int as_nobody(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(90);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// ---- queues per uid ------------------------------------------------------------------

TEST_F(DaemonLimits, QueuesPerUidAnswerEnospcToThatUidOnlyAndRmidGivesRoomBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a second uid)";
  start(R"("max_queues_per_uid": 2)");
  auto c = client();
  const int a = create_queue(*c);
  ASSERT_GE(a, 0);
  ASSERT_GE(create_queue(*c), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{proto::kIpcPrivate, 0600}).status,
              kEnospc);
  }
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{0x77, proto::kIpcCreat | 0600})
                .status,
            kEnospc)
      << "a keyed create is a create too";
  // Another uid is not held back by root's queues.
  EXPECT_EQ(as_nobody([&] {
              RawConnection n(sock());
              if (!n.send(proto::HelloRequest{}, 1) || !n.receive()) return 10;
              if (!n.send(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 2)) return 11;
              auto r = n.receive();
              return r && std::get<proto::MsggetReply>(r->second).status == 0 ? 0 : 12;
            }),
            0);
  // IPC_RMID frees one for root.
  EXPECT_EQ(call<proto::MsgctlReply>(*c, proto::MsgctlRequest{a, proto::kIpcRmid, {}, {}}).status,
            0);
  EXPECT_EQ(call<proto::MsggetReply>(*c, proto::MsggetRequest{proto::kIpcPrivate, 0600}).status, 0);
  // Four refusals, each counted; one log line for the session.
  EXPECT_EQ(admin("stats")["queues_refused_per_uid"], 4);
  EXPECT_EQ(count_of(daemon_->log(), "(max_queues_per_uid)"), 1u) << daemon_->log();
  EXPECT_EQ(admin("limits")["max_queues_per_uid"], 2);
}

// ---- connections per uid, and in total ------------------------------------------------

TEST_F(DaemonLimits, ConnectionsPerUidAreRefusedWithEagainWhileOtherUidsConnect) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a second uid)";
  start(R"("max_connections_per_uid": 2)");
  auto first = admitted();
  auto second = admitted();
  const auto lines_before = count_of(daemon_->log(), "(max_connections_per_uid)");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(refusal_status(), kEagain) << "attempt " << i;
  // The refused ones took nothing from the two that are in, nor from other uids.
  EXPECT_EQ(call<proto::MsggetReply>(*first, proto::MsggetRequest{proto::kIpcPrivate, 0600}).status,
            0);
  EXPECT_EQ(as_nobody([&] {
              RawConnection n(sock());
              if (!n.send(proto::HelloRequest{}, 1)) return 10;
              auto r = n.receive();
              return r && r->first == 1 && std::get<proto::HelloReply>(r->second).status == 0 ? 0
                                                                                             : 11;
            }),
            0);
  // One of root's connections goes: the next one is accepted. (The ADMIN connection
  // below needs a slot too: wait until the daemon has seen the close.)
  second.reset();
  first.reset();
  auto again = admitted();
  ASSERT_TRUE(again->send(proto::AdminRequest{R"({"op":"stats"})"}, 2));
  auto answer = again->receive();
  ASSERT_TRUE(answer.has_value());
  const json stats = json::parse(std::get<proto::AdminReply>(answer->second).json);
  EXPECT_EQ(stats["connections_refused_per_uid"], 3 + retried_refusals_);
  EXPECT_EQ(stats["connections_refused"], 0);
  EXPECT_EQ(count_of(daemon_->log(), "(max_connections_per_uid)") - lines_before, 1u)
      << "one line per episode of refusals\n"
      << daemon_->log();
}

TEST_F(DaemonLimits, ConnectionsBeyondTheTotalAreRefusedWithEagain) {
  start(R"("max_connections": 2, "max_connections_per_uid": 0)");
  auto first = admitted();
  auto second = admitted();
  const auto lines_before = count_of(daemon_->log(), "(max_connections)");
  EXPECT_EQ(refusal_status(), kEagain);
  EXPECT_EQ(refusal_status(), kEagain);
  second.reset();
  auto again = admitted();  // holds the second slot: ask the stats on it
  ASSERT_TRUE(again->send(proto::AdminRequest{R"({"op":"stats"})"}, 2));
  auto answer = again->receive();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(json::parse(std::get<proto::AdminReply>(answer->second).json)["connections_refused"],
            2 + retried_refusals_);
  EXPECT_EQ(count_of(daemon_->log(), "(max_connections)") - lines_before, 1u) << daemon_->log();
}

// ---- frame size ------------------------------------------------------------------------

TEST_F(DaemonLimits, AFrameOverMaxFrameBytesClosesOnlyThatConnection) {
  start(R"("max_frame_bytes": 9000)");  // msgmax 8192 needs 8224
  auto bystander = client();
  const int q = create_queue(*bystander);
  // The largest message fits; a header announcing one byte more than the limit does not.
  EXPECT_EQ(call<proto::MsgsndReply>(*bystander, message(q, 1, 8192)).status, 0);
  auto big = client();
  auto f = big->frame(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 5);
  const std::uint32_t body_len = 9001;
  std::memcpy(f.data(), &body_len, sizeof body_len);  // little-endian hosts only (as CI)
  ASSERT_TRUE(big->write_all(std::span(f).first(proto::kHeaderBytes)));
  EXPECT_TRUE(big->closed_by_peer());
  EXPECT_EQ(call<proto::MsggetReply>(*bystander, proto::MsggetRequest{proto::kIpcPrivate, 0600})
                .status,
            0);
  const json stats = admin("stats");
  EXPECT_EQ(stats["frames_too_large"], 1);
  EXPECT_EQ(stats["sessions_closed_bad_input"], 1);
  EXPECT_EQ(count_of(daemon_->log(), "exceeds limit 9000"), 1u) << daemon_->log();
}

// ---- parked calls per connection ------------------------------------------------------

TEST_F(DaemonLimits, ParkedCallsBeyondTheCapAreAnsweredEnomemWithoutParking) {
  start(R"("max_parked_per_connection": 2)");
  auto owner = client();
  const int q = create_queue(*owner);
  // A full queue for the senders: msg_qbytes 16384, one message of 16384 bytes does not
  // fit msgmax; four of 4096 do.
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(call<proto::MsgsndReply>(*owner, message(q, 1, 4096)).status, 0);

  auto pipelined = client();
  // Two receivers of type 5 (none queued) park; the third call is refused at once.
  ASSERT_TRUE(pipelined->send(proto::MsgrcvRequest{q, 0, 5, 100}, 10));
  ASSERT_TRUE(pipelined->send(proto::MsgrcvRequest{q, 0, 5, 100}, 11));
  ASSERT_TRUE(pipelined->send(proto::MsgrcvRequest{q, 0, 5, 100}, 12));
  ASSERT_TRUE(pipelined->send(message(q, 1, 10), 13));  // a sender that would park
  auto r = pipelined->receive();
  ASSERT_TRUE(r.has_value()) << "the third call was parked: no answer";
  EXPECT_EQ(r->first, 12u);
  EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status, kEnomem);
  r = pipelined->receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 13u);
  EXPECT_EQ(std::get<proto::MsgsndReply>(r->second).status, kEnomem);
  json stats = admin("stats");
  EXPECT_EQ(stats["parked_calls"], 2);
  EXPECT_EQ(stats["parks_refused"], 2);
  auto qs = admin("queues")["queues"];
  ASSERT_EQ(qs.size(), 1u);
  EXPECT_EQ(qs[0]["parked_senders"], 0) << "the refused sender left nothing behind";
  EXPECT_EQ(qs[0]["qnum"], 4);

  // Another connection has its own allowance; the two parked calls still complete.
  auto other = client();
  ASSERT_TRUE(other->send(proto::MsgrcvRequest{q, 0, 6, 100}, 20));
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 3; }));
  // Room for the two type-5 messages, which go straight to the parked receivers.
  ASSERT_EQ(call<proto::MsgrcvReply>(*owner, proto::MsgrcvRequest{q, proto::kIpcNowait, 1, 8192})
                .status,
            0);
  ASSERT_EQ(call<proto::MsgsndReply>(*owner, message(q, 5, 3)).status, 0);
  ASSERT_EQ(call<proto::MsgsndReply>(*owner, message(q, 5, 4)).status, 0);
  for (std::uint64_t want : {10u, 11u}) {
    r = pipelined->receive();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->first, want);
    EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status, 0);
  }
  EXPECT_EQ(count_of(daemon_->log(), "(max_parked_per_connection)"), 1u) << daemon_->log();
}

// ---- the deadline for finishing a started frame ----------------------------------------

TEST_F(DaemonLimits, AHalfSentFrameIsClosedAfterTheDeadlineButWaitersAndIdlersAreNot) {
  start(R"("frame_deadline_ms": 300)");
  auto waiter = client();
  auto idle = client();
  auto owner = client();
  const int q = create_queue(*owner);
  ASSERT_TRUE(waiter->send(proto::MsgrcvRequest{q, 0, 0, 100}, 5));  // parks
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 1; }));

  // A frame finished after a pause within the deadline is served, and the deadline it
  // started is over: the connection stays.
  const auto whole = idle->frame(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 7);
  ASSERT_TRUE(idle->write_all(std::span(whole).first(5)));
  admin("stats");  // a round trip elsewhere meanwhile
  ASSERT_TRUE(idle->write_all(std::span(whole).subspan(5)));
  auto r = idle->receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(std::get<proto::MsggetReply>(r->second).status, 0);

  auto slow = client();
  const auto frame = slow->frame(proto::MsgrcvRequest{q, proto::kIpcNowait, 0, 100}, 6);
  ASSERT_TRUE(slow->write_all(std::span(frame).first(8)));  // half a header
  EXPECT_TRUE(slow->closed_by_peer()) << "the half frame was never timed out";

  // The receiver has been parked and the idle connection idle for longer than the
  // deadline (the slow one was closed after it): both are served as ever.
  ASSERT_EQ(call<proto::MsgsndReply>(*idle, message(q, 3, 2)).status, 0);
  r = waiter->receive();
  ASSERT_TRUE(r.has_value()) << "the parked receiver was cut off";
  EXPECT_EQ(r->first, 5u);
  EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status, 0);

  EXPECT_EQ(admin("stats")["frame_deadline_closes"], 1);
  EXPECT_EQ(count_of(daemon_->log(), "frame_deadline_ms"), 1u) << daemon_->log();
}

// ---- replies a client never reads ------------------------------------------------------

TEST_F(DaemonLimits, AClientThatNeverReadsCannotGrowTheDaemon) {
  start(R"("max_output_bytes": 65536)", /*measured=*/true);
  auto owner = client();
  const int q = create_queue(*owner);
  ASSERT_EQ(call<proto::MsgsndReply>(*owner, message(q, 1, 8192)).status, 0);
  const long rss_before = status_kib(daemon_->pid(), "VmRSS");
  ASSERT_GT(rss_before, 0);

  // 10000 MSG_COPY requests of 40 bytes, each answered with the 8 KiB message: 80 MiB
  // of replies if the daemon ran them all without anyone reading.
  constexpr int kRequests = 10000;
  auto greedy = client();
  proto::Bytes all;
  for (int i = 0; i < kRequests; ++i) {
    auto f = greedy->frame(
        proto::MsgrcvRequest{q, proto::kIpcNowait | proto::kMsgCopy, 0, 8192}, 100 + i);
    all.insert(all.end(), f.begin(), f.end());
  }
  std::atomic<bool> written{false};
  std::thread writer([&] {
    greedy->write_all(all);  // blocks while the daemon does not read
    written = true;
  });
  struct JoinWriter {  // on any failure below: unblock the writer, then join it
    std::thread& t;
    RawConnection& c;
    ~JoinWriter() {
      if (t.joinable()) {
        ::shutdown(c.fd(), SHUT_RDWR);
        t.join();
      }
    }
  } join_writer{writer, *greedy};
  // Either the daemon stops reading (as it must), or it has read every request.
  ASSERT_TRUE(eventually(
      [&] { return written || admin("stats")["output_pauses"].get<int>() >= 1; }));
  // The daemon still serves everyone else meanwhile.
  EXPECT_EQ(call<proto::MsggetReply>(*owner, proto::MsggetRequest{proto::kIpcPrivate, 0600})
                .status,
            0);

  // Now read: every reply comes, in order, whole.
  int got = 0;
  for (; got < kRequests; ++got) {
    auto r = greedy->receive();
    if (!r || r->first != static_cast<std::uint64_t>(100 + got)) break;
    const auto& m = std::get<proto::MsgrcvReply>(r->second);
    if (m.status != 0 || m.text.size() != 8192u) break;
  }
  EXPECT_EQ(got, kRequests) << "replies missing or out of order";
  if (got == kRequests) writer.join();
  EXPECT_TRUE(written);
  // The daemon's peak resident size grew by far less than the 80 MiB it was asked for
  // (the bound is 64 KiB of replies; 16 MiB leaves room for the allocator and buffers).
  const long peak = status_kib(daemon_->pid(), "VmHWM");
  EXPECT_LT(peak - rss_before, 16 * 1024) << "VmRSS before " << rss_before << " KiB, VmHWM " << peak;
  EXPECT_GE(admin("stats")["output_pauses"].get<int>(), 1) << "the daemon never paused reading";
  EXPECT_EQ(count_of(daemon_->log(), "max_output_bytes"), 1u) << daemon_->log();
}

}  // namespace
}  // namespace sysvmq::test
