// The daemon judged from outside: start-up, the socket file, config errors, systemd's
// socket passing and readiness, and SIGTERM with a parked caller.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/daemon/daemon_process.hpp"

namespace sysvmq::test {
namespace {

using namespace std::chrono_literals;

proto::Reply hello_ok(RawConnection& c) {
  EXPECT_TRUE(c.send(proto::HelloRequest{}, 1));
  auto r = c.receive();
  EXPECT_TRUE(r.has_value());
  return r ? r->second : proto::Reply{};
}

TEST(Lifecycle, ServesThenStopsOnSigtermAndRemovesItsSocket) {
  TempDir dir;
  const auto sock = dir.file("s.sock");
  DaemonProcess d(dir, std::vector<std::string>{"--socket", sock});
  ASSERT_TRUE(eventually([&] { return can_connect(sock); })) << d.log();
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u) << "default socket mode";
  RawConnection c(sock);
  auto hello = std::get<proto::HelloReply>(hello_ok(c));
  EXPECT_EQ(hello.status, 0);
  EXPECT_EQ(hello.msgmax, 8192);
  EXPECT_EQ(hello.msgmnb, 16384);
  EXPECT_EQ(hello.msgmni, 32000);
  EXPECT_EQ(d.terminate(), 0) << d.log();
  EXPECT_NE(::access(sock.c_str(), F_OK), 0) << "socket file left behind";
}

TEST(Lifecycle, RefusesToStartWhileAnotherDaemonServesThePath) {
  TempDir dir;
  const auto sock = dir.file("s.sock");
  DaemonProcess first(dir, std::vector<std::string>{"--socket", sock});
  ASSERT_TRUE(eventually([&] { return can_connect(sock); }));
  TempDir dir2;
  DaemonProcess second(dir2, std::vector<std::string>{"--socket", sock});
  EXPECT_EQ(second.wait_exit(), 1);
  EXPECT_NE(second.log().find("another daemon is already serving"), std::string::npos)
      << second.log();
  EXPECT_TRUE(can_connect(sock)) << "the first daemon must keep its socket";
  EXPECT_EQ(first.terminate(), 0);
}

TEST(Lifecycle, ReplacesAStaleSocketNobodyAnswers) {
  TempDir dir;
  const auto sock = dir.file("s.sock");
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, sock.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd);  // the file stays; nothing listens
  }
  DaemonProcess d(dir, std::vector<std::string>{"--socket", sock});
  ASSERT_TRUE(eventually([&] { return can_connect(sock); })) << d.log();
  EXPECT_EQ(d.terminate(), 0);
}

TEST(Lifecycle, RefusesToReplaceSomethingThatIsNotASocket) {
  TempDir dir;
  const auto path = dir.file("not-a-socket");
  std::ofstream(path) << "keep me";
  DaemonProcess d(dir, std::vector<std::string>{"--socket", path});
  EXPECT_EQ(d.wait_exit(), 1);
  EXPECT_NE(d.log().find("is not a socket"), std::string::npos) << d.log();
  std::ifstream in(path);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "keep me");
}

TEST(Lifecycle, ConfigWithAnUnknownKeyStopsTheStartNamingIt) {
  TempDir dir;
  std::ofstream(dir.file("c.json")) << R"({"limits": {"msgmax": 100, "msgmxb": 5}})";
  DaemonProcess d(dir, std::vector<std::string>{"--socket", dir.file("s.sock"), "--config", dir.file("c.json")});
  EXPECT_EQ(d.wait_exit(), 1);
  EXPECT_NE(d.log().find("limits.msgmxb"), std::string::npos) << d.log();
}

