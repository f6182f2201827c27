// fake_daemon_test.cpp: the client library's side of the protocol, against a scripted
// daemon, for the orders a real daemon produces only by chance: a reply that was on its
// way when the client sent CANCEL (the message must be returned, SEMANTICS.md 8.1),
// "shutting down" followed by a reissue (8.14), a broken reply (EPROTO), and the
// capability flags of each request (Rule 5.4.6).
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "proto/codec.hpp"
#include "tests/integration/integration_util.hpp"

namespace sysvmq::test {
namespace {

struct Received {
  proto::FrameHeader header;
  proto::Request request;
};

// A listening socket in a temporary directory and the calls a script needs.
class FakeDaemon {
 public:
  FakeDaemon() {
    char templ[] = "/tmp/sysvmq-fake-XXXXXX";
    dir_ = ::mkdtemp(templ);
    path_ = dir_ + "/fake.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 8);
  }
  ~FakeDaemon() {
    ::close(listen_fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }

  // Accepts a connection and answers its HELLO — and its RING_SETUP, when the client asks
  // for the fast path, with ENOSYS: this daemon speaks the socket only, and the client
  // must carry on without rings. -1 on failure.
  int accept_client() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return -1;
    auto hello = read_request(fd);
    if (!hello || !std::holds_alternative<proto::HelloRequest>(hello->request)) {
      close_client(fd);
      return -1;
    }
    proto::HelloReply reply;
    reply.msgmax = 8192;
    reply.msgmnb = 16384;
    reply.msgmni = 32000;
    reply.max_frame_bytes = proto::kDefaultMaxFrameBytes;
    send_reply(fd, hello->header.request_id, reply);
    const char* fast = std::getenv("SYSVMQ_FASTPATH");
    if (fast == nullptr || std::string_view(fast) != "0") {
      auto setup = read_request(fd);
      if (!setup || !std::holds_alternative<proto::RingSetupRequest>(setup->request)) {
        close_client(fd);
        return -1;
      }
      send_reply(fd, setup->header.request_id,
                 proto::RingSetupReply{static_cast<std::int32_t>(proto::Errc::enosys)});
    }
    return fd;
  }

  // The next request on `fd`, or nullopt on EOF, a bad frame, or `timeout_ms` passing.
  std::optional<Received> read_request(int fd, int timeout_ms = 5000) {
    proto::FrameDecoder& decoder =
        decoders_.try_emplace(fd, proto::kDefaultMaxFrameBytes).first->second;
    for (;;) {
      proto::FrameDecoder::Frame frame;
      std::string why;
      const auto st = decoder.next(frame, why);
      if (st == proto::FrameDecoder::Status::bad) return std::nullopt;
      if (st == proto::FrameDecoder::Status::frame) {
        auto request = proto::decode_request(frame.header, frame.body, why);
        if (!request) return std::nullopt;
        return Received{frame.header, std::move(*request)};
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
      auto room = decoder.prepare(4096);
      const ssize_t k = ::recv(fd, room.data(), room.size(), 0);
      if (k <= 0) return std::nullopt;
      decoder.commit(static_cast<std::size_t>(k));
    }
  }

  void close_client(int fd) {
    decoders_.erase(fd);
    ::close(fd);
  }

  void send_reply(int fd, std::uint64_t request_id, const proto::Reply& reply) {
    proto::Bytes bytes;
    proto::encode_reply(request_id, reply, bytes);
    send_bytes(fd, bytes);
  }
  void send_bytes(int fd, const proto::Bytes& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

 private:
  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  std::map<int, proto::FrameDecoder> decoders_;
};

std::atomic<int> g_signals{0};
void on_signal(int) { g_signals.fetch_add(1); }

class FakeDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old_action_), 0);
    if (const char* old = std::getenv("SYSVMQ_SOCKET")) saved_env_ = old;
    ::setenv("SYSVMQ_SOCKET", fake_.path().c_str(), 1);
  }
  void TearDown() override {
    ::sigaction(SIGUSR1, &old_action_, nullptr);
    if (saved_env_) {
      ::setenv("SYSVMQ_SOCKET", saved_env_->c_str(), 1);
    } else {
      ::unsetenv("SYSVMQ_SOCKET");
    }
  }

