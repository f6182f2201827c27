// permissions_test.cpp: SEMANTICS.md section 5 — the owner/group/other classes without
// fall-through, creator rights, supplementary groups, and what each operation requests
// (CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE), on has_access() and through Registry.
// Not here: how the server learns identities and capabilities (Rule 5.4; server/).

#include "daemon/core/permissions.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/unit/core/core_test_util.hpp"

namespace sysvmq::core::test {
namespace {

using proto::kIpcNowait;

// A queue's ipc_perm: owner 1000:1000, creator 2000:2000.
Perm perm_with(std::uint32_t mode) {
  Perm p;
  p.uid = 1000;
  p.gid = 1000;
  p.cuid = 2000;
  p.cgid = 2000;
  p.mode = mode;
  return p;
}

// ---- Rule 5.1: classes ----

TEST(Permissions, Rule5_1_OwnerUsesTheOwnerTriplet) {
  const Caller owner = user(1000, 5, 1);
  EXPECT_TRUE(has_access(owner, perm_with(0400), kRead));
  EXPECT_FALSE(has_access(owner, perm_with(0400), kWrite));
  EXPECT_TRUE(has_access(owner, perm_with(0200), kWrite));
  EXPECT_TRUE(has_access(owner, perm_with(0600), kRead | kWrite));
  EXPECT_FALSE(has_access(owner, perm_with(0077), kRead));
}

TEST(Permissions, Rule5_1_CreatorCountsAsOwnerForReadAndWrite) {
  const Caller creator = user(2000, 5, 1);
  EXPECT_TRUE(has_access(creator, perm_with(0600), kRead | kWrite));
  EXPECT_FALSE(has_access(creator, perm_with(0066), kRead));
}

TEST(Permissions, Rule5_1_GroupMatchesGidOrCgidByEgid) {
  EXPECT_TRUE(has_access(user(7, 1000, 1), perm_with(0040), kRead));  // gid
  EXPECT_TRUE(has_access(user(7, 2000, 1), perm_with(0040), kRead));  // cgid
  EXPECT_FALSE(has_access(user(7, 1000, 1), perm_with(0040), kWrite));
  EXPECT_TRUE(has_access(user(7, 2000, 1), perm_with(0020), kWrite));
}

TEST(Permissions, Rule5_1_GroupMatchesSupplementaryGroups) {
  EXPECT_TRUE(has_access(user(7, 8, 1, {9, 1000}), perm_with(0040), kRead));  // gid
  EXPECT_TRUE(has_access(user(7, 8, 1, {2000}), perm_with(0040), kRead));     // cgid
  EXPECT_FALSE(has_access(user(7, 8, 1, {9, 10}), perm_with(0040), kRead));   // other
}

TEST(Permissions, Rule5_1_OthersUseTheOtherTriplet) {
  const Caller other = user(7, 8, 1, {9});
  EXPECT_TRUE(has_access(other, perm_with(0004), kRead));
  EXPECT_FALSE(has_access(other, perm_with(0660), kRead));
  EXPECT_TRUE(has_access(other, perm_with(0002), kWrite));
}

TEST(Permissions, Rule5_1_ClassesDoNotFallThrough) {
  // The owner is in the group too; mode 0060 still refuses it (measured).
  const Caller owner_in_group = user(1000, 1000, 1);
  EXPECT_FALSE(has_access(owner_in_group, perm_with(0060), kRead));
  EXPECT_FALSE(has_access(owner_in_group, perm_with(0006), kRead));
  // A group member is refused by the group triplet even when "other" would allow it.
  const Caller member = user(7, 1000, 1);
  EXPECT_FALSE(has_access(member, perm_with(0406), kRead));
  // The creator is refused by the owner triplet even when group or other would allow.
  const Caller creator_in_group = user(2000, 2000, 1);
  EXPECT_FALSE(has_access(creator_in_group, perm_with(0066), kWrite));
}

TEST(Permissions, Rule5_1_EveryRequestedBitMustBeGranted) {
  EXPECT_FALSE(has_access(user(1000, 1, 1), perm_with(0400), kRead | kWrite));
  EXPECT_FALSE(has_access(user(1000, 1, 1), perm_with(0200), kRead | kWrite));
  EXPECT_TRUE(has_access(user(1000, 1, 1), perm_with(0000), 0));  // nothing requested
}

TEST(Permissions, Rule5_1_CapIpcOwnerBypassesTheModeBits) {
  const Caller privileged = with_cap(user(7, 8, 1), Capability::ipc_owner);
  EXPECT_TRUE(has_access(privileged, perm_with(0000), kRead | kWrite));
  const Caller other_caps = with_caps(
      user(7, 8, 1), Capabilities{}.with(Capability::sys_admin).with(Capability::sys_resource));
  EXPECT_FALSE(has_access(other_caps, perm_with(0000), kRead));
}

TEST(Permissions, Rule5_1_ThroughTheRegistryNoFallThroughForOwnerOrGroup) {
  Registry r;
  const Caller owner = user(1000, 1000, 11);
  const int id = create(r, owner, 0066);
  EXPECT_EQ(answer(send(r, owner, id, 1, "x", kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(recv(r, owner, id, 10, 0, kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(ctl(r, owner, id, proto::kIpcStat)), Errc::eacces);
  const Caller member = user(1001, 1000, 12);
  EXPECT_EQ(answer(send(r, member, id, 1, "x", kIpcNowait)), Errc::ok);
  set_mode(r, id, 0606);
  EXPECT_EQ(answer(recv(r, member, id, 10, 0, kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(recv(r, user(1002, 1002, 13), id, 10, 0, kIpcNowait)), Errc::ok);
}

TEST(Permissions, Rule5_1_GroupClassSurvivesAGidChangeThroughCgid) {
  Registry r;
  const int id = create(r, user(1000, 500, 11), 0640);
  MsqidSet s = set_of(stat(r, id));
  s.gid = 600;
  ASSERT_EQ(answer(ipc_set(r, root(), id, s)), Errc::ok);
  EXPECT_TRUE(ctl(r, user(7, 500, 12), id, proto::kIpcStat).ok());       // cgid by egid
  EXPECT_TRUE(ctl(r, user(7, 8, 12, {600}), id, proto::kIpcStat).ok());  // gid by supp.
  EXPECT_EQ(answer(ctl(r, user(7, 8, 12), id, proto::kIpcStat)), Errc::eacces);
}

// ---- Rule 5.2: what each operation requests ----

TEST(Permissions, Rule5_2_MsggetRequestsTheUnionOfTheThreeTriplets) {
  EXPECT_EQ(requested_by_msgget(0400), kRead);
  EXPECT_EQ(requested_by_msgget(0040), kRead);
  EXPECT_EQ(requested_by_msgget(0004), kRead);
  EXPECT_EQ(requested_by_msgget(0200), kWrite);
  EXPECT_EQ(requested_by_msgget(0020), kWrite);
  EXPECT_EQ(requested_by_msgget(0666), kRead | kWrite);
  EXPECT_EQ(requested_by_msgget(0420), kRead | kWrite);
  EXPECT_EQ(requested_by_msgget(0), 0);
  EXPECT_EQ(requested_by_msgget(proto::kIpcCreat | proto::kIpcExcl | proto::kIpcNowait), 0);
  EXPECT_EQ(requested_by_msgget(0111), 1);  // execute bits are requested, never granted
}

TEST(Permissions, Rule5_2_MsggetOfA0604RootQueueAsNobody) {
  Registry r;
  const std::int32_t key = 4711;
  create(r, root(), 0604, key);
  EXPECT_TRUE(r.msgget(nobody(), key, 0400, at(kLater)).ok());
  EXPECT_TRUE(r.msgget(nobody(), key, 0040, at(kLater)).ok());
  EXPECT_TRUE(r.msgget(nobody(), key, 0004, at(kLater)).ok());
  EXPECT_EQ(answer(r.msgget(nobody(), key, 0200, at(kLater))), Errc::eacces);
  EXPECT_EQ(answer(r.msgget(nobody(), key, 0020, at(kLater))), Errc::eacces);
  EXPECT_EQ(answer(r.msgget(nobody(), key, proto::kIpcCreat | 0666, at(kLater))), Errc::eacces);
  EXPECT_TRUE(r.msgget(with_cap(nobody(), Capability::ipc_owner), key, 0666, at(kLater)).ok());
}

TEST(Permissions, Rule5_2_MsgsndRequestsWriteAndMsgrcvRequestsRead) {
  Registry r;
  const int write_only = create(r, root(), 0602);
  const int read_only = create(r, root(), 0604);
  EXPECT_EQ(answer(send(r, nobody(), write_only, 1, "x", kIpcNowait)), Errc::ok);
  EXPECT_EQ(answer(recv(r, nobody(), write_only, 10, 0, kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(recv(r, nobody(), write_only, 10, 0, proto::kMsgCopy | kIpcNowait)),
            Errc::eacces);
  EXPECT_EQ(answer(send(r, nobody(), read_only, 1, "x", kIpcNowait)), Errc::eacces);
  ASSERT_EQ(answer(send(r, root(), read_only, 1, "x", kIpcNowait)), Errc::ok);
  EXPECT_TRUE(recv(r, nobody(), read_only, 10, 0, proto::kMsgCopy | kIpcNowait).ok());
  EXPECT_TRUE(recv(r, nobody(), read_only, 10, 0, kIpcNowait).ok());
}

TEST(Permissions, Rule5_2_CapIpcOwnerGrantsSendReceiveAndStat) {
  Registry r;
  const int id = create(r, root(), 0);
  const Caller c = with_cap(nobody(), Capability::ipc_owner);
  EXPECT_EQ(answer(send(r, c, id, 1, "x", kIpcNowait)), Errc::ok);
  EXPECT_TRUE(recv(r, c, id, 10, 0, proto::kMsgCopy | kIpcNowait).ok());
  EXPECT_TRUE(recv(r, c, id, 10, 0, kIpcNowait).ok());
  EXPECT_TRUE(ctl(r, c, id, proto::kIpcStat).ok());
  EXPECT_TRUE(ctl(r, c, id, proto::kMsgStat).ok());
}

TEST(Permissions, Rule5_2_StatNeedsReadButStatAnyAndInfoNeedNothing) {
  Registry r;
  const int id = create(r, root(), 0);
  EXPECT_EQ(answer(ctl(r, nobody(), id, proto::kIpcStat)), Errc::eacces);
  EXPECT_EQ(answer(ctl(r, nobody(), id, proto::kMsgStat)), Errc::eacces);
  EXPECT_TRUE(ctl(r, nobody(), id, proto::kMsgStatAny).ok());
  EXPECT_TRUE(ctl(r, nobody(), id, proto::kIpcInfo).ok());
  EXPECT_TRUE(ctl(r, nobody(), id, proto::kMsgInfo).ok());
}

TEST(Permissions, Rule5_2_IpcSetAndRmidUseTheOwnerTestNotModeBits) {
  Registry r;
  const int open = create(r, alice(), 0777);
  EXPECT_EQ(answer(ipc_set(r, bob(), open, set_of(stat(r, open)))), Errc::eperm);
  EXPECT_EQ(answer(rmid(r, bob(), open)), Errc::eperm);
  const int closed = create(r, alice(), 0);
  EXPECT_EQ(answer(ipc_set(r, alice(), closed, set_of(stat(r, closed)))), Errc::ok);
  EXPECT_EQ(answer(rmid(r, alice(), closed)), Errc::ok);
}

TEST(Permissions, Rule5_2_OwnerTestAcceptsUidCuidOrCapSysAdminOnly) {
  const Perm p = perm_with(0);
  EXPECT_TRUE(is_owner_or_admin(user(1000, 1, 1), p));
  EXPECT_TRUE(is_owner_or_admin(user(2000, 1, 1), p));
  EXPECT_FALSE(is_owner_or_admin(user(7, 1000, 1, {2000}), p));  // group is not enough
  EXPECT_FALSE(is_owner_or_admin(with_cap(user(7, 1, 1), Capability::ipc_owner), p));
  EXPECT_FALSE(is_owner_or_admin(with_cap(user(7, 1, 1), Capability::sys_resource), p));
  EXPECT_TRUE(is_owner_or_admin(with_cap(user(7, 1, 1), Capability::sys_admin), p));
}

TEST(Permissions, Rule5_2_RaisingQbytesNeedsCapSysResourceEvenForAnAdmin) {
  Registry r(limits_with_msgmnb(100));
  const int id = create(r, alice());
  MsqidSet s = set_of(stat(r, id));
  s.qbytes = 200;
  const Caller admin =
      with_caps(bob(), Capabilities{}.with(Capability::sys_admin).with(Capability::ipc_owner));
  EXPECT_EQ(answer(ipc_set(r, admin, id, s)), Errc::eperm);
  const Caller resource_only = with_cap(bob(), Capability::sys_resource);
  EXPECT_EQ(answer(ipc_set(r, resource_only, id, s)), Errc::eperm);  // not the owner
  EXPECT_EQ(answer(ipc_set(r, with_cap(alice(), Capability::sys_resource), id, s)), Errc::ok);
}

// ---- Rule 5.3: uid 0 is not privileged by itself ----

TEST(Permissions, Rule5_3_Uid0WithoutCapabilitiesIsAnOrdinaryUser) {
  Registry r(limits_with_msgmnb(100));
  const Caller plain_root = user(0, 0, 1);
  const int theirs = create(r, alice(), 0600);
  EXPECT_EQ(answer(send(r, plain_root, theirs, 1, "x", kIpcNowait)), Errc::eacces);
  EXPECT_EQ(answer(ctl(r, plain_root, theirs, proto::kIpcStat)), Errc::eacces);
  EXPECT_EQ(answer(rmid(r, plain_root, theirs)), Errc::eperm);
  const int own = create(r, plain_root, 0600);
  MsqidSet s = set_of(stat(r, own));
  s.qbytes = 1000000;
  EXPECT_EQ(answer(ipc_set(r, plain_root, own, s)), Errc::eperm);  // measured on the kernel
}

// ---- what a grant depends on (PROTOCOL.md "Grants and identity") ----

// Every identity the property below ranges over: owner, creator, members of the group
// and the creator's group by egid or by supplementary group, strangers.
std::vector<Caller> every_kind_of_caller() {
  std::vector<Caller> all;
  for (std::uint32_t uid : {1000u, 2000u, 7u})
    for (std::uint32_t gid : {1000u, 2000u, 8u})
      for (const auto& groups : std::vector<std::vector<std::uint32_t>>{{}, {1000}, {2000}, {9}})
        all.push_back(user(uid, gid, 1, groups));
  return all;
}

// The property the client relies on when it uses a grant without asking: as long as the
// ids the basis names are unchanged, every identity would get the same answer.
TEST(Permissions, AGrantsBasisNamesEveryIdThatCouldChangeTheAnswer) {
  const auto callers = every_kind_of_caller();
  int anyone = 0;
  int owner_uid = 0;
  for (std::uint32_t mode = 0; mode <= 0777; ++mode) {
    const Perm p = perm_with(mode);
    for (int requested : {kRead, kWrite}) {
      for (const Caller& who : callers) {
        if (!has_access(who, p, requested)) continue;
        const AccessBasis basis = access_basis(who, p, requested);
        for (const Caller& now : callers) {
          const bool same_ids = basis == AccessBasis::anyone ||
                                (basis == AccessBasis::owner_uid && now.uid == who.uid);
          if (same_ids) {
            ASSERT_TRUE(has_access(now, p, requested))
                << "mode " << std::oct << mode << std::dec << " uid " << now.uid << " gid "
                << now.gid << ": the grant's basis let a refused identity in";
          }
        }
        anyone += basis == AccessBasis::anyone;
        owner_uid += basis == AccessBasis::owner_uid;
      }
    }
  }
  // Both shortcuts are taken somewhere (else the property says nothing).
  EXPECT_GT(anyone, 0);
  EXPECT_GT(owner_uid, 0);
}

TEST(Permissions, OnlyAModeThatLetsEveryClassInNeedsNoIdentityAtAll) {
  EXPECT_EQ(access_basis(user(7, 8, 1), perm_with(0666), kWrite), AccessBasis::anyone);
  EXPECT_EQ(access_basis(user(1000, 8, 1), perm_with(0222), kWrite), AccessBasis::anyone);
  // An owner refused by its own triplet (classes do not fall through) makes 0066 a
  // mode where identity matters.
  EXPECT_EQ(access_basis(user(7, 8, 1), perm_with(0066), kWrite), AccessBasis::identity);
  EXPECT_EQ(access_basis(user(1000, 8, 1), perm_with(0600), kWrite), AccessBasis::owner_uid);
  EXPECT_EQ(access_basis(user(2000, 8, 1), perm_with(0640), kRead), AccessBasis::owner_uid);
  EXPECT_EQ(access_basis(user(7, 1000, 1), perm_with(0060), kWrite), AccessBasis::identity);
}

}  // namespace
}  // namespace sysvmq::core::test
