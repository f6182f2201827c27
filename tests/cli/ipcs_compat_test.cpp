// `sysvmq ls` against `ipcs -q` (util-linux): the same queues are made in the kernel
// (in a private IPC namespace of this test process) and in a fresh daemon, and every view
// must print the same lines, column for column. Ids are compared too: a fresh namespace
// and a fresh daemon hand out the same ids (SEMANTICS.md Rule 1.8). Pids match exactly
// because this process makes every call on both sides; times may straddle a second
// boundary, so a time only has to have ctime's shape.
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sysvmq/client.hpp>

#include <gtest/gtest-spi.h>

#include "tests/cli/cli_util.hpp"

namespace sysvmq::test {
namespace {

// The calls the scenario makes, on the kernel or on the daemon.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual int get(key_t key, int flags) = 0;
  virtual bool send(int id, long type, std::size_t size) = 0;
  virtual bool receive(int id) = 0;
  virtual bool give(int id, uid_t uid, gid_t gid, unsigned mode) = 0;
  virtual bool remove(int id) = 0;
};

class Kernel : public Backend {
 public:
  int get(key_t key, int flags) override { return ::msgget(key, flags); }
  bool send(int id, long type, std::size_t size) override {
    std::vector<char> buf(sizeof(long) + size, 'k');
    std::memcpy(buf.data(), &type, sizeof type);
    return ::msgsnd(id, buf.data(), size, IPC_NOWAIT) == 0;
  }
  bool receive(int id) override {
    std::vector<char> buf(sizeof(long) + 8192);
    return ::msgrcv(id, buf.data(), 8192, 0, IPC_NOWAIT) >= 0;
  }
  bool give(int id, uid_t uid, gid_t gid, unsigned mode) override {
    msqid_ds ds{};
    if (::msgctl(id, IPC_STAT, &ds) != 0) return false;
    ds.msg_perm.uid = uid;
    ds.msg_perm.gid = gid;
    ds.msg_perm.mode = static_cast<unsigned short>(mode);
    return ::msgctl(id, IPC_SET, &ds) == 0;
  }
  bool remove(int id) override { return ::msgctl(id, IPC_RMID, nullptr) == 0; }
};

class Daemon : public Backend {
 public:
  explicit Daemon(const std::string& sock) : client_(sock) {}
  int get(key_t key, int flags) override {
    auto r = client_.msgget(key, flags);
    return r ? *r : -1;
  }
  bool send(int id, long type, std::size_t size) override {
    return client_.msgsnd(id, type, std::string(size, 'd'), IPC_NOWAIT).ok();
  }
  bool receive(int id) override { return client_.msgrcv(id, 8192, 0, IPC_NOWAIT).ok(); }
  bool give(int id, uid_t uid, gid_t gid, unsigned mode) override {
    auto ds = client_.stat(id);
    if (!ds) return false;
    ds->msg_perm.uid = uid;
    ds->msg_perm.gid = gid;
    ds->msg_perm.mode = static_cast<unsigned short>(mode);
    return client_.set(id, *ds).ok();
  }
  bool remove(int id) override { return client_.remove(id).ok(); }

