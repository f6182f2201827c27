// restart_test.cpp: restarts that lose nothing (README "Restarts and crashes") — a
// graceful stop writes every queue to the state directory and the next daemon loads it,
// same ids, same fields, same messages in the same order; callers parked across the
// restart are served by the next daemon; a crash loses only what changed since the last
// periodic snapshot; a snapshot the daemon cannot load is kept aside, never dropped.
#include <gtest/gtest.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysvmq/client.hpp>
#include <sysvmq/sysvmq.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/integration_util.hpp"
#include "tests/support/daemon_fixture.hpp"

namespace sysvmq::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Files in `dir` whose name starts with `prefix`.
std::vector<std::string> files_starting(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  return out;
}

// Every msqid_ds field a caller sees, by name, for readable failures.
std::vector<std::pair<std::string, long long>> fields_of(int id) {
  struct msqid_ds ds {};
  if (sysvmq_msgctl(id, IPC_STAT, &ds) != 0) return {{"IPC_STAT errno", errno}};
  return {{"key", ds.msg_perm.__key},     {"uid", ds.msg_perm.uid},
          {"gid", ds.msg_perm.gid},       {"cuid", ds.msg_perm.cuid},
          {"cgid", ds.msg_perm.cgid},     {"mode", ds.msg_perm.mode},
          {"seq", ds.msg_perm.__seq},     {"stime", ds.msg_stime},
          {"rtime", ds.msg_rtime},        {"ctime", ds.msg_ctime},
          {"cbytes", static_cast<long long>(ds.__msg_cbytes)},
          {"qnum", static_cast<long long>(ds.msg_qnum)},
          {"qbytes", static_cast<long long>(ds.msg_qbytes)},
          {"lspid", ds.msg_lspid},        {"lrpid", ds.msg_lrpid}};
}

// Drains a queue without waiting: (mtype, text) in the order received.
std::vector<std::pair<long, std::string>> drain(int id) {
  std::vector<std::pair<long, std::string>> out;
  MsgBuf m;
  for (ssize_t n; (n = sysvmq_msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT)) >= 0;)
    out.emplace_back(m.mtype, std::string(m.mtext, static_cast<std::size_t>(n)));
  return out;
}

class Restarts : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    state_ = daemon_.dir() + "/state";
    restart({"--state-dir", state_});
  }

  // Stops the daemon (SIGTERM unless told otherwise) and starts the next one.
  void restart(std::vector<std::string> args = {}, int signo = SIGTERM) {
    if (args.empty()) args = {"--state-dir", state_};
    const auto status = daemon_.stop(signo);
    ASSERT_TRUE(status.has_value());
    if (signo == SIGTERM) {
      ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    }
    std::string why;
    ASSERT_TRUE(daemon_.start(why, args)) << why;
  }

  std::string snapshot() const { return state_ + "/queues.snapshot"; }

  std::string state_;
};

