// The fast path judged from outside: clients get rings unless SYSVMQ_FASTPATH=0, sends
// are paid with credit, and what credit promises never shows: a send complete on credit
// is seen by every later call of anyone, credit goes with the permission that earned it,
// nobody else is held back by it, and nothing sent on it is lost when the sender dies.
// Every test here also runs as socket.* (SYSVMQ_FASTPATH=0), where the same semantics
// must hold without rings; only the counters differ.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysvmq/client.hpp>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "proto/codec.hpp"
#include "proto/ring.hpp"
#include "tests/integration/integration_util.hpp"
#include "tests/support/child_process.hpp"  // eventually
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;

bool fast_path_on() {
  const char* v = std::getenv("SYSVMQ_FASTPATH");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

nlohmann::json fast_path_stats() {
  sysvmq::Client c;
  auto answer = c.admin(R"({"op":"stats"})");
  if (!answer) return nlohmann::json::object();
  return nlohmann::json::parse(*answer).value("fast_path", nlohmann::json::object());
}

std::uint64_t sends_on_credit() { return fast_path_stats().value("sends_on_credit", 0ull); }

// The payload of message i: its number, so order and content can be checked.
MsgBuf numbered(int i) { return make_msg(1, "m" + std::to_string(i) + std::string(10, '.')); }

// A client speaking the ring protocol by hand, so a test decides exactly what the daemon
// is told: above all, it can publish entries and ring no doorbell.
class RawRingClient {
 public:
  explicit RawRingClient(const std::string& socket_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    proto::Reply reply;
    if (!call_on_socket(proto::HelloRequest{}, reply)) return;
    int region_fd = -1;
    if (!call_on_socket(proto::RingSetupRequest{}, reply, &region_fd)) return;
    const auto* setup = std::get_if<proto::RingSetupReply>(&reply);
    if (setup == nullptr || setup->status != 0 || region_fd < 0) return;
    layout_ = {setup->region_bytes, setup->sq_offset,   setup->sq_capacity, setup->cq_offset,
               setup->cq_capacity,  setup->lq_offset,   setup->lq_capacity};
    if (!proto::ring::layout_valid(layout_, layout_.region_bytes) || layout_.lq_capacity == 0) {
      ::close(region_fd);
      return;
    }
    void* p = ::mmap(nullptr, layout_.region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                     region_fd, 0);
    ::close(region_fd);
    if (p == MAP_FAILED) return;
    region_ = static_cast<std::byte*>(p);
    sq_ = proto::ring::RingWriter(region_, layout_.sq_offset, layout_.sq_capacity,
                                  proto::ring::kSqHeadOffset, proto::ring::kSqTailOffset, true);
    cq_ = proto::ring::RingReader(region_, layout_.cq_offset, layout_.cq_capacity,
                                  proto::ring::kCqHeadOffset, proto::ring::kCqTailOffset);
  }
  ~RawRingClient() {
    if (region_ != nullptr) ::munmap(region_, layout_.region_bytes);
    close();
  }
  bool ok() const { return region_ != nullptr; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::byte* region() { return region_; }

  // A msgsnd answered through the rings (ringing the doorbell), which earns credit.
  int answered_send(int msqid, const std::string& text) {
    publish(request_for(msqid, text), 0);
    bell();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::size_t copied = 0;
      if (cq_.read(replies_, 1 << 20, copied) != proto::ring::RingReader::Status::ok) return -2;
      proto::FrameDecoder::Frame f;
      std::string why;
      if (replies_.next(f, why) == proto::FrameDecoder::Status::frame) {
        auto r = proto::decode_reply(f.header, f.body, why);
        const auto* s = r ? std::get_if<proto::MsgsndReply>(&*r) : nullptr;
        return s == nullptr ? -3 : s->status;
      }
      std::this_thread::sleep_for(1ms);
    }
    return -4;
  }
  // A msgsnd on credit, published and paid for; no doorbell. False without credit.
  bool send_on_credit(int msqid, const std::string& text) {
    return publish(request_for(msqid, text), proto::kFlagOnCredit);
  }

  // A msgrcv (msgtyp 0, IPC_NOWAIT) answered through the rings, which earns a lease.
  // The text, or nullopt.
  std::optional<std::string> answered_receive(int msqid) {
    proto::MsgrcvRequest r;
    r.msqid = msqid;
    r.msgsz = 8192;
    r.msgflg = IPC_NOWAIT;
    proto::Bytes frame;
    proto::encode_request(next_id_++, 0, r, frame);
    sq_.write(frame);
    sq_.publish();
    bell();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::size_t copied = 0;
      if (cq_.read(replies_, 1 << 20, copied) != proto::ring::RingReader::Status::ok) break;
      proto::FrameDecoder::Frame f;
      std::string why;
      if (replies_.next(f, why) == proto::FrameDecoder::Status::frame) {
        auto reply = proto::decode_reply(f.header, f.body, why);
        const auto* m = reply ? std::get_if<proto::MsgrcvReply>(&*reply) : nullptr;
        if (m == nullptr || m->status != 0) return std::nullopt;
        return std::string(reinterpret_cast<const char*>(m->text.data()), m->text.size());
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

  // Publishes `frame` if the submission ring has room for it now; no doorbell.
  bool try_publish(const proto::Bytes& frame) {
    std::uint64_t room = 0;
    if (!sq_.free_bytes(room) || room < frame.size()) return false;
    sq_.write(frame);
    sq_.publish();
    return true;
  }
  proto::Bytes frame_of(const proto::Request& r) {
    proto::Bytes frame;
    proto::encode_request(next_id_++, 0, r, frame);
    return frame;
  }
  // Every whole reply in the completion ring now (consuming it), with its request id.
  // False when the ring or a frame is broken.
  bool take_replies(std::vector<std::pair<std::uint64_t, proto::Reply>>& out) {
    std::size_t copied = 0;
    if (cq_.read(replies_, 1 << 20, copied) != proto::ring::RingReader::Status::ok) return false;
    for (;;) {
      proto::FrameDecoder::Frame f;
      std::string why;
      const auto st = replies_.next(f, why);
      if (st == proto::FrameDecoder::Status::need_more) return true;
      if (st == proto::FrameDecoder::Status::bad) return false;
      auto r = proto::decode_reply(f.header, f.body, why);
      if (!r) return false;
      out.emplace_back(f.header.request_id, std::move(*r));
    }
  }
  void ring_doorbell() { bell(); }

  // Claims the next lent message by hand, ringing nothing: its text, or nullopt.
  std::optional<std::string> claim_lent() {
    namespace ring = proto::ring;
    auto claim = ring::word64(region_, ring::kLqClaimOffset);
    std::uint64_t word = claim.load();
    if (ring::claim_revoked(word)) return std::nullopt;
    const std::uint64_t head = ring::claim_head(word);
    const std::uint64_t tail = ring::word64(region_, ring::kLqTailOffset).load();
    if (((tail - head) & ring::kIndexMask) < proto::kHeaderBytes) return std::nullopt;
    const std::byte* data = region_ + layout_.lq_offset;
    std::array<std::byte, proto::kHeaderBytes> hb;
    ring::copy_out(data, layout_.lq_capacity, head, hb.data(), hb.size());
    const auto h = proto::parse_header(hb);
    proto::Bytes body(h.body_len);
    ring::copy_out(data, layout_.lq_capacity, head + proto::kHeaderBytes, body.data(), body.size());
    std::string why;
    auto m = proto::decode_lent(h, body, why);
    if (!m) return std::nullopt;
    const auto next = ring::claim_word(head + proto::kHeaderBytes + h.body_len,
                                       ring::claim_epoch(word), false);
    if (!claim.compare_exchange_strong(word, next)) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(m->text.data()), m->text.size());
  }

 private:
  static proto::MsgsndRequest request_for(int msqid, const std::string& text) {
    proto::MsgsndRequest r;
    r.msqid = msqid;
    r.mtype = 1;
    r.msgsz = static_cast<std::int64_t>(text.size());
    r.text.resize(text.size());
    std::memcpy(r.text.data(), text.data(), text.size());
    return r;
  }
  bool publish(const proto::MsgsndRequest& r, std::uint16_t flags) {
    proto::Bytes frame;
    proto::encode_request(next_id_++, flags, r, frame);
    std::uint64_t room = 0;
    if (!sq_.free_bytes(room) || room < frame.size()) return false;
    sq_.write(frame);
    if (flags & proto::kFlagOnCredit)
      return sq_.publish_spending({1, static_cast<std::uint32_t>(r.text.size())});
    sq_.publish();
    return true;
  }
  void bell() {
    proto::Bytes frame;
    proto::encode_request(0, 0, proto::DoorbellRequest{}, frame);
    // Never blocks: a daemon that stopped reading this socket (max_output_bytes) must
    // not hold the test.
    (void)!::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  bool call_on_socket(const proto::Request& req, proto::Reply& reply, int* fd_out = nullptr) {
    proto::Bytes frame;
    proto::encode_request(next_id_++, 0, req, frame);
    if (::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size()))
      return false;
    proto::FrameDecoder decoder(proto::kClientMaxReplyBytes);
    for (;;) {
      proto::FrameDecoder::Frame f;
      std::string why;
      const auto st = decoder.next(f, why);
      if (st == proto::FrameDecoder::Status::bad) return false;
      if (st == proto::FrameDecoder::Status::frame) {
        auto r = proto::decode_reply(f.header, f.body, why);
        if (!r) return false;
        reply = std::move(*r);
        return true;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      auto room = decoder.prepare(4096);
      iovec iov{room.data(), room.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t k = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
      if (k <= 0) return false;
      decoder.commit(static_cast<std::size_t>(k));
      if (cmsghdr* c = CMSG_FIRSTHDR(&msg); c && c->cmsg_type == SCM_RIGHTS && fd_out)
        std::memcpy(fd_out, CMSG_DATA(c), sizeof(int));
    }
  }

  int fd_ = -1;
  std::uint64_t next_id_ = 1;
  proto::ring::Layout layout_;
  std::byte* region_ = nullptr;
  proto::ring::RingWriter sq_;
  proto::ring::RingReader cq_;
  proto::FrameDecoder replies_{proto::kClientMaxReplyBytes};
};

class FastPath : public DaemonTest {};

// The daemon stops polling rings a little after the last work and sleeps until a
// doorbell (PROTOCOL.md "Waiting"); well after that, entries nobody rang for just sit.
void let_the_daemon_go_idle() { std::this_thread::sleep_for(50ms); }

TEST_F(FastPath, ADaemonActsOnNothingBeforeItRanEverySendPaidWithCredit) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  RawRingClient raw(daemon_.socket_path());
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw.answered_send(q.id(), "first"), 0);
  let_the_daemon_go_idle();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(raw.send_on_credit(q.id(), "paid"));
  // Nobody rang; the sends are complete all the same. Any call now must see them.
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 11u);
}

TEST_F(FastPath, ACreditSenderThatHangsUpLosesNothingItPublished) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  {
    RawRingClient raw(daemon_.socket_path());
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(raw.answered_send(q.id(), "first"), 0);
    let_the_daemon_go_idle();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(raw.send_on_credit(q.id(), "paid"));
    raw.close();  // the daemon hears only the hang-up
  }
  std::this_thread::sleep_for(50ms);  // it has closed the session by now
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 11u);
}