 private:
  Client client_;
};

// Queues of every kind ipcs shows differently; returns the ids of the live ones.
std::vector<int> make_queues(Backend& b) {
  std::vector<int> ids;
  auto make = [&](key_t key, int flags) {
    const int id = b.get(key, flags);
    EXPECT_GE(id, 0) << "msgget(" << key << ")";
    ids.push_back(id);
    return id;
  };
  const int priv = make(IPC_PRIVATE, 0600);
  EXPECT_TRUE(b.send(priv, 1, 0));  // a zero-length message counts, and weighs nothing
  const int busy = make(0x1234, IPC_CREAT | 0644);
  EXPECT_TRUE(b.send(busy, 1, 10));
  EXPECT_TRUE(b.send(busy, 2, 100));
  EXPECT_TRUE(b.send(busy, 3, 1000));
  const int negative_key = make(static_cast<key_t>(0xdeadbeef), IPC_CREAT | 0640);
  EXPECT_TRUE(b.send(negative_key, 7, 8192));
  const int read_from = make(0x42, IPC_CREAT | 0666);
  EXPECT_TRUE(b.send(read_from, 1, 5));
  EXPECT_TRUE(b.send(read_from, 1, 7));
  EXPECT_TRUE(b.receive(read_from));  // sets rtime and lrpid
  const int gone = b.get(0x99, IPC_CREAT | 0600);  // leaves an empty slot behind
  EXPECT_TRUE(b.remove(gone));
  const int nobody = make(0x43, IPC_CREAT | 0600);
  EXPECT_TRUE(b.give(nobody, 65534, 65534, 0604));  // names from passwd and group
  const int unnamed = make(0x44, IPC_CREAT | 0600);
  EXPECT_TRUE(b.give(unnamed, 12345, 54321, 0));  // numbers: no such user or group
  make(0x7fffffff, IPC_CREAT | 0777);  // the widest key, every permission bit
  return ids;
}

// ctime's hh:mm:ss: the only token that may differ between the two sides.
bool is_clock(const std::string& s) {
  static const std::regex clock(R"(\d\d:\d\d:\d\d)");
  return std::regex_match(s, clock);
}

std::vector<std::string> tokens(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

// Line by line: equal, or equal token by token where a clock may differ (and then the
// line keeps its width) and, in data rows, the id column may differ (`id_column`, or
// the "msqid=N" token of ipcs -i).
void expect_same_view(const std::string& view, const std::string& kernel,
                      const std::string& daemon, int id_column) {
  const auto k = split_lines(kernel), d = split_lines(daemon);
  ASSERT_EQ(k.size(), d.size()) << view << "\n--- ipcs\n" << kernel << "--- sysvmq\n" << daemon;
  for (std::size_t i = 0; i < k.size(); ++i) {
    if (k[i] == d[i]) continue;
    const auto kt = tokens(k[i]), dt = tokens(d[i]);
    bool ids_differ = false;
    bool ok = kt.size() == dt.size();
    for (std::size_t j = 0; ok && j < kt.size(); ++j) {
      if (kt[j] == dt[j] || (is_clock(kt[j]) && is_clock(dt[j]))) continue;
      if ((static_cast<int>(j) == id_column) || (kt[j].starts_with("msqid=") && dt[j].starts_with("msqid="))) {
        ids_differ = true;
        continue;
      }
      ok = false;
    }
    if (ok && !ids_differ) ok = k[i].size() == d[i].size();  // a clock moved, widths stay
    EXPECT_TRUE(ok) << view << " line " << i << "\nipcs:   [" << k[i] << "]\nsysvmq: [" << d[i]
                    << "]";
  }
}

// The comparison itself: a referee that lets everything through would prove nothing.
const std::string kIpcsRow = "0x00001234 1          root       644        1110         3           \n";
const std::string kOtherId = "0x00001234 12         root       644        1110         3           \n";
const std::string kOtherBytes = "0x00001234 1          root       644        1111         3           \n";
const std::string kIpcsTime = "3        root       Nov 28 05:31:08      Not set              Nov 28 05:31:08     \n";
const std::string kNextSecond = "3        root       Nov 28 05:31:09      Not set              Nov 28 05:31:09     \n";
const std::string kNotSet = "3        root       Nov 28 05:31:08      Not set              Not set             \n";
const std::string kNarrower = "0x00001234 1          root       644        1110         3          \n";

TEST(ViewComparison, ToleratesOnlyIdsAndClocks) {
  expect_same_view("ids", kIpcsRow, kOtherId, 1);
  expect_same_view("clock", kIpcsTime, kNextSecond, 0);
  EXPECT_NONFATAL_FAILURE(expect_same_view("bytes", kIpcsRow, kOtherBytes, 1), "line 0");
  EXPECT_NONFATAL_FAILURE(expect_same_view("not set", kIpcsTime, kNotSet, 0), "line 0");
  EXPECT_NONFATAL_FAILURE(expect_same_view("width", kIpcsRow, kNarrower, 1), "line 0");
}

class IpcsCompat : public CliTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private IPC namespace";
    if (::unshare(CLONE_NEWIPC) != 0) GTEST_SKIP() << "unshare(CLONE_NEWIPC): " << std::strerror(errno);
    if (run({"ipcs", "-V"}).status != 0) GTEST_SKIP() << "no ipcs on this machine";
    CliTest::SetUp();
    if (HasFatalFailure()) return;
    Kernel kernel;
    kernel_ids_ = make_queues(kernel);
    Daemon daemon(sock());
    daemon_ids_ = make_queues(daemon);
  }
  void TearDown() override {
    Kernel kernel;
    for (int id : kernel_ids_) kernel.remove(id);
  }

