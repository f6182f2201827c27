// daemon_process.hpp: runs build/bin/sysvmqd as a child process for tests that judge the
// daemon from outside — its exit status, its stderr, its socket file, its signals, its
// environment (LISTEN_FDS, NOTIFY_SOCKET). For "a daemon to talk to", use
// tests/support/daemon_fixture.hpp instead.
// Also RawConnection: frames written by hand, for malformed-input tests.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/codec.hpp"
#include "tests/support/child_process.hpp"  // eventually
#include "tests/support/daemon_fixture.hpp"  // can_connect

namespace sysvmq::test {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sysvmq-test-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};


class DaemonProcess {
 public:
  struct Options {
    std::vector<std::string> args;
    std::vector<std::string> env;             // extra NAME=VALUE
    std::function<void()> in_child;           // runs in the child before exec
  };

  DaemonProcess(const TempDir& dir, std::vector<std::string> args)
      : DaemonProcess(dir, Options{std::move(args), {}, {}}) {}
  DaemonProcess(const TempDir& dir, Options o) : log_(dir.file("daemon.log")) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Dies with the test process (see daemon_fixture.cpp): a crashed test must not
      // leave a daemon holding ctest's pipe. The signal follows the forking *thread*.
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      for (auto& e : o.env) ::putenv(const_cast<char*>(e.c_str()));
      if (o.in_child) o.in_child();
      std::vector<char*> argv{const_cast<char*>(SYSVMQ_DAEMON_PATH)};
      for (auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~DaemonProcess() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  // Exit status if it has ended within `limit`; nullopt while it runs.
  std::optional<int> wait_exit(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    eventually([&] {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
      return status_.has_value();
    }, limit);
    if (!status_) return std::nullopt;
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
  }
  int terminate() {
    ::kill(pid_, SIGTERM);
    return wait_exit().value_or(-1);
  }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// One connection that speaks frames by hand.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool write_all(std::span<const std::byte> b) {
    std::size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  proto::Bytes frame(const proto::Request& r, std::uint64_t id, std::uint16_t flags = 0) {
    proto::Bytes b;
    proto::encode_request(id, flags, r, b);
    return b;
  }
  bool send(const proto::Request& r, std::uint64_t id) { return write_all(frame(r, id)); }

  // The next reply, or nullopt if the daemon closed the connection (or `limit` passed).
  std::optional<std::pair<std::uint64_t, proto::Reply>> receive(
      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto& dec = decoder_;
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      proto::FrameDecoder::Frame f;
      std::string why;
      if (dec.next(f, why) == proto::FrameDecoder::Status::frame) {
        auto r = proto::decode_reply(f.header, f.body, why);
        const auto id = f.header.request_id;
        if (!r) return std::nullopt;
        return std::make_pair(id, std::move(*r));
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      std::byte buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return std::nullopt;
      dec.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n)));
    }
  }
  // True once the daemon has closed its end.
  bool closed_by_peer(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    std::byte b[256];
    for (;;) {
      const ssize_t n = ::recv(fd_, b, sizeof(b), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  proto::FrameDecoder decoder_{proto::kClientMaxReplyBytes};
};

// A test with a daemon process of its own, talked to with raw frames: start_daemon() in
// SetUp or in the test, a HELLO-answered client(), a clean SIGTERM at the end.
class RawDaemonTest : public ::testing::Test {
 protected:
  // Starts sysvmqd on sock() with `extra` arguments and `env` (NAME=VALUE) added, and
  // waits until it listens. The directory is reachable by other users (setuid children).
  void start_daemon(std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    DaemonProcess::Options o;
    o.args = {"--socket", sock()};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    o.env = std::move(env);
    daemon_ = std::make_unique<DaemonProcess>(dir_, o);
    ASSERT_TRUE(eventually([&] { return can_connect(sock()); })) << daemon_->log();
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->terminate(), 0) << daemon_->log();
    }
  }
  std::string sock() const { return dir_.file("s.sock"); }

  // A connection whose HELLO was answered.
  std::unique_ptr<RawConnection> client() {
    auto c = std::make_unique<RawConnection>(sock());
    EXPECT_TRUE(c->send(proto::HelloRequest{}, 1));
    auto r = c->receive();
    EXPECT_TRUE(r && std::get<proto::HelloReply>(r->second).status == 0);
    return c;
  }

  TempDir dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

}  // namespace sysvmq::test