TEST_F(Restarts, QueuedMessagesSurviveASigtermInOrderWithTheSameIdsAndFields) {
  const int keyed = sysvmq_msgget(0x5e5e0001, IPC_CREAT | 0640);
  const int priv = sysvmq_msgget(IPC_PRIVATE, 0600);
  const int gone = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(keyed, 0);
  ASSERT_GE(priv, 0);
  ASSERT_EQ(sysvmq_msgctl(gone, IPC_RMID, nullptr), 0);
  std::vector<std::pair<long, std::string>> sent;
  for (int i = 0; i < 50; ++i) {
    const long mtype = 1 + i % 4;
    const std::string text = "message " + std::to_string(i) + std::string(static_cast<std::size_t>(i * 37 % 300), '.');
    MsgBuf m = make_msg(mtype, text);
    ASSERT_EQ(sysvmq_msgsnd(keyed, &m, text.size(), 0), 0);
    sent.emplace_back(mtype, text);
  }
  MsgBuf m;
  ASSERT_EQ(sysvmq_msgrcv(keyed, &m, sizeof m.mtext, 3, 0), static_cast<ssize_t>(sent[2].second.size()));
  sent.erase(sent.begin() + 2);
  const MsgBuf empty = make_msg(9, "");
  ASSERT_EQ(sysvmq_msgsnd(priv, &empty, 0, 0), 0);
  struct msqid_ds set {};
  ASSERT_EQ(sysvmq_msgctl(priv, IPC_STAT, &set), 0);
  set.msg_qbytes = 999;
  set.msg_perm.mode = 0604;
  ASSERT_EQ(sysvmq_msgctl(priv, IPC_SET, &set), 0);
  const auto keyed_before = fields_of(keyed);
  const auto priv_before = fields_of(priv);

  restart();

  EXPECT_EQ(sysvmq_msgget(0x5e5e0001, 0), keyed);
  EXPECT_EQ(fields_of(keyed), keyed_before);
  EXPECT_EQ(fields_of(priv), priv_before);
  struct msqid_ds ds {};
  EXPECT_EQ(sysvmq_msgctl(gone, IPC_STAT, &ds), -1);
  EXPECT_EQ(errno, EINVAL) << "a removed queue stays removed";
  EXPECT_EQ(drain(keyed), sent);
  EXPECT_EQ(drain(priv), (std::vector<std::pair<long, std::string>>{{9, ""}}));
  EXPECT_EQ(daemon_stats()["snapshots"]["loaded_queues"], 2);
  // The next queue gets a new id, not one a client may still hold.
  const int next = sysvmq_msgget(IPC_PRIVATE, 0600);
  EXPECT_NE(next, keyed);
  EXPECT_NE(next, priv);
  EXPECT_NE(next, gone);
  for (int id : {keyed, priv, next}) sysvmq_msgctl(id, IPC_RMID, nullptr);
}

TEST_F(Restarts, SeveralRestartsInARowKeepEverything) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  for (int round = 0; round < 3; ++round) {
    const std::string text = "round " + std::to_string(round);
    MsgBuf m = make_msg(round + 1, text);
    ASSERT_EQ(sysvmq_msgsnd(id, &m, text.size(), 0), 0);
    restart();
  }
  EXPECT_EQ(drain(id), (std::vector<std::pair<long, std::string>>{
                           {1, "round 0"}, {2, "round 1"}, {3, "round 2"}}));
  sysvmq_msgctl(id, IPC_RMID, nullptr);
}

TEST_F(Restarts, ABlockedMsgrcvAcrossARestartGetsTheMessageSentAfterIt) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  ssize_t got = -1;
  int err = 0;
  MsgBuf in;
  std::thread receiver([&] {
    got = sysvmq_msgrcv(id, &in, sizeof in.mtext, 7, 0);
    err = errno;
  });
  ASSERT_TRUE(parked_becomes(1));

  restart();

  const MsgBuf other = make_msg(3, "not this one");
  ASSERT_EQ(sysvmq_msgsnd(id, &other, 12, 0), 0);
  const MsgBuf out = make_msg(7, "after the restart");
  ASSERT_EQ(sysvmq_msgsnd(id, &out, 17, 0), 0);
  receiver.join();
  EXPECT_EQ(got, 17) << std::strerror(err);
  EXPECT_EQ(in.mtype, 7);
  EXPECT_EQ(std::string(in.mtext, 17), "after the restart");
  EXPECT_EQ(drain(id), (std::vector<std::pair<long, std::string>>{{3, "not this one"}}));
  sysvmq_msgctl(id, IPC_RMID, nullptr);
}