std::string text_of(const MsgBuf& m, ssize_t n) {
  return n < 0 ? "error " + std::to_string(errno) : std::string(m.mtext, static_cast<std::size_t>(n));
}

// The descriptors of this process that are sockets.
std::vector<int> socket_fds() {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().rfind("socket:", 0) == 0)
      out.push_back(std::stoi(e.path().filename().string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A send on credit does not look at the socket (it would cost a system call per send).
// When the program has closed it and given the number to a socket of its own, while the
// daemon has not yet seen the hang-up (it is stopped here), the send is published and
// paid for, the daemon runs it when it hears the hang-up — and the library never rings
// its doorbell into the program's socket.
TEST_F(FastPath, ASendOnCreditAfterTheProgramTookTheSocketsNumberWritesNothingIntoIt) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  struct Resume {
    pid_t pid;
    bool stopped = false;
    ~Resume() {
      if (stopped) ::kill(pid, SIGCONT);
    }
  } resume{daemon_.pid()};
  int sent = -1;
  int program_end = -1;
  std::string why;
  std::thread t([&] {
    const auto before = socket_fds();
    const MsgBuf a = make_msg(1, "a"), b = make_msg(1, "b"), c = make_msg(1, "c");
    if (sysvmq_msgsnd(q.id(), &a, 1, 0) != 0 || sysvmq_msgsnd(q.id(), &b, 1, 0) != 0) {
      why = "first sends failed";
      return;
    }
    std::vector<int> ours;
    const auto after = socket_fds();
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(ours));
    if (ours.size() != 1) {
      why = "expected one new socket, found " + std::to_string(ours.size());
      return;
    }
    let_the_daemon_go_idle();
    resume.stopped = ::kill(resume.pid, SIGSTOP) == 0;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0 ||
        ::dup2(pair[0], ours[0]) != ours[0]) {
      why = "could not take the number";
      return;
    }
    ::close(pair[0]);
    program_end = pair[1];
    sent = sysvmq_msgsnd(q.id(), &c, 1, 0);
  });
  t.join();
  ASSERT_EQ(why, "");
  EXPECT_EQ(sent, 0);
  ::kill(resume.pid, SIGCONT);
  resume.stopped = false;
  pollfd p{program_end, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 100), 0) << "bytes were written into the program's socket";
  ::close(program_end);
  for (const char* want : {"a", "b", "c"}) {
    MsgBuf in;
    EXPECT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT)), want);
  }
}

