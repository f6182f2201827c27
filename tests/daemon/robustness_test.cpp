// Bad input closes that one connection and touches no queue; the daemon goes on.
// Frames split at every byte still work; a client killed while parked or half-way through a
// frame leaves nothing; a reply that cannot be written gives its message back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/daemon/daemon_process.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;

// The state letter of /proc/<pid>/stat ('S' sleeping, 'T' stopped, …).
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  return close == std::string::npos || close + 2 >= all.size() ? '?' : all[close + 2];
}

class Robustness : public RawDaemonTest {
 protected:
  void SetUp() override { start_daemon(); }
  nlohmann::json admin(const std::string& op) {
    auto c = client();
    c->send(proto::AdminRequest{R"({"op":")" + op + R"("})"}, 2);
    return nlohmann::json::parse(std::get<proto::AdminReply>(c->receive()->second).json);
  }
  // A queue holding one message "keep", to prove queues survive other clients' faults.
  int queue_with_one_message() {
    auto c = client();
    c->send(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 2);
    const int q = std::get<proto::MsggetReply>(c->receive()->second).msqid;
    proto::MsgsndRequest snd{q, 0, 7, 4, proto::TextState::present, {}};
    for (char ch : std::string("keep")) snd.text.push_back(static_cast<std::byte>(ch));
    c->send(snd, 3);
    EXPECT_EQ(std::get<proto::MsgsndReply>(c->receive()->second).status, 0);
    return q;
  }
  void expect_message_still_there(int q) {
    auto c = client();
    c->send(proto::MsgrcvRequest{q, proto::kIpcNowait, 0, 100}, 4);
    auto r = std::get<proto::MsgrcvReply>(c->receive()->second);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.mtype, 7);
    EXPECT_EQ(r.text.size(), 4u);
  }

};

TEST_F(Robustness, GarbageClosesOnlyThatConnection) {
  const int q = queue_with_one_message();
  auto bystander = client();
  const std::vector<std::string> garbage = {
      std::string("GET / HTTP/1.1\r\n\r\n"),
      std::string(16, '\xff'),                                       // body_len 4 GiB
      std::string("\x08\x00\x00\x00\x63\x00\x00\x00\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24),  // opcode 99
  };
  for (const auto& g : garbage) {
    RawConnection bad(sock());
    ASSERT_TRUE(bad.write_all(std::as_bytes(std::span(g.data(), g.size()))));
    EXPECT_TRUE(bad.closed_by_peer()) << "garbage of " << g.size() << " bytes";
  }
  // Well-formed frames that break the protocol's rules.
  {
    auto c = std::make_unique<RawConnection>(sock());  // no HELLO first
    c->send(proto::MsggetRequest{1, 0}, 5);
    EXPECT_TRUE(c->closed_by_peer());
  }
  {
    auto c = client();  // MSGSND whose text length disagrees with msgsz
    auto f = c->frame(proto::MsgsndRequest{q, 0, 1, 2, proto::TextState::present, {}}, 6);
    f[0] = static_cast<std::byte>(32 + 1);  // body_len says one byte of text
    f.push_back(std::byte{'x'});
    c->write_all(f);
    EXPECT_TRUE(c->closed_by_peer());
  }
  // The daemon still answers, the bystander's connection still works, the queue is intact.
  bystander->send(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 7);
  EXPECT_EQ(std::get<proto::MsggetReply>(bystander->receive()->second).status, 0);
  expect_message_still_there(q);
  EXPECT_GE(admin("stats")["sessions_closed_bad_input"].get<int>(), 3);
}

TEST_F(Robustness, FramesSplitAtEveryByteAreServed) {
  const int q = queue_with_one_message();
  auto c = client();
  proto::MsgrcvRequest peek{q, proto::kIpcNowait | proto::kMsgCopy, 0, 100};
  const auto frame = c->frame(peek, 42);
  for (std::size_t cut = 1; cut < frame.size(); ++cut) {
    ASSERT_TRUE(c->write_all(std::span(frame).first(cut)));
    ASSERT_TRUE(c->write_all(std::span(frame).subspan(cut)));
    auto r = c->receive();
    ASSERT_TRUE(r.has_value()) << "cut at " << cut;
    EXPECT_EQ(r->first, 42u);
    EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).text.size(), 4u);
  }
  // One byte at a time.
  for (std::byte b : frame) ASSERT_TRUE(c->write_all(std::span(&b, 1)));
  ASSERT_TRUE(c->receive().has_value());
}