TEST_F(Restarts, ASenderHeldBackAcrossARestartSendsOnceWhenRoomIsMade) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  struct msqid_ds ds {};
  ASSERT_EQ(sysvmq_msgctl(id, IPC_STAT, &ds), 0);
  ds.msg_qbytes = 10;
  ASSERT_EQ(sysvmq_msgctl(id, IPC_SET, &ds), 0);
  const MsgBuf full = make_msg(1, "0123456789");
  ASSERT_EQ(sysvmq_msgsnd(id, &full, 10, 0), 0);
  int rc = -1, err = 0;
  std::thread sender([&] {
    const MsgBuf late = make_msg(2, "late");
    rc = sysvmq_msgsnd(id, &late, 4, 0);
    err = errno;
  });
  ASSERT_TRUE(parked_becomes(1));

  restart();

  MsgBuf m;
  ASSERT_EQ(sysvmq_msgrcv(id, &m, sizeof m.mtext, 1, 0), 10);  // makes room
  sender.join();
  EXPECT_EQ(rc, 0) << std::strerror(err);
  EXPECT_EQ(drain(id), (std::vector<std::pair<long, std::string>>{{2, "late"}}));
  sysvmq_msgctl(id, IPC_RMID, nullptr);
}

TEST_F(Restarts, ACrashKeepsWhatThePeriodicSnapshotHeld) {
  restart({"--state-dir", state_, "--snapshot-interval", "1"});
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  const MsgBuf m = make_msg(5, "periodic");
  ASSERT_EQ(sysvmq_msgsnd(id, &m, 8, 0), 0);
  // Wait until a periodic snapshot holds it: one written after the send.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (daemon_stats()["snapshots"].value("written", 0) < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_GE(daemon_stats()["snapshots"].value("written", 0), 1);

  restart({"--state-dir", state_}, SIGKILL);

  EXPECT_EQ(drain(id), (std::vector<std::pair<long, std::string>>{{5, "periodic"}}));
  sysvmq_msgctl(id, IPC_RMID, nullptr);
}

TEST_F(Restarts, WithoutChangesThePeriodicSnapshotIsNotRewritten) {
  restart({"--state-dir", state_, "--snapshot-interval", "1"});
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (daemon_stats()["snapshots"].value("written", 0) < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(daemon_stats()["snapshots"].value("written", 0), 1);
  // Each stats request is a call, so ask once, after three intervals.
  std::this_thread::sleep_for(3500ms);
  EXPECT_LE(daemon_stats()["snapshots"].value("written", 0), 2)
      << "an idle daemon rewrote its snapshot every interval";
  sysvmq_msgctl(id, IPC_RMID, nullptr);
}

// A damaged snapshot: refused with the reason, kept aside byte for byte, the daemon
// serving with no queues — and the kept file survives the next snapshot.
void expect_refused_and_kept(Restarts& t, const std::string& state, const std::string& damaged,
                             const char* reason) {
  auto s = daemon_stats()["snapshots"];
  EXPECT_NE(s.value("refused_at_start", "").find(reason), std::string::npos) << s.dump();
  const auto kept = files_starting(state, "queues.snapshot.refused-");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(s.value("kept_aside", ""), kept[0]);
  EXPECT_EQ(read_file(kept[0]), damaged) << "the refused snapshot was changed";
  EXPECT_EQ(daemon_stats()["queues"], 0);
  (void)t;
}

TEST_F(Restarts, ACorruptSnapshotIsRefusedKeptAsideAndNeverDropped) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  const MsgBuf m = make_msg(1, "precious");
  ASSERT_EQ(sysvmq_msgsnd(id, &m, 8, 0), 0);
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string bytes = read_file(snapshot());
  ASSERT_GT(bytes.size(), 60u);
  bytes[bytes.size() / 2] ^= 0x20;
  write_file(snapshot(), bytes);

  std::string why;
  ASSERT_TRUE(daemon_.start(why, {"--state-dir", state_})) << why;
  expect_refused_and_kept(*this, state_, bytes, "checksum");
  // The next graceful stop writes a new snapshot beside the kept one.
  restart();
  EXPECT_EQ(files_starting(state_, "queues.snapshot.refused-").size(), 1u);
  EXPECT_EQ(read_file(files_starting(state_, "queues.snapshot.refused-")[0]), bytes);
}