// A daemon that dies cannot take credit back. A send with credit in hand after that
// must fail as any call to a dead daemon does (SEMANTICS.md 8.14: a crash is never
// hidden), not vanish into a ring nobody drains.
TEST_F(FastPath, ASendWithCreditInHandAfterTheDaemonDiedFails) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  int first = -1;
  int after_death = 0;
  int after_death_errno = 0;
  std::thread t([&] {
    const MsgBuf m = make_msg(1, "x");
    first = sysvmq_msgsnd(q.id(), &m, 1, 0) | sysvmq_msgsnd(q.id(), &m, 1, 0);
    daemon_.stop(SIGKILL);
    after_death = sysvmq_msgsnd(q.id(), &m, 1, 0);
    after_death_errno = errno;
  });
  t.join();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(after_death, -1) << "a send after the daemon died reported success";
  EXPECT_EQ(after_death_errno, ECONNREFUSED) << std::strerror(after_death_errno);
  std::string why;
  ASSERT_TRUE(daemon_.start(why)) << why;  // for the fixture's own ending
}

TEST_F(FastPath, CreditCannotBeSpentTwice) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  RawRingClient raw(daemon_.socket_path());
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw.answered_send(q.id(), "first"), 0);
  // A client that writes itself more credit than it was given is cut off when it spends
  // it; the daemon and everyone else go on.
  auto word = proto::ring::word64(raw.region(), proto::ring::kSqTailOffset);
  word.store(proto::ring::with_credit(word.load(), {255, 0xffffff}));
  for (int i = 0; i < 255; ++i)
    if (!raw.send_on_credit(q.id(), std::string(4000, 'x'))) break;
  std::this_thread::sleep_for(50ms);
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_LE(ds.msg_cbytes, ds.msg_qbytes) << "more was queued than msg_qbytes allows";
  const auto stats = nlohmann::json::parse(*sysvmq::Client().admin(R"({"op":"stats"})"));
  EXPECT_GE(stats.value("sessions_closed_bad_input", 0), 1);
}