TEST_F(Robustness, ClientKilledWhileParkedLeavesNoWaiter) {
  const int q = queue_with_one_message();
  {
    auto c = client();
    c->send(proto::MsgrcvRequest{q, 0, 99, 100}, 5);  // type 99: parks
    ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 1; }));
  }  // the connection closes as a dying process's would
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 0; }));
  auto qs = admin("queues")["queues"];
  ASSERT_EQ(qs.size(), 1u);
  EXPECT_EQ(qs[0]["parked_receivers"], 0);
  EXPECT_EQ(qs[0]["qnum"], 1);
  expect_message_still_there(q);
}

TEST_F(Robustness, CancelAnswersEintrOnlyWhileParked) {
  const int q = queue_with_one_message();
  auto c = client();
  c->send(proto::MsgrcvRequest{q, 0, 5, 100}, 10);  // parks: no type-5 message
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 1; }));
  c->send(proto::CancelRequest{}, 10);
  auto r = c->receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 10u);
  EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status, static_cast<int>(proto::Errc::eintr));
  // Cancelling a call that already completed does nothing: the next reply is the next call's.
  c->send(proto::CancelRequest{}, 10);
  c->send(proto::MsgrcvRequest{q, proto::kIpcNowait, 7, 100}, 11);
  r = c->receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 11u);
  EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status, 0);
  EXPECT_EQ(admin("stats")["parked_calls"], 0);
}

TEST_F(Robustness, AParkedReceiverGetsTheMessageAnotherConnectionSends) {
  auto rx = client();
  auto tx = client();
  tx->send(proto::MsggetRequest{0x5eed, proto::kIpcCreat | 0600}, 2);
  const int q = std::get<proto::MsggetReply>(tx->receive()->second).msqid;
  rx->send(proto::MsgrcvRequest{q, 0, 0, 100}, 3);
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 1; }));
  proto::MsgsndRequest snd{q, 0, 3, 2, proto::TextState::present, {std::byte{'h'}, std::byte{'i'}}};
  tx->send(snd, 4);
  EXPECT_EQ(std::get<proto::MsgsndReply>(tx->receive()->second).status, 0);
  auto r = rx->receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 3u);
  auto m = std::get<proto::MsgrcvReply>(r->second);
  EXPECT_EQ(m.status, 0);
  EXPECT_EQ(m.mtype, 3);
  EXPECT_EQ(m.text.size(), 2u);
  // Rule 6.5: the daemon's view of lrpid is the receiver's pid (this process).
  auto qs = admin("queues")["queues"];
  EXPECT_EQ(qs[0]["lrpid"], ::getpid());
  EXPECT_EQ(qs[0]["qnum"], 0);
}