TEST(Lifecycle, ConfigLimitsAreTheOnesInForce) {
  TempDir dir;
  std::ofstream(dir.file("c.json"))
      << R"({"socket": {"mode": "0600"}, "limits": {"msgmax": 100, "msgmnb": 300, "msgmni": 2}})";
  const auto sock = dir.file("s.sock");
  DaemonProcess d(dir, std::vector<std::string>{"--socket", sock, "--config", dir.file("c.json")});
  ASSERT_TRUE(eventually([&] { return can_connect(sock); })) << d.log();
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  RawConnection c(sock);
  auto hello = std::get<proto::HelloReply>(hello_ok(c));
  EXPECT_EQ(hello.msgmax, 100);
  EXPECT_EQ(hello.msgmnb, 300);
  EXPECT_EQ(hello.msgmni, 2);
  // msgmni 2: the third queue is refused with ENOSPC (Rule 1.5).
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 10 + i));
    auto r = std::get<proto::MsggetReply>(c.receive()->second);
    EXPECT_EQ(r.status, i < 2 ? 0 : static_cast<int>(proto::Errc::enospc)) << i;
  }
  EXPECT_EQ(d.terminate(), 0);
}

TEST(Lifecycle, AdoptsTheSocketSystemdPassesAndSaysReady) {
  TempDir dir;
  const auto sock = dir.file("activated.sock");
  const auto notify = dir.file("notify.sock");
  // The "service manager": a datagram socket for sd_notify and a listening stream socket.
  const int nfd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un na{};
  na.sun_family = AF_UNIX;
  std::strncpy(na.sun_path, notify.c_str(), sizeof(na.sun_path) - 1);
  ASSERT_EQ(::bind(nfd, reinterpret_cast<sockaddr*>(&na), sizeof(na)), 0);
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un la{};
  la.sun_family = AF_UNIX;
  std::strncpy(la.sun_path, sock.c_str(), sizeof(la.sun_path) - 1);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&la), sizeof(la)), 0);
  ASSERT_EQ(::listen(lfd, 16), 0);

  DaemonProcess::Options o;
  o.args = {"--socket", dir.file("unused.sock")};
  o.env = {"LISTEN_FDS=1", "NOTIFY_SOCKET=" + notify};
  o.in_child = [lfd] {
    ::dup2(lfd, 3);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  };
  DaemonProcess d(dir, o);
  ::close(lfd);

  auto next_datagram = [&]() -> std::string {
    pollfd p{nfd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return "";
    char buf[256];
    const ssize_t n = ::recv(nfd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  };
  EXPECT_EQ(next_datagram(), "READY=1") << d.log();
  RawConnection c(sock);
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(std::get<proto::HelloReply>(hello_ok(c)).status, 0);
  EXPECT_NE(::access(dir.file("unused.sock").c_str(), F_OK), 0) << "must not bind --socket";
  ::kill(d.pid(), SIGTERM);
  EXPECT_EQ(next_datagram(), "STOPPING=1");
  EXPECT_EQ(d.wait_exit(), 0);
  EXPECT_EQ(::access(sock.c_str(), F_OK), 0) << "systemd's socket file is systemd's to remove";
  ::close(nfd);
}

TEST(Lifecycle, SigtermAnswersAParkedCallerShuttingDown) {
  TempDir dir;
  const auto sock = dir.file("s.sock");
  DaemonProcess d(dir, std::vector<std::string>{"--socket", sock});
  ASSERT_TRUE(eventually([&] { return can_connect(sock); }));
  RawConnection c(sock);
  hello_ok(c);
  ASSERT_TRUE(c.send(proto::MsggetRequest{proto::kIpcPrivate, 0600}, 2));
  const int q = std::get<proto::MsggetReply>(c.receive()->second).msqid;
  ASSERT_TRUE(c.send(proto::MsgrcvRequest{q, 0, 0, 100}, 3));  // parks: the queue is empty
  RawConnection admin(sock);
  hello_ok(admin);
  ASSERT_TRUE(eventually([&] {
    admin.send(proto::AdminRequest{R"({"op":"stats"})"}, 9);
    auto r = admin.receive();
    return r && nlohmann::json::parse(std::get<proto::AdminReply>(r->second).json)["parked_calls"] == 1;
  }));
  ::kill(d.pid(), SIGTERM);
  auto r = c.receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 3u);
  EXPECT_EQ(std::get<proto::MsgrcvReply>(r->second).status, proto::kStatusShuttingDown);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(d.wait_exit(), 0) << d.log();
}