TEST_F(FastPath, ClientsUseRingsUnlessTurnedOff) {
  Queue q;  // a call: this thread's connection exists now
  ASSERT_GE(q.id(), 0);
  const auto fp = fast_path_stats();
  if (fast_path_on()) {
    EXPECT_GE(fp.value("connections", 0), 1) << fp.dump();
    EXPECT_GE(fp.value("rings_set_up", 0), 1) << fp.dump();
  } else {
    EXPECT_EQ(fp.value("connections", -1), 0) << fp.dump();
    EXPECT_EQ(fp.value("rings_set_up", -1), 0) << fp.dump();
  }
}

TEST_F(FastPath, AStreamOfSendsIsPaidWithCreditAndArrivesWholeAndInOrder) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  constexpr int kCount = 3000;  // far more than msg_qbytes holds: credit runs out and returns
  std::thread consumer([&] {
    for (int i = 0; i < kCount; ++i) {
      MsgBuf in;
      const ssize_t n = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0);
      const MsgBuf want = numbered(i);
      ASSERT_EQ(n, static_cast<ssize_t>(std::strlen(want.mtext))) << "message " << i;
      ASSERT_EQ(std::string(in.mtext, static_cast<std::size_t>(n)), want.mtext) << "message " << i;
    }
  });
  const auto before = sends_on_credit();
  for (int i = 0; i < kCount; ++i) {
    const MsgBuf m = numbered(i);
    ASSERT_EQ(sysvmq_msgsnd(q.id(), &m, std::strlen(m.mtext), 0), 0) << "message " << i;
  }
  consumer.join();
  const auto paid = sends_on_credit() - before;
  if (fast_path_on()) {
    EXPECT_GT(paid, 0u);
  } else {
    EXPECT_EQ(paid, 0u);
  }
  MsgBuf rest;
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &rest, sizeof rest.mtext, 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, ENOMSG);
}