  // `ipcs -q <args>` and `sysvmq ls <args>`, both of which must succeed.
  std::pair<std::string, std::string> both(const std::vector<std::string>& ipcs_args,
                                           const std::vector<std::string>& ls_args) {
    std::vector<std::string> ipcs{"ipcs", "-q"};
    ipcs.insert(ipcs.end(), ipcs_args.begin(), ipcs_args.end());
    std::vector<std::string> ls{"ls"};
    ls.insert(ls.end(), ls_args.begin(), ls_args.end());
    const ProcessResult k = run(ipcs), d = cli(ls);
    EXPECT_EQ(k.status, 0) << describe(k);
    EXPECT_EQ(d.status, 0) << describe(d);
    EXPECT_EQ(d.err, "");
    return {k.out, d.out};
  }

  std::vector<int> kernel_ids_, daemon_ids_;
};

TEST_F(IpcsCompat, AFreshNamespaceAndAFreshDaemonHandOutTheSameIds) {
  EXPECT_EQ(kernel_ids_, daemon_ids_);
}

TEST_F(IpcsCompat, ListMatchesIpcsQ) {
  const auto [k, d] = both({}, {});
  EXPECT_NE(k.find("0xdeadbeef"), std::string::npos) << k;  // the scenario reached ipcs
  expect_same_view("ls", k, d, 1);
}

TEST_F(IpcsCompat, CreatorViewMatchesIpcsQC) {
  const auto [k, d] = both({"-c"}, {"-c"});
  EXPECT_NE(k.find("nogroup"), std::string::npos) << k;
  expect_same_view("ls -c", k, d, 0);
}

TEST_F(IpcsCompat, PidViewMatchesIpcsQP) {
  const auto [k, d] = both({"-p"}, {"-p"});
  EXPECT_NE(k.find(std::to_string(::getpid())), std::string::npos) << k;
  expect_same_view("ls -p", k, d, 0);
}

TEST_F(IpcsCompat, TimeViewHasTheShapeOfIpcsQT) {
  const auto [k, d] = both({"-t"}, {"-t"});
  EXPECT_NE(k.find("Not set"), std::string::npos) << k;
  expect_same_view("ls -t", k, d, 0);
}

TEST_F(IpcsCompat, SummaryMatchesIpcsQU) {
  const auto [k, d] = both({"-u"}, {"-u"});
  EXPECT_EQ(k, d);
}

TEST_F(IpcsCompat, LimitsMatchIpcsQL) {
  const auto [k, d] = both({"-l"}, {"-l"});
  EXPECT_EQ(k, d);
}

TEST_F(IpcsCompat, DetailsMatchIpcsQI) {
  ASSERT_EQ(kernel_ids_.size(), daemon_ids_.size());
  for (std::size_t i = 0; i < kernel_ids_.size(); ++i) {
    const auto [k, d] = both({"-i", std::to_string(kernel_ids_[i])},
                             {"-i", std::to_string(daemon_ids_[i])});
    expect_same_view("ls -i " + std::to_string(daemon_ids_[i]), k, d, -1);
  }
}

// Rule 4.10: the JSON listing carries every column of /proc/sysvipc/msg, with the
// kernel's values for the same queues.
TEST_F(IpcsCompat, JsonCarriesTheColumnsOfProcSysvipcMsg) {
  std::ifstream proc("/proc/sysvipc/msg");
  std::string header;
  std::getline(proc, header);
  const auto columns = tokens(header);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(proc, line);) rows.push_back(tokens(line));

  const ProcessResult r = cli({"ls", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto queues = nlohmann::json::parse(r.out).at("queues");
  ASSERT_EQ(queues.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), columns.size());
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string& name = columns[c];
      const std::string field = name == "perms" ? "mode" : name;
      ASSERT_TRUE(queues[i].contains(field)) << field;
      if (name.ends_with("time")) continue;  // seconds may differ
      const long long kernel_value = std::stoll(rows[i][c], nullptr, name == "perms" ? 8 : 10);
      EXPECT_EQ(queues[i].at(field).get<long long>(), kernel_value) << name << " of row " << i;
    }
  }
}

}  // namespace
}  // namespace sysvmq::test
