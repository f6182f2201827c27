// sysv_check.cpp: compile-time proof that sysv.hpp's numbers are the host's.
// The only file in proto/ that includes a system IPC header.
#include <sys/ipc.h>
#include <sys/msg.h>

#include "sysv.hpp"

namespace sysvmq::proto {
static_assert(kIpcCreat == IPC_CREAT);
static_assert(kIpcExcl == IPC_EXCL);
static_assert(kIpcNowait == IPC_NOWAIT);
static_assert(kMsgNoerror == MSG_NOERROR);
static_assert(kMsgExcept == MSG_EXCEPT);
static_assert(kMsgCopy == MSG_COPY);
static_assert(kIpcPrivate == IPC_PRIVATE);
static_assert(kIpcRmid == IPC_RMID);
static_assert(kIpcSet == IPC_SET);
static_assert(kIpcStat == IPC_STAT);
static_assert(kIpcInfo == IPC_INFO);
static_assert(kMsgStat == MSG_STAT);
static_assert(kMsgInfo == MSG_INFO);
static_assert(kMsgStatAny == MSG_STAT_ANY);
static_assert(sizeof(struct msginfo) == 32);
}  // namespace sysvmq::proto