TEST_F(FastPath, AfterOneAnsweredSendTheNextOnesArePaidWithCredit) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  const auto before = sends_on_credit();
  // An empty queue of 16384 bytes: the first send is answered and earns credit for up
  // to 255 messages and half the room (8191 bytes); 99 sends of 14 bytes fit in it.
  for (int i = 0; i < 100; ++i) {
    const MsgBuf m = numbered(i);
    ASSERT_EQ(sysvmq_msgsnd(q.id(), &m, 14, 0), 0);
  }
  EXPECT_EQ(sends_on_credit() - before, fast_path_on() ? 99u : 0u);
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 100u);
  EXPECT_EQ(ds.msg_cbytes, 1400u);
}

TEST_F(FastPath, ASendCompleteOnCreditIsSeenByAnyLaterCallOfAnyone) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);  // this thread's connection first
  constexpr int kCount = 50;
  std::atomic<bool> first_sent{false};
  std::atomic<bool> go{false};
  std::atomic<bool> all_sent{false};
  std::thread producer([&] {
    MsgBuf m = numbered(0);
    EXPECT_EQ(sysvmq_msgsnd(q.id(), &m, 8, 0), 0);  // answered: credit comes with it
    first_sent = true;
    while (!go) std::this_thread::sleep_for(1ms);
    for (int i = 1; i < kCount; ++i) {
      m = numbered(i);
      EXPECT_EQ(sysvmq_msgsnd(q.id(), &m, 8, 0), 0);
    }
    all_sent = true;
  });
  while (!first_sent) std::this_thread::sleep_for(1ms);
  // With the daemon stopped, only a send on credit can complete.
  ASSERT_EQ(::kill(daemon_.pid(), SIGSTOP), 0);
  go = true;
  for (int i = 0; i < 200 && !all_sent; ++i) std::this_thread::sleep_for(5ms);
  const bool completed_while_stopped = all_sent;
  // The observer's request is in the daemon's hands before the daemon runs again; it
  // must not be answered before the completed sends are applied.
  std::thread resume([&] {
    std::this_thread::sleep_for(50ms);
    ::kill(daemon_.pid(), SIGCONT);
  });
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  resume.join();
  producer.join();
  if (fast_path_on()) {
    EXPECT_TRUE(completed_while_stopped) << "sends on credit should not wait for the daemon";
    EXPECT_EQ(ds.msg_qnum, static_cast<msgqnum_t>(kCount)) << "a completed send is missing";
  } else {
    EXPECT_FALSE(completed_while_stopped);
  }
}

// A child that becomes nobody (so only the mode's "other" bits let it in), does
// `earn` — calls that earn credit or a lease —, waits while this process calls `change`,
// then tries `again`. The child's exit status: 0 when `again` failed with EACCES, as
// the kernel answers once the permission is gone; 10.. when something else went wrong.
int nobody_across_a_permission_change(const std::function<bool()>& earn,
                                      const std::function<void()>& change,
                                      const std::function<bool()>& again_is_eacces) {
  int ready[2], go[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    if (!earn()) ::_exit(11);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1) ::_exit(12);
    ::_exit(again_is_eacces() ? 0 : 13);
  }
  char c = 0;
  int st = -1;
  if (::read(ready[0], &c, 1) == 1) {
    change();
    if (::write(go[1], "g", 1) != 1) ::kill(child, SIGKILL);
  }
  ::waitpid(child, &st, 0);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
  return st;
}

// Sets the queue's mode as its owner (this process).
void set_mode(int msqid, mode_t mode) {
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(msqid, IPC_STAT, &ds), 0);
  ds.msg_perm.mode = mode;
  ASSERT_EQ(sysvmq_msgctl(msqid, IPC_SET, &ds), 0);
}

