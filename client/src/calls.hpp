// calls.hpp: msgget, msgsnd, msgrcv, msgctl and ADMIN as requests on a Connection, and
// the translation between the wire's field sets and the C structs — shared by the C API
// (c_api.cpp) and sysvmq::Client (client.cpp).
// Not here: the transport (connection.cpp); EFAULT for msgrcv's and msgctl's output
// buffers (the C API writes those itself, after the call succeeded).
#pragma once

#include <sys/msg.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/codec.hpp"

namespace sysvmq::detail {

class Connection;

// Every function returns 0 or an errno: the daemon's answer, or a transport errno
// (connection.hpp).

int do_msgget(Connection& c, key_t key, int msgflg, int& msqid);

// msgsnd from trusted memory (sysvmq::Client): `text` holds `msgsz` bytes.
int do_msgsnd(Connection& c, int msqid, long mtype, const void* text, std::size_t msgsz,
              int msgflg);

// msgsnd from the caller's `msgp` (the C API): mtype and text are read fault-tolerantly,
// in one copy when the text fits a frame. An unreadable mtype is EFAULT before anything
// else (Rule 2.1 step 1); an unreadable text is EFAULT after the EINVAL checks (step 4),
// so the daemon answers it.
int do_msgsnd_from_user(Connection& c, int msqid, const void* msgp, std::size_t msgsz,
                        int msgflg);

// On success: `mtype` and the text (never longer than `msgsz`).
int do_msgrcv(Connection& c, int msqid, std::size_t msgsz, long msgtyp, int msgflg,
              long& mtype, proto::Bytes& text);

// On success `reply` holds ret and, for the STAT and INFO commands, the result.
int do_msgctl(Connection& c, const proto::MsgctlRequest& request, proto::MsgctlReply& reply);

// The JSON answer of an ADMIN request; a refusal gives its status (EINVAL).
int do_admin(Connection& c, std::string_view json, std::string& answer);

// struct msqid_ds from the wire's fields; every other byte zero (Rule 4.8).
void to_msqid_ds(const proto::MsqidDs& from, struct msqid_ds& to);
// struct msginfo from the wire's fields; padding zero.
void to_msginfo(const proto::MsgInfo& from, struct msginfo& to);
// What IPC_SET reads from a struct msqid_ds (Rule 4.4 step 6).
proto::MsqidSet to_msqid_set(const struct msqid_ds& from);

}  // namespace sysvmq::detail