  // Runs `call` in a new thread (a new connection) and returns its result and errno.
  template <class Call>
  std::thread start(Call call, long& result, int& err, std::atomic<pid_t>& tid) {
    return std::thread([&result, &err, &tid, call] {
      tid = current_tid();
      result = call();
      err = errno;
    });
  }

  FakeDaemon fake_;
  struct sigaction old_action_ {};
  std::optional<std::string> saved_env_;
};

TEST_F(FakeDaemonTest, MessageAnsweredAfterCancelIsReturnedNotEintr) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  MsgBuf in;
  std::thread client = start(
      [&] { return static_cast<long>(sysvmq_msgrcv(3, &in, sizeof in.mtext, 0, 0)); }, result,
      err, tid);
  const int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto rcv = fake_.read_request(fd);
  ASSERT_TRUE(rcv && std::holds_alternative<proto::MsgrcvRequest>(rcv->request));
  ASSERT_TRUE(wait_until_in_poll(tid.load()));
  ::pthread_kill(client.native_handle(), SIGUSR1);
  auto cancel = fake_.read_request(fd);
  ASSERT_TRUE(cancel && std::holds_alternative<proto::CancelRequest>(cancel->request));
  EXPECT_EQ(cancel->header.request_id, rcv->header.request_id);
  // The daemon had already handed the message over: it stands.
  proto::MsgrcvReply reply;
  reply.mtype = 5;
  reply.text = {std::byte{'l'}, std::byte{'a'}, std::byte{'t'}, std::byte{'e'}};
  fake_.send_reply(fd, rcv->header.request_id, reply);
  client.join();
  EXPECT_EQ(result, 4) << std::strerror(err);
  EXPECT_EQ(in.mtype, 5);
  EXPECT_EQ(std::string(in.mtext, 4), "late");
  fake_.close_client(fd);
}

TEST_F(FakeDaemonTest, CancelConfirmedByTheDaemonIsEintrAndOnlyOneCancelIsSent) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  std::thread client = start(
      [&] {
        const MsgBuf out = make_msg(1, "x");
        return static_cast<long>(sysvmq_msgsnd(3, &out, 1, 0));
      },
      result, err, tid);
  const int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto snd = fake_.read_request(fd);
  ASSERT_TRUE(snd && std::holds_alternative<proto::MsgsndRequest>(snd->request));
  ASSERT_TRUE(wait_until_in_poll(tid.load()));
  ::pthread_kill(client.native_handle(), SIGUSR1);
  auto cancel = fake_.read_request(fd);
  ASSERT_TRUE(cancel && std::holds_alternative<proto::CancelRequest>(cancel->request));
  // A second signal while the verdict is pending sends nothing more.
  ASSERT_TRUE(wait_until_in_poll(tid.load()));
  ::pthread_kill(client.native_handle(), SIGUSR1);
  EXPECT_FALSE(fake_.read_request(fd, 200).has_value());
  fake_.send_reply(fd, snd->header.request_id, proto::MsgsndReply{EINTR});
  client.join();
  EXPECT_EQ(result, -1);
  EXPECT_EQ(err, EINTR);
  fake_.close_client(fd);
}

TEST_F(FakeDaemonTest, CallThatCannotParkSendsNoCancelAndIgnoresSignals) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  std::thread client = start([&] { return static_cast<long>(sysvmq_msgget(42, 0)); }, result,
                             err, tid);
  const int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto get = fake_.read_request(fd);
  ASSERT_TRUE(get && std::holds_alternative<proto::MsggetRequest>(get->request));
  ASSERT_TRUE(wait_until_in_poll(tid.load()));
  ::pthread_kill(client.native_handle(), SIGUSR1);
  EXPECT_FALSE(fake_.read_request(fd, 200).has_value()) << "no CANCEL for msgget";
  fake_.send_reply(fd, get->header.request_id, proto::MsggetReply{0, 77});
  client.join();
  EXPECT_EQ(result, 77) << std::strerror(err);
  fake_.close_client(fd);
}