TEST_F(Robustness, RemovalWaitsForRequestsAlreadySentByOthers) {
  // SEMANTICS.md 8.2: a msgrcv written before the IPC_RMID is executed first, so it parks
  // and then sees EIDRM, never EINVAL. The daemon is frozen while the requests are
  // written, so on waking it finds both connections readable at once; which one the
  // reactor serves first is its business, so both connection orders are tried.
  for (const bool receiver_connects_first : {true, false}) {
    SCOPED_TRACE(receiver_connects_first ? "receiver connected first" : "owner connected first");
    std::unique_ptr<RawConnection> rx, owner;
    if (receiver_connects_first) rx = client();
    owner = client();
    if (!receiver_connects_first) rx = client();
    owner->send(proto::MsggetRequest{proto::kIpcPrivate, 0666}, 2);
    const int q = std::get<proto::MsggetReply>(owner->receive()->second).msqid;
    ASSERT_EQ(::kill(daemon_->pid(), SIGSTOP), 0);
    ASSERT_TRUE(eventually([&] { return process_state(daemon_->pid()) == 'T'; }));
    rx->send(proto::MsgrcvRequest{q, 0, 0, 100}, 4);
    owner->send(proto::MsgctlRequest{q, proto::kIpcRmid, proto::BufState::none, {}}, 5);
    ASSERT_EQ(::kill(daemon_->pid(), SIGCONT), 0);
    EXPECT_EQ(std::get<proto::MsgctlReply>(owner->receive()->second).status, 0);
    auto r = rx->receive();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status,
              static_cast<int>(proto::Errc::eidrm));
  }
}

// A raw client SIGKILLed after writing half a frame: the daemon drops the partial frame
// with the connection — a half-written MSGSND never enters the queue — and its parked
// call with it; everyone else is served as before.
TEST_F(Robustness, ClientKilledHalfWayThroughAFrameLeavesNothingBehind) {
  const int q = queue_with_one_message();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    auto c = client();
    c->send(proto::MsgrcvRequest{q, 0, 99, 100}, 5);  // type 99: parks
    proto::MsgsndRequest snd{q, 0, 8, 64, proto::TextState::present, {}};
    snd.text.assign(64, std::byte{'h'});
    const auto f = c->frame(snd, 6);
    c->write_all(std::span(f).first(f.size() / 2));
    (void)!::write(ready[1], "r", 1);
    ::pause();
    ::_exit(0);
  }
  char r = 0;
  ASSERT_EQ(::read(ready[0], &r, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 1; }));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(eventually([&] { return admin("stats")["connections"] == 1; }))
      << "the dead client's session is still open";  // 1: admin()'s own connection
  EXPECT_EQ(admin("stats")["parked_calls"], 0);
  auto qs = admin("queues")["queues"];
  ASSERT_EQ(qs.size(), 1u);
  EXPECT_EQ(qs[0]["qnum"], 1) << "half a msgsnd entered the queue";
  EXPECT_EQ(qs[0]["parked_receivers"], 0);
  expect_message_still_there(q);
}

// A reply the daemon cannot write (the client shut its reading side: EPIPE on the
// daemon's first write) carries a received message: it goes back to the queue, since
// no client ever had it (SEMANTICS.md 8.3).
TEST_F(Robustness, AMessageInAReplyThatCouldNotBeWrittenGoesBack) {
  auto rx = client();
  auto tx = client();
  tx->send(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 2);
  const int q = std::get<proto::MsggetReply>(tx->receive()->second).msqid;
  rx->send(proto::MsgrcvRequest{q, 0, 0, 100}, 3);
  ASSERT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 1; }));
  ASSERT_EQ(::shutdown(rx->fd(), SHUT_RD), 0);  // the daemon's writes now fail
  proto::MsgsndRequest snd{q, 0, 3, 2, proto::TextState::present, {std::byte{'h'}, std::byte{'i'}}};
  tx->send(snd, 4);
  EXPECT_EQ(std::get<proto::MsgsndReply>(tx->receive()->second).status, 0);
  EXPECT_TRUE(eventually([&] { return admin("stats")["parked_calls"] == 0; }));
  tx->send(proto::MsgrcvRequest{q, proto::kIpcNowait, 0, 100}, 5);
  auto m = std::get<proto::MsgrcvReply>(tx->receive()->second);
  EXPECT_EQ(m.status, 0) << "the message went into a reply nobody could read";
  EXPECT_EQ(m.mtype, 3);
  EXPECT_GE(admin("stats")["messages_restored"].get<int>(), 1);
}

}  // namespace
}  // namespace sysvmq::test