TEST_F(Restarts, ATruncatedSnapshotIsRefusedKeptAsideAndNeverDropped) {
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  const MsgBuf m = make_msg(1, "precious");
  ASSERT_EQ(sysvmq_msgsnd(id, &m, 8, 0), 0);
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string bytes = read_file(snapshot());
  bytes.resize(bytes.size() - 5);
  write_file(snapshot(), bytes);
  std::string why;
  ASSERT_TRUE(daemon_.start(why, {"--state-dir", state_})) << why;
  expect_refused_and_kept(*this, state_, bytes, "truncated");
}

TEST_F(Restarts, ASecondDaemonOnTheSameStateDirectoryIsRefused) {
  Daemon second;
  std::string why;
  EXPECT_FALSE(second.start(why, {"--state-dir", state_}));
  EXPECT_NE(why.find("exited before listening"), std::string::npos) << why;
  // The first one's state is untouched and it still serves.
  EXPECT_GE(sysvmq_msgget(IPC_PRIVATE, 0600), 0);
  EXPECT_EQ(files_starting(state_, "queues.snapshot.refused-").size(), 0u);
}

TEST_F(Restarts, AStateDirectoryOthersMayWriteIsRefused) {
  const std::string open_dir = daemon_.dir() + "/open";
  fs::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  ASSERT_TRUE(daemon_.stop().has_value());
  std::string why;
  EXPECT_FALSE(daemon_.start(why, {"--state-dir", open_dir}));
  EXPECT_FALSE(fs::exists(open_dir + "/queues.snapshot"));
}

// A disk that fills up: the final snapshot fails loudly (exit status 1), and the one
// before it is still whole — a failed write never damages what is there.
TEST_F(Restarts, AFinalSnapshotThatCannotBeWrittenFailsLoudlyAndKeepsThePreviousOne) {
  // A 256 KiB tmpfs of this test's own (a private mount namespace: nothing outside sees
  // it, and it goes away with this test process).
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    GTEST_SKIP() << "no private mount namespace: " << std::strerror(errno);
  const std::string small = daemon_.dir() + "/small";
  fs::create_directory(small);
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k,mode=0700"), 0) << std::strerror(errno);
  struct Unmount {
    Daemon& daemon;
    std::string path;
    ~Unmount() {
      daemon.stop();
      ::umount2(path.c_str(), MNT_DETACH);
    }
  } unmount{daemon_, small};
  const std::string state = small + "/state";
  restart({"--state-dir", state});
  const int id = sysvmq_msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0);
  const MsgBuf old = make_msg(1, "kept");
  ASSERT_EQ(sysvmq_msgsnd(id, &old, 4, 0), 0);
  restart({"--state-dir", state});  // the snapshot holding "kept"

  {
    std::ofstream filler(small + "/filler", std::ios::binary);
    const std::string block(4096, 'f');
    while (filler.write(block.data(), block.size()) && filler.flush()) {
    }
  }
  MsgBuf big = make_msg(2, std::string(8000, 'x'));
  for (int i = 0; i < 2; ++i) ASSERT_EQ(sysvmq_msgsnd(id, &big, 8000, IPC_NOWAIT), 0);
  const auto status = daemon_.stop(SIGTERM);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1)
      << "a daemon that could not write its snapshot exited " << *status;
  EXPECT_FALSE(fs::exists(state + "/queues.snapshot.tmp")) << "the half-written file was left";

  fs::remove(small + "/filler");
  std::string why;
  ASSERT_TRUE(daemon_.start(why, {"--state-dir", state})) << why;
  EXPECT_EQ(daemon_stats()["snapshots"].value("refused_at_start", ""), "");
  EXPECT_EQ(drain(id), (std::vector<std::pair<long, std::string>>{{1, "kept"}}));
  sysvmq_msgctl(id, IPC_RMID, nullptr);
}

}  // namespace
}  // namespace sysvmq::test