TEST_F(FastPath, CreditGoesWithThePermissionThatEarnedIt) {
  Queue q(0666);
  ASSERT_GE(q.id(), 0);
  MsgBuf m = make_msg(1, "x");
  const int st = nobody_across_a_permission_change(
      [&] {
        for (int i = 0; i < 5; ++i)
          if (sysvmq_msgsnd(q.id(), &m, 1, 0) != 0) return false;
        return true;
      },
      [&] {
        EXPECT_EQ(qnum(q.id()), 5u);
        set_mode(q.id(), 0644);  // others may no longer write
      },
      [&] { return sysvmq_msgsnd(q.id(), &m, 1, 0) == -1 && errno == EACCES; });
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  EXPECT_EQ(qnum(q.id()), 5u) << "a send after IPC_SET took write permission away landed";
}

TEST_F(FastPath, NobodyElseIsHeldBackByRoomPromisedToCredit) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  ds.msg_qbytes = 1000;
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_SET, &ds), 0);
  // Another thread (its own connection, kept open) sends once and is promised half the
  // room.
  std::atomic<bool> sent{false};
  std::atomic<bool> done{false};
  std::thread holder([&] {
    MsgBuf m = make_msg(1, "h");
    EXPECT_EQ(sysvmq_msgsnd(q.id(), &m, 1, 0), 0);
    sent = true;
    while (!done) std::this_thread::sleep_for(1ms);
  });
  while (!sent) std::this_thread::sleep_for(1ms);
  if (fast_path_on()) {
    EXPECT_GT(fast_path_stats().value("reserved_bytes", 0), 0);
  }
  // 1 + 900 bytes fit in 1000: the kernel takes it, promise or not.
  MsgBuf big = make_msg(2, std::string(900, 'b'));
  EXPECT_EQ(sysvmq_msgsnd(q.id(), &big, 900, IPC_NOWAIT), 0) << std::strerror(errno);
  done = true;
  holder.join();
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 2u);
  EXPECT_EQ(ds.msg_cbytes, 901u);
}

TEST_F(FastPath, SendsOnCreditSurviveTheSendersSuddenDeath) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  constexpr int kCount = 40;
  const pid_t child = ::fork();
  if (child == 0) {
    for (int i = 0; i < kCount; ++i) {
      const MsgBuf m = numbered(i);
      if (sysvmq_msgsnd(q.id(), &m, std::strlen(m.mtext), 0) != 0) ::_exit(1);
    }
    ::raise(SIGKILL);  // no goodbye: whatever the daemon has not run yet sits in the ring
  }
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFSIGNALED(st)) << "child status " << st;
  for (int i = 0; i < kCount; ++i) {
    MsgBuf in;
    const MsgBuf want = numbered(i);
    const ssize_t n = sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT);
    ASSERT_EQ(n, static_cast<ssize_t>(std::strlen(want.mtext))) << "message " << i << " lost";
    EXPECT_EQ(std::string(in.mtext, static_cast<std::size_t>(n)), want.mtext);
  }
}

TEST_F(FastPath, RemovalComesAfterEverySendPaidBeforeIt) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  MsgBuf m = make_msg(1, "before");
  for (int i = 0; i < 20; ++i) ASSERT_EQ(sysvmq_msgsnd(id, &m, 6, 0), 0);
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(id, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 20u);
  ASSERT_EQ(sysvmq_msgctl(id, IPC_RMID, nullptr), 0);
  // The id is dead for every call, sends that held credit for it included.
  EXPECT_EQ(sysvmq_msgsnd(id, &m, 6, 0), -1);
  EXPECT_TRUE(errno == EINVAL || errno == EIDRM) << std::strerror(errno);
  EXPECT_EQ(fast_path_stats().value("reserved_bytes", -1), 0);
}

// ---- lent messages -------------------------------------------------------------------

// Sends `n` numbered messages through this thread's connection.
void fill(int msqid, int n) {
  for (int i = 0; i < n; ++i) {
    const MsgBuf m = numbered(i);
    ASSERT_EQ(sysvmq_msgsnd(msqid, &m, std::strlen(m.mtext), 0), 0);
  }
}

