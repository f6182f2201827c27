// core_test_util.hpp: small helpers for the unit tests of daemon/core — callers, times,
// byte strings, and one-line wrappers around Registry calls.
// Not here: any SysV rule (the tests state those) or fakes of the server.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/core/caller.hpp"
#include "daemon/core/clock.hpp"
#include "daemon/core/message.hpp"
#include "daemon/core/outcome.hpp"
#include "daemon/core/registry.hpp"
#include "proto/errc.hpp"
#include "proto/limits.hpp"
#include "proto/sysv.hpp"

namespace sysvmq::proto {
// gtest prints "EACCES" instead of 13.
inline void PrintTo(Errc e, std::ostream* os) { *os << errc_name(e); }
}  // namespace sysvmq::proto

namespace sysvmq::core::test {

using proto::Errc;
using proto::MsqidDs;
using proto::MsqidSet;

// Time `s` seconds after the Epoch; tests use a distinct value per step.
inline TimePoint at(std::int64_t s) { return TimePoint{std::chrono::seconds{s}}; }
inline constexpr std::int64_t kCreated = 1000;  // default creation time of the helpers
inline constexpr std::int64_t kLater = 2000;    // default time of the other helpers

// A caller in the daemon's own pid namespace (pid_ns 0), without capabilities.
inline Caller user(std::uint32_t uid, std::uint32_t gid, std::int32_t pid,
                   std::vector<std::uint32_t> groups = {}) {
  Caller c;
  c.uid = uid;
  c.gid = gid;
  c.groups = std::move(groups);
  c.process = ProcessRef{pid, pid, 0};
  return c;
}
inline Caller with_caps(Caller c, Capabilities caps) {
  c.caps = caps;
  return c;
}
inline Caller with_cap(Caller c, Capability cap) {
  c.caps = c.caps.with(cap);
  return c;
}

inline Caller root() { return with_caps(user(0, 0, 1), Capabilities::all()); }
inline Caller alice() { return user(1000, 1000, 101); }
inline Caller bob() { return user(1001, 1001, 102); }
inline Caller carol() { return user(1002, 1002, 103); }
inline Caller nobody() { return user(65534, 65534, 104); }

inline Bytes bytes(std::string_view s) {
  Bytes b(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
  return b;
}
inline std::string str(const Bytes& b) {
  std::string s(b.size(), '\0');
  for (std::size_t i = 0; i < b.size(); ++i) s[i] = static_cast<char>(b[i]);
  return s;
}
inline std::string text_of(std::size_t n, char c = 'x') { return std::string(n, c); }

// The answer of a call that did not park: Errc::ok or its error. Parking is a failure.
template <class T>
Errc answer(const Outcome<T>& o) {
  if (o.parked()) {
    ADD_FAILURE() << "the call parked (waiter " << o.waiter() << ")";
    return static_cast<Errc>(-1);
  }
  return o.error();
}

// The waiter id of a call that must have parked; 0 (never a real id) otherwise.
template <class T>
WaiterId parked_id(const Outcome<T>& o) {
  if (!o.parked()) {
    ADD_FAILURE() << "the call did not park: " << proto::errc_name(o.error());
    return 0;
  }
  return o.waiter();
}

// msgget(key, IPC_CREAT | mode) that must succeed; -1 after a test failure. The default
// mode lets every test caller send and receive.
inline int create(Registry& r, const Caller& who, int mode = 0666,
                  std::int32_t key = proto::kIpcPrivate, TimePoint now = at(kCreated)) {
  auto o = r.msgget(who, key, proto::kIpcCreat | mode, now);
  if (!o.ok()) {
    ADD_FAILURE() << "msgget failed: " << proto::errc_name(answer(o));
    return -1;
  }
  return o.value();
}

inline Outcome<> send(Registry& r, const Caller& who, int id, std::int64_t mtype,
                      std::string_view text, int msgflg = 0, TimePoint now = at(kLater)) {
  return r.msgsnd(
      who,
      MsgsndArgs{id, mtype, static_cast<std::int64_t>(text.size()), msgflg, bytes(text), false},
      now);
}

inline Outcome<Received> recv(Registry& r, const Caller& who, int id, std::int64_t msgsz,
                              std::int64_t msgtyp, int msgflg = 0, TimePoint now = at(kLater)) {
  return r.msgrcv(who, MsgrcvArgs{id, msgsz, msgtyp, msgflg}, now);
}

// MSG_COPY | IPC_NOWAIT of position `pos` with a generous buffer.
inline Outcome<Received> peek(Registry& r, int id, std::int64_t pos) {
  return r.msgrcv(root(), MsgrcvArgs{id, 1 << 20, pos, proto::kMsgCopy | proto::kIpcNowait},
                  at(kLater));
}

inline Outcome<MsgctlResult> ctl(Registry& r, const Caller& who, int id, int cmd,
                                 std::optional<MsqidSet> set = std::nullopt,
                                 TimePoint now = at(kLater)) {
  return r.msgctl(who, MsgctlArgs{id, cmd, set, false}, now);
}

// IPC_STAT that must succeed (by root unless a reader is given).
inline MsqidDs stat(Registry& r, int id, const Caller& reader = root()) {
  auto o = ctl(r, reader, id, proto::kIpcStat);
  if (!o.ok() || !o.value().ds) {
    ADD_FAILURE() << "IPC_STAT of " << id << " failed: " << proto::errc_name(answer(o));
    return {};
  }
  return *o.value().ds;
}

// The IPC_SET input that changes nothing, as STAT-then-SET clients build it.
inline MsqidSet set_of(const MsqidDs& ds) { return MsqidSet{ds.uid, ds.gid, ds.mode, ds.qbytes}; }

inline Outcome<MsgctlResult> ipc_set(Registry& r, const Caller& who, int id, const MsqidSet& s,
                                     TimePoint now = at(kLater)) {
  return ctl(r, who, id, proto::kIpcSet, s, now);
}

// IPC_SET by root (all capabilities) of only msg_qbytes; must succeed.
inline void set_qbytes(Registry& r, int id, std::uint64_t qbytes, TimePoint now = at(kLater)) {
  MsqidSet s = set_of(stat(r, id));
  s.qbytes = qbytes;
  EXPECT_EQ(answer(ipc_set(r, root(), id, s, now)), Errc::ok);
}

// IPC_SET by root of only the mode; must succeed.
inline void set_mode(Registry& r, int id, std::uint32_t mode, TimePoint now = at(kLater)) {
  MsqidSet s = set_of(stat(r, id));
  s.mode = mode;
  EXPECT_EQ(answer(ipc_set(r, root(), id, s, now)), Errc::ok);
}

inline Outcome<MsgctlResult> rmid(Registry& r, const Caller& who, int id) {
  return ctl(r, who, id, proto::kIpcRmid);
}

// Limits with a small default msg_qbytes, so queues fill quickly.
inline proto::Limits limits_with_msgmnb(std::int32_t msgmnb) {
  proto::Limits l;
  l.msgmnb = msgmnb;
  return l;
}

}  // namespace sysvmq::core::test