TEST(Lifecycle, AnUnprivilegedDaemonStillSeesItsPeersCapabilities) {
  // The system service runs as a user of its own, which may not open other users'
  // /proc/<pid>/ns links; the peer's uid/gid maps must stand in (Rule 5.4.4).
  TempDir dir;
  ASSERT_EQ(::chown(dir.path().c_str(), 65534, 65534), 0);
  const auto sock = dir.file("s.sock");
  DaemonProcess::Options o;
  o.args = {"--socket", sock};
  o.in_child = [] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(126);
  };
  DaemonProcess d(dir, o);
  ASSERT_TRUE(eventually([&] { return can_connect(sock); })) << d.log();
  RawConnection c(sock);
  hello_ok(c);
  // A mode-0000 queue of root's: only CAP_IPC_OWNER lets root write to it (Rule 5.1).
  ASSERT_TRUE(c.send(proto::MsggetRequest{proto::kIpcPrivate, 0}, 2));
  const int q = std::get<proto::MsggetReply>(c.receive()->second).msqid;
  ASSERT_TRUE(c.send(proto::MsgsndRequest{q, proto::kIpcNowait, 1, 0, proto::TextState::present, {}}, 3));
  EXPECT_EQ(std::get<proto::MsgsndReply>(c.receive()->second).status, 0);
  // The same call with CAP_IPC_OWNER dropped for this call (Rule 5.4.6) is refused.
  ASSERT_TRUE(c.write_all(c.frame(
      proto::MsgsndRequest{q, proto::kIpcNowait, 1, 0, proto::TextState::present, {}}, 4,
      proto::kFlagCaps | proto::kFlagCapSysAdmin)));
  EXPECT_EQ(std::get<proto::MsgsndReply>(c.receive()->second).status,
            static_cast<int>(proto::Errc::eacces));
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

// A test process that dies (a crash, a ctest timeout's SIGKILL) takes its daemon with it
// (PR_SET_PDEATHSIG), so no daemon is left holding ctest's pipe. Both ways tests start
// daemons: DaemonProcess and the Daemon of tests/support/daemon_fixture.hpp.
bool gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  return all.empty() || (close != std::string::npos && close + 2 < all.size() &&
                         all[close + 2] == 'Z');  // a zombie nobody reaps yet is dead too
}

TEST(Lifecycle, ADaemonDiesWithTheTestProcessThatStartedIt) {
  for (const bool fixture : {false, true}) {
    SCOPED_TRACE(fixture ? "Daemon (daemon_fixture)" : "DaemonProcess");
    TempDir dir;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t test_process = ::fork();
    if (test_process == 0) {
      ::close(fds[0]);
      pid_t daemon = -1;
      std::string why;
      Daemon d;  // unused unless `fixture`
      std::unique_ptr<DaemonProcess> p;
      if (fixture) {
        ::setenv("SYSVMQ_DAEMON", SYSVMQ_DAEMON_PATH, 1);
        if (d.start(why)) daemon = d.pid();
        // Its directory is the parent's to remove: this process dies before it could.
        const std::string path = d.dir();
        (void)!::write(fds[1], path.c_str(), path.size() + 1);
      } else {
        p = std::make_unique<DaemonProcess>(
            dir, std::vector<std::string>{"--socket", dir.file("s.sock")});
        if (eventually([&] { return can_connect(dir.file("s.sock")); })) daemon = p->pid();
        (void)!::write(fds[1], "", 1);
      }
      (void)!::write(fds[1], &daemon, sizeof daemon);
      ::pause();
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string daemon_dir;
    char ch = 0;
    while (::read(fds[0], &ch, 1) == 1 && ch != '\0') daemon_dir += ch;
    pid_t daemon = -1;
    ASSERT_EQ(::read(fds[0], &daemon, sizeof daemon), static_cast<ssize_t>(sizeof daemon));
    ::close(fds[0]);
    ASSERT_GT(daemon, 0) << "the daemon did not start";
    ASSERT_FALSE(gone(daemon));
    ::kill(test_process, SIGKILL);
    ::waitpid(test_process, nullptr, 0);
    EXPECT_TRUE(eventually([&] { return gone(daemon); })) << "the daemon outlived its test";
    if (!gone(daemon)) ::kill(daemon, SIGKILL);
    if (!daemon_dir.empty()) std::filesystem::remove_all(daemon_dir);
  }
}

}  // namespace
}  // namespace sysvmq::test