TEST_F(FastPath, AReceiverTakesLentMessagesWithoutAskingInOrder) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  fill(q.id(), 100);
  const auto before = fast_path_stats().value("receives_on_lease", 0ull);
  for (int i = 0; i < 100; ++i) {
    MsgBuf in;
    EXPECT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT)),
              numbered(i).mtext);
  }
  const auto lent = fast_path_stats().value("receives_on_lease", 0ull) - before;
  if (fast_path_on()) {
    EXPECT_GT(lent, 50u) << "after the first answered receive, the next ones are lent";
  } else {
    EXPECT_EQ(lent, 0u);
  }
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 0u);
  EXPECT_EQ(ds.msg_cbytes, 0u);
}

TEST_F(FastPath, AnotherReceiverGetsTheFirstMessageEvenWhenItIsLent) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  fill(q.id(), 10);
  MsgBuf in;
  ASSERT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0)), numbered(0).mtext);
  // This thread may now hold messages 1.. on lease; another receiver comes first.
  std::thread other([&] {
    MsgBuf o;
    EXPECT_EQ(text_of(o, sysvmq_msgrcv(q.id(), &o, sizeof o.mtext, 0, IPC_NOWAIT)),
              numbered(1).mtext);
  });
  other.join();
  ASSERT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT)),
            numbered(2).mtext);
}

TEST_F(FastPath, ALentMessageTooLongForTheBufferIsE2bigAndStays) {
  Queue q;
  ASSERT_GE(q.id(), 0);
  fill(q.id(), 3);
  MsgBuf in;
  ASSERT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, 0)), numbered(0).mtext);
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, 2, 0, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, E2BIG);
  EXPECT_EQ(sysvmq_msgrcv(q.id(), &in, 2, 0, IPC_NOWAIT | MSG_NOERROR), 2);
  EXPECT_EQ(std::string(in.mtext, 2), "m1");  // the one that stayed, cut to 2 bytes
  EXPECT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT)),
            numbered(2).mtext);
}

TEST_F(FastPath, ADaemonActsOnNothingBeforeItSettledEveryClaim) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  fill(q.id(), 10);
  RawRingClient raw(daemon_.socket_path());
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw.answered_receive(q.id()), std::string(numbered(0).mtext));
  let_the_daemon_go_idle();
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(raw.claim_lent(), std::string(numbered(i).mtext));
  // Claimed, nobody told: a call now must see them gone.
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(q.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 5u);
  EXPECT_EQ(ds.msg_lrpid, ::getpid());
  MsgBuf in;
  EXPECT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT)),
            numbered(5).mtext);
}

TEST_F(FastPath, AReceiverThatHangsUpKeepsWhatItClaimedAndNothingElse) {
  if (!fast_path_on()) GTEST_SKIP() << "about rings; the socket twin has none";
  Queue q;
  ASSERT_GE(q.id(), 0);
  fill(q.id(), 10);
  {
    RawRingClient raw(daemon_.socket_path());
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(raw.answered_receive(q.id()), std::string(numbered(0).mtext));
    let_the_daemon_go_idle();
    for (int i = 1; i <= 3; ++i) ASSERT_EQ(raw.claim_lent(), std::string(numbered(i).mtext));
    raw.close();
  }
  std::this_thread::sleep_for(50ms);
  for (int i = 4; i < 10; ++i) {
    MsgBuf in;
    EXPECT_EQ(text_of(in, sysvmq_msgrcv(q.id(), &in, sizeof in.mtext, 0, IPC_NOWAIT)),
              numbered(i).mtext);
  }
}

TEST_F(FastPath, ALeaseGoesWithThePermissionThatEarnedIt) {
  Queue q(0666);
  ASSERT_GE(q.id(), 0);
  fill(q.id(), 10);
  MsgBuf m;
  const int st = nobody_across_a_permission_change(
      [&] { return sysvmq_msgrcv(q.id(), &m, sizeof m.mtext, 0, 0) >= 0; },
      [&] { set_mode(q.id(), 0662); },  // others may write, no longer read
      [&] {
        return sysvmq_msgrcv(q.id(), &m, sizeof m.mtext, 0, IPC_NOWAIT) == -1 && errno == EACCES;
      });
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  EXPECT_EQ(qnum(q.id()), 9u) << "a receive after IPC_SET took read permission away succeeded";
}

