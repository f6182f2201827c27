/* sysvmq.h: the C API of libsysvmq, System V message queues served by sysvmqd.
   Each call has exactly the signature and errno behaviour of its libc namesake
   (msgget(2), msgop(2), msgctl(2), ftok(3)): -1 and errno on failure, errno untouched on
   success. A bad or NULL buffer gives EFAULT, never a crash.
   What differs from the kernel (SEMANTICS.md section 8):
   - the daemon must be reachable: when it is not, a call fails with ECONNREFUSED; when
     the connection breaks during a call, with ECONNRESET (the call may or may not have
     taken effect; it is never retried silently); EPROTO when the daemon breaks the
     wire protocol; EAGAIN when the daemon refuses a new connection because of its
     connection limits (max_connections, max_connections_per_uid): try again later;
   - a graceful daemon restart is invisible: a call the daemon did not execute is issued
     again on a new connection (waiting up to about 10 s for the daemon to come back);
   - each thread has its own connection, opened on its first call; after fork() the
     child opens its own. The socket is $SYSVMQ_SOCKET, else /run/sysvmq/sysvmq.sock
     (the variable is ignored in setuid/setgid programs).
   Not here: the C++ API (client.hpp), the LD_PRELOAD shim that maps msgget() etc. here. */
#ifndef SYSVMQ_SYSVMQ_H
#define SYSVMQ_SYSVMQ_H

#include <stddef.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/types.h>

#include <sysvmq/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* msgget(2): the id of the queue with `key`, created as IPC_CREAT/IPC_EXCL ask. */
SYSVMQ_EXPORT int sysvmq_msgget(key_t key, int msgflg);

/* msgsnd(2): `msgp` points at a long mtype followed by `msgsz` bytes of text. */
SYSVMQ_EXPORT int sysvmq_msgsnd(int msqid, const void* msgp, size_t msgsz, int msgflg);

/* msgrcv(2): writes mtype and at most `msgsz` bytes of text; returns the text length. */
SYSVMQ_EXPORT ssize_t sysvmq_msgrcv(int msqid, void* msgp, size_t msgsz, long msgtyp,
                                    int msgflg);

/* msgctl(2): IPC_STAT, IPC_SET, IPC_RMID, MSG_STAT, MSG_STAT_ANY, and IPC_INFO/MSG_INFO
   with `buf` cast from a struct msginfo*. */
SYSVMQ_EXPORT int sysvmq_msgctl(int msqid, int cmd, struct msqid_ds* buf);

/* ftok(3) with glibc's formula: (proj_id & 0xff) << 24 | (st_dev & 0xff) << 16 |
   (st_ino & 0xffff). -1 and stat's errno when `path` cannot be stat'ed. Local only. */
SYSVMQ_EXPORT key_t sysvmq_ftok(const char* path, int proj_id);

/* The socket path the next connection of this thread will use. */
SYSVMQ_EXPORT const char* sysvmq_socket_path(void);

#ifdef __cplusplus
}
#endif

#endif /* SYSVMQ_SYSVMQ_H */