TEST_F(FakeDaemonTest, ShuttingDownMakesTheClientReconnectAndIssueTheSameCall) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  MsgBuf in;
  std::thread client = start(
      [&] { return static_cast<long>(sysvmq_msgrcv(9, &in, sizeof in.mtext, -3, 0)); }, result,
      err, tid);
  int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto first = fake_.read_request(fd);
  ASSERT_TRUE(first && std::holds_alternative<proto::MsgrcvRequest>(first->request));
  proto::MsgrcvReply stopping;
  stopping.status = proto::kStatusShuttingDown;
  fake_.send_reply(fd, first->header.request_id, stopping);
  fake_.close_client(fd);

  fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto again = fake_.read_request(fd);
  ASSERT_TRUE(again && std::holds_alternative<proto::MsgrcvRequest>(again->request));
  const auto& a = std::get<proto::MsgrcvRequest>(first->request);
  const auto& b = std::get<proto::MsgrcvRequest>(again->request);
  EXPECT_EQ(b.msqid, a.msqid);
  EXPECT_EQ(b.msgtyp, -3);
  EXPECT_EQ(b.msgsz, a.msgsz);
  proto::MsgrcvReply reply;
  reply.mtype = 2;
  reply.text = {std::byte{'o'}, std::byte{'k'}};
  fake_.send_reply(fd, again->header.request_id, reply);
  client.join();
  EXPECT_EQ(result, 2) << std::strerror(err);
  fake_.close_client(fd);
}

TEST_F(FakeDaemonTest, ReplyToAnotherRequestIsEproto) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  std::thread client = start([&] { return static_cast<long>(sysvmq_msgget(42, 0)); }, result,
                             err, tid);
  const int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto get = fake_.read_request(fd);
  ASSERT_TRUE(get.has_value());
  fake_.send_reply(fd, get->header.request_id + 100, proto::MsggetReply{0, 1});
  client.join();
  EXPECT_EQ(result, -1);
  EXPECT_EQ(err, EPROTO);
  fake_.close_client(fd);
}

TEST_F(FakeDaemonTest, ConnectionClosedMidCallIsConnectionReset) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  std::thread client = start([&] { return static_cast<long>(sysvmq_msgget(42, 0)); }, result,
                             err, tid);
  const int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(fake_.read_request(fd).has_value());
  fake_.close_client(fd);
  client.join();
  EXPECT_EQ(result, -1);
  EXPECT_EQ(err, ECONNRESET);
}

TEST_F(FakeDaemonTest, EveryRequestCarriesTheThreadsCapabilities) {
  long result = 0;
  int err = 0;
  std::atomic<pid_t> tid{0};
  std::thread client = start([&] { return static_cast<long>(sysvmq_msgget(42, 0)); }, result,
                             err, tid);
  const int fd = fake_.accept_client();
  ASSERT_GE(fd, 0);
  auto get = fake_.read_request(fd);
  ASSERT_TRUE(get.has_value());
  const std::uint16_t flags = get->header.flags;
  fake_.send_reply(fd, get->header.request_id, proto::MsggetReply{0, 1});
  client.join();
  EXPECT_TRUE(flags & proto::kFlagCaps);
  EXPECT_EQ(flags & ~proto::kRequestFlagsMask, 0);
  // What capget says about this thread (the client thread had the same set).
  std::string status;
  {
    std::ifstream f("/proc/thread-self/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("CapEff:", 0) == 0) status = line.substr(7);
    }
  }
  const unsigned long long eff = std::stoull(status, nullptr, 16);
  EXPECT_EQ((flags & proto::kFlagCapIpcOwner) != 0, ((eff >> 15) & 1) != 0);
  EXPECT_EQ((flags & proto::kFlagCapSysAdmin) != 0, ((eff >> 21) & 1) != 0);
  EXPECT_EQ((flags & proto::kFlagCapSysResource) != 0, ((eff >> 24) & 1) != 0);
  fake_.close_client(fd);
}

}  // namespace
}  // namespace sysvmq::test