// SECURITY.md: a ring client that publishes requests and never consumes its completions
// cannot grow the daemon beyond max_output_bytes: past it the daemon stops running that
// connection's ring entries (those it already copied out wait), and goes on once the
// client consumes. Nothing is lost or reordered on the way.
TEST_F(FastPath, ARingClientThatNeverConsumesCannotGrowTheDaemon) {
  // A small bound, so that what the daemon would run without it (two rings' worth of
  // MSG_COPY requests per wake-up, 8 KiB each answered) shows in its resident size.
  const std::string conf = daemon_.dir() + "/small-output.json";
  std::ofstream(conf) << R"({"limits": {"max_output_bytes": 65536}})";
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string why;
  {
    // The daemon inherits this process's environment: its quarantine off, as its peak
    // memory is bounded below (asan_options_for_memory_bounds).
    const char* saved = std::getenv("ASAN_OPTIONS");
    const std::string restore = saved != nullptr ? saved : "";
    const std::string measured = asan_options_for_memory_bounds();
    ::setenv("ASAN_OPTIONS", measured.substr(measured.find('=') + 1).c_str(), 1);
    const bool started = daemon_.start(why, {"--config", conf});
    if (saved != nullptr) {
      ::setenv("ASAN_OPTIONS", restore.c_str(), 1);
    } else {
      ::unsetenv("ASAN_OPTIONS");
    }
    ASSERT_TRUE(started) << why;
  }
  Queue q;
  ASSERT_GE(q.id(), 0);
  MsgBuf m = make_msg(1, std::string(8192, 'r'));
  ASSERT_EQ(sysvmq_msgsnd(q.id(), &m, 8192, 0), 0);
  RawRingClient raw(daemon_.socket_path());  // rings whatever SYSVMQ_FASTPATH says
  ASSERT_TRUE(raw.ok());
  const long rss_before = status_kib(daemon_.pid(), "VmRSS");
  ASSERT_GT(rss_before, 0);

  // Publish MSG_COPY requests while the submission ring takes them; stop once it has
  // stayed full for a while (the daemon no longer drains it) or after kRequests.
  constexpr int kRequests = 10000;
  proto::MsgrcvRequest copy{q.id(), IPC_NOWAIT | MSG_COPY, 0, 8192};
  std::uint64_t first_id = 0;
  int published = 0;
  auto stalled_since = std::chrono::steady_clock::now();
  while (published < kRequests &&
         std::chrono::steady_clock::now() - stalled_since < 500ms) {
    auto frame = raw.frame_of(copy);
    const std::uint64_t id = proto::parse_header(std::span(frame).first<proto::kHeaderBytes>())
                                 .request_id;
    if (published == 0) first_id = id;
    while (!raw.try_publish(frame) &&
           std::chrono::steady_clock::now() - stalled_since < 500ms) {
      raw.ring_doorbell();
      std::this_thread::sleep_for(1ms);
    }
    if (std::chrono::steady_clock::now() - stalled_since >= 500ms) break;
    ++published;
    stalled_since = std::chrono::steady_clock::now();
  }
  raw.ring_doorbell();
  ASSERT_GT(published, 0);

  // Now consume: every reply comes, in order, whole.
  std::vector<std::pair<std::uint64_t, proto::Reply>> replies;
  EXPECT_TRUE(eventually(
      [&] {
        if (!raw.take_replies(replies)) return true;  // broken: judged below
        raw.ring_doorbell();  // room again in the completion ring
        return replies.size() >= static_cast<std::size_t>(published);
      },
      30s));
  ASSERT_EQ(replies.size(), static_cast<std::size_t>(published));
  for (std::size_t i = 0; i < replies.size(); ++i) {
    ASSERT_EQ(replies[i].first, first_id + i);
    const auto* r = std::get_if<proto::MsgrcvReply>(&replies[i].second);
    ASSERT_TRUE(r != nullptr && r->status == 0 && r->text.size() == 8192u) << i;
  }
  const long peak = status_kib(daemon_.pid(), "VmHWM");
  // Measured: under 1 MiB of growth with the bound; about 13 MiB when the daemon runs
  // a whole ring's worth of entries regardless (the bound removed).
  EXPECT_LT(peak - rss_before, 6 * 1024)
      << published << " requests; VmRSS before " << rss_before << " KiB, VmHWM " << peak;
  sysvmq::Client c;
  auto answer = c.admin(R"({"op":"stats"})");
  ASSERT_TRUE(answer.ok());
  EXPECT_GE(nlohmann::json::parse(*answer).value("output_pauses", 0), 1);
}

}  // namespace
}  // namespace sysvmq::test
