// Containers: two processes in different IPC and pid namespaces, as a container runtime
// makes them (`unshare --ipc --pid --fork`), share a queue through one daemon whose
// socket both can see, while the kernel keeps their namespaces apart (8.10: the daemon
// is one namespace per socket). One side may also be a rootless container
// (`unshare --user --map-root-user`): it believes it is root, and the daemon records the
// uid it really has (Rule 5.4.5). Each side runs scripts/container_peer.py.
#include <iostream>

#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

struct Peer {
  const char* name;
  std::vector<std::string> prefix;  // how the second container is made
  std::int64_t daemon_uid;          // the uid the daemon must record for it
};

// gtest prints the parameter in test listings.
void PrintTo(const Peer& p, std::ostream* os) { *os << p.name; }

const std::vector<std::string> kContainer = {"unshare", "--ipc", "--pid", "--fork", "--"};

class ContainerTest : public CompatTest, public ::testing::WithParamInterface<Peer> {
 protected:
  void SetUp() override {
    if (!have_file(kPython) || !have_file("/usr/bin/unshare") || !have_file("/usr/bin/setpriv")) {
      GTEST_SKIP() << "no " << kPython << ", unshare or setpriv";
    }
    CompatTest::SetUp();
  }
  std::vector<std::string> peer(std::vector<std::string> prefix, const std::string& role) const {
    auto argv = exec_argv({kPython, kScripts + "container_peer.py", role, "0x636f6e31"});
    prefix.insert(prefix.end(), argv.begin(), argv.end());
    return prefix;
  }
};

constexpr std::int32_t kKey = 0x636f6e31;

std::string own_namespace(const char* kind) {
  struct stat st {};
  ::stat((std::string("/proc/self/ns/") + kind).c_str(), &st);
  return std::to_string(st.st_ino);
}

TEST_P(ContainerTest, ContainersShareADaemonQueueTheKernelKeepsApart) {
  const Peer& second = GetParam();
  auto probe = second.prefix;
  probe.push_back("true");
  if (run(probe).status != 0) GTEST_SKIP() << "this host cannot make that namespace";
  Program first(peer(kContainer, "first"));
  // The first container has made its kernel queue, sent its ping and parked for the reply.
  ASSERT_TRUE(parked_calls_reach(1)) << stats().dump();
  const auto shared = queue_with_key(kKey);
  ASSERT_TRUE(shared.is_object()) << queues().dump();
  EXPECT_EQ(shared["qnum"], 1);

  const Finished b = run(peer(second.prefix, "second"));
  const Finished a = first.finish();
  ASSERT_EQ(a.status, 0) << a.describe();
  ASSERT_EQ(b.status, 0) << b.describe();

  // They talked through the daemon.
  EXPECT_TRUE(b.has_line("got ping from pid 1")) << b.out;
  EXPECT_TRUE(a.has_line("reply pong from pid 1")) << a.out;
  // Rule 6.5: msg_lspid is the sender's pid as its own namespace numbers it.
  EXPECT_TRUE(a.has_line("pid 1")) << a.out;
  EXPECT_TRUE(a.has_line("lspid 1")) << a.out;
  EXPECT_TRUE(b.has_line("euid 0")) << "the second container believes it is root\n" << b.out;

  // The kernel did not: the first made <key> in its namespace, the second cannot find it.
  EXPECT_TRUE(a.has_line("kernel_create 0")) << a.out;
  EXPECT_TRUE(b.has_line("kernel_lookup ENOENT")) << b.out;
  const auto a_ipc = a.after("ipcns "), b_ipc = b.after("ipcns ");
  ASSERT_TRUE(a_ipc && b_ipc) << a.out << b.out;
  EXPECT_NE(*a_ipc, *b_ipc);
  EXPECT_NE(*a_ipc, own_namespace("ipc"));
  EXPECT_NE(*b_ipc, own_namespace("ipc"));
  EXPECT_NE(*a.after("pidns "), *b.after("pidns "));
  EXPECT_NE(*a.after("pidns "), own_namespace("pid"));

  // The daemon saw each with its real uid.
  const auto first_queue = queue_with_key(kKey);
  ASSERT_TRUE(first_queue.is_object()) << queues().dump();
  EXPECT_EQ(first_queue["uid"], 0);
  EXPECT_EQ(first_queue["cuid"], 0);
  const auto second_queue = queue_with_key(kKey + 1);
  ASSERT_TRUE(second_queue.is_object()) << queues().dump();
  EXPECT_EQ(second_queue["uid"], second.daemon_uid) << second_queue.dump();
  EXPECT_EQ(second_queue["cuid"], second.daemon_uid) << second_queue.dump();
  EXPECT_EQ(second_queue["gid"], second.daemon_uid) << second_queue.dump();
  // ...and each reads ids in its own user namespace's terms, as from the kernel: the
  // container's root reads its own queue's uid as 0 whatever the daemon records.
  EXPECT_EQ(b.after("own_queue_uid_seen ").value_or("?"), "0") << b.out;
}

INSTANTIATE_TEST_SUITE_P(
    Runtimes, ContainerTest,
    testing::Values(Peer{"PidAndIpcNamespaces", kContainer, 0},
                    Peer{"UserNamespaceMappedFromRoot",
                         {"unshare", "--user", "--map-root-user", "--ipc", "--pid", "--fork", "--"},
                         0},
                    Peer{"RootlessAsNobody",
                         {"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                          "unshare", "--user", "--map-root-user", "--ipc", "--pid", "--fork", "--"},
                         65534}),
    [](const testing::TestParamInfo<Peer>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace sysvmq::test
