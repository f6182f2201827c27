// Ids across user namespaces: msqid_ds shows ids as the reader's namespace names them,
// and IPC_SET reads them in the caller's terms (ipc64_perm's from_kuid_munged and
// ipc_update_perm's make_kuid in the kernel).
#include <gtest/gtest.h>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core {
namespace {

using namespace sysvmq::core::test;

// Rootless-container root: uid/gid 0..999 inside are 100000.. in the daemon's view.
Caller container_root() {
  Caller c;
  c.uid = 100000;
  c.gid = 100000;
  c.ids.uid = {IdMapping{0, 100000, 1000}};
  c.ids.gid = {IdMapping{0, 100000, 1000}};
  return c;
}

TEST(UserNamespace, StatShowsIdsInTheReadersNamespace) {
  Registry r;
  const Caller inside = container_root();
  const int id = r.msgget(inside, proto::kIpcPrivate, 0600, at(1)).value();
  auto in_view = r.msgctl(inside, MsgctlArgs{id, proto::kIpcStat, {}, false}, at(2));
  ASSERT_TRUE(in_view.ok());
  EXPECT_EQ(in_view.value().ds->uid, 0u);
  EXPECT_EQ(in_view.value().ds->cuid, 0u);
  EXPECT_EQ(in_view.value().ds->gid, 0u);
  EXPECT_EQ(in_view.value().ds->cgid, 0u);
  // The daemon's own view (the admin listing, a host reader) is the real id.
  Caller host;
  host.caps = Capabilities::all();
  EXPECT_EQ(r.msgctl(host, MsgctlArgs{id, proto::kIpcStat, {}, false}, at(2)).value().ds->uid,
            100000u);
  // An id the container has no name for reads as the overflow id.
  const int host_queue = r.msgget(host, proto::kIpcPrivate, 0666, at(3)).value();
  EXPECT_EQ(r.msgctl(inside, MsgctlArgs{host_queue, proto::kIpcStat, {}, false}, at(4))
                .value().ds->uid,
            kOverflowId);
}

TEST(UserNamespace, IpcSetReadsIdsInTheCallersNamespace) {
  Registry r;
  const Caller inside = container_root();
  const int id = r.msgget(inside, proto::kIpcPrivate, 0600, at(1)).value();
  // uid 5 inside is 100005 outside.
  auto ok = r.msgctl(inside, MsgctlArgs{id, proto::kIpcSet, proto::MsqidSet{5, 7, 0640, 100}, false},
                     at(2));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(r.find(id)->perm().uid, 100005u);
  EXPECT_EQ(r.find(id)->perm().gid, 100007u);
  // Rule 4.4 step 5: an id the caller's namespace does not map is not a valid id.
  auto unmapped = r.msgctl(
      inside, MsgctlArgs{id, proto::kIpcSet, proto::MsqidSet{5000, 7, 0640, 100}, false}, at(3));
  EXPECT_EQ(unmapped.error(), Errc::einval);
}

TEST(UserNamespace, IdsOfTheDaemonsOwnNamespaceAreThemselves) {
  EXPECT_EQ(id_inside({}, 1234), 1234u);
  EXPECT_EQ(id_outside({}, 1234), 1234u);
  EXPECT_EQ(id_outside({}, kInvalidId), kInvalidId);
  const std::vector<IdMapping> map = {{0, 1000, 1}, {1, 100000, 65536}};
  EXPECT_EQ(id_inside(map, 1000), 0u);
  EXPECT_EQ(id_inside(map, 100000), 1u);
  EXPECT_EQ(id_inside(map, 165535), 65536u);
  EXPECT_EQ(id_inside(map, 165536), kOverflowId);
  EXPECT_EQ(id_outside(map, 65536), 165535u);
  EXPECT_EQ(id_outside(map, 65537), kInvalidId);
}

}  // namespace
}  // namespace sysvmq::core
