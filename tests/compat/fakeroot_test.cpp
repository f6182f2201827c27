// fakeroot-sysv through `sysvmq exec`, run as user 65534 so that only faked can make
// `chown 0:0` look done. faked and libfakeroot talk over two keyed queues (7.10); both
// must reach the daemon: fakeroot puts its own library in front of the LD_PRELOAD it
// inherits ("$FAKEROOT_LIB:$LD_PRELOAD", /usr/bin/fakeroot-sysv), and faked inherits the
// LD_PRELOAD of `sysvmq exec` unchanged. Its SEM_UNDO semaphore stays with the kernel.
#include <sys/stat.h>

#include "tests/compat/compat_util.hpp"

namespace sysvmq::test {
namespace {

constexpr uid_t kNobody = 65534;

TEST_F(CompatTest, FakerootSysvFakesRootWithFakedServedByTheDaemon) {
  if (!have_file("/usr/bin/fakeroot-sysv") || !have_file("/usr/bin/setpriv")) {
    GTEST_SKIP() << "no fakeroot-sysv or setpriv";
  }
  const std::string work = work_dir_for(kNobody);
  const std::uint64_t before = requests_total();
  const Finished r = run({"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", kCli,
                          "--socket", sock(), "exec", "--", "fakeroot-sysv",
                          kScripts + "fakeroot_inside.sh", work, kCli, sock()});
  ASSERT_EQ(r.status, 0) << r.describe();

  // Inside: the file shows uid and gid 0, and the shell believes it is root.
  const auto lines = r.lines();
  ASSERT_FALSE(lines.empty());
  std::istringstream ls(lines[0]);
  std::string mode, links, uid, gid;
  ls >> mode >> links >> uid >> gid;
  EXPECT_EQ(uid + ":" + gid, "0:0") << lines[0];
  EXPECT_TRUE(r.has_line("uid 0")) << r.out;
  // Outside: it really belongs to 65534.
  struct stat st {};
  ASSERT_EQ(::stat((work + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);

  // Both preload lists carry the shim.
  const auto preload = r.after("preload ");
  ASSERT_TRUE(preload) << r.out;
  EXPECT_NE(preload->find("libfakeroot"), std::string::npos) << *preload;
  EXPECT_NE(preload->find(kShim), std::string::npos) << *preload;
  const auto faked_preload = r.after("faked_preload ");
  ASSERT_TRUE(faked_preload) << "faked-sysv with our SYSVMQ_SOCKET not found\n" << r.out;
  EXPECT_NE(faked_preload->find(kShim), std::string::npos) << *faked_preload;

  // While the command ran, faked's two queues lived in the daemon, owned by 65534, and
  // had carried messages both ways.
  const auto marker = r.out.find("--- queues\n");
  ASSERT_NE(marker, std::string::npos) << r.out;
  const auto listed = parse_json(r.out.substr(marker + 11));
  ASSERT_TRUE(listed.is_object() && listed.contains("queues")) << r.out;
  const auto& faked_queues = listed["queues"];
  ASSERT_EQ(faked_queues.size(), 2u) << faked_queues.dump();
  EXPECT_EQ(faked_queues[1]["key"].get<std::int64_t>(),
            faked_queues[0]["key"].get<std::int64_t>() + 1);
  for (const auto& q : faked_queues) {
    EXPECT_EQ(q["cuid"], kNobody);
    EXPECT_EQ(q["mode"], 0600);
    EXPECT_GT(q["stime"].get<std::int64_t>(), 0) << q.dump();
    EXPECT_GT(q["rtime"].get<std::int64_t>(), 0) << q.dump();
  }
  EXPECT_GT(requests_total() - before, 10u);
  // faked removes its queues when fakeroot stops it.
  EXPECT_TRUE(eventually([&] { return queues().empty(); })) << queues().dump();
}

}  // namespace
}  // namespace sysvmq::test
