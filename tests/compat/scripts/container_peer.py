#!/usr/bin/python3
"""container_peer.py: one side of a queue shared by two "containers" through sysvmqd.

Each side runs in its own IPC (and pid, and maybe user) namespace. Both reach the same
daemon queue by key, while the kernel, asked with raw syscalls that no preload library
sees, keeps their namespaces apart (Rule 8.10 turned around: one daemon, one namespace).

  first <key>   kernel: creates <key> in its own namespace. Daemon: creates <key>, sends
                type 1 "ping", checks msg_lspid is its own getpid() (Rule 6.5), waits for
                the type-2 reply.
  second <key>  kernel: msgget(<key>, 0) must fail with ENOENT. Daemon: receives the ping,
                creates <key>+1 (left behind, so the test can read its owner), replies.

Prints "name value" lines and "FAIL <what>" on failure; exit 1 if anything failed.
"""
import ctypes
import errno
import os
import platform
import sys

import sysv_ipc

SYS_MSGGET = {"x86_64": 68, "aarch64": 186}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)


def kernel_msgget(key, flags):
    """msgget straight to the kernel: (id, errno)."""
    rc = libc.syscall(ctypes.c_long(SYS_MSGGET), ctypes.c_int(key), ctypes.c_int(flags))
    return rc, (ctypes.get_errno() if rc < 0 else 0)


def to_key_t(value):
    return value - (1 << 32) if value >= (1 << 31) else value


role, key = sys.argv[1], to_key_t(int(sys.argv[2], 0))
failed = False
print("ipcns", os.stat("/proc/self/ns/ipc").st_ino)
print("pidns", os.stat("/proc/self/ns/pid").st_ino)
print("pid", os.getpid())
print("euid", os.geteuid())
sys.stdout.flush()

if role == "first":
    kid, err = kernel_msgget(key, sysv_ipc.IPC_CREAT | 0o600)
    print("kernel_create", kid if kid >= 0 else "errno %d" % err)
    failed |= kid < 0
    mq = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREAT, mode=0o666)
    mq.send(b"ping from pid %d" % os.getpid(), type=1)
    print("lspid", mq.last_send_pid)
    if mq.last_send_pid != os.getpid():
        print("FAIL lspid is not my own pid")
        failed = True
    sys.stdout.flush()
    message, _ = mq.receive(type=2)
    print("reply", message.decode())
else:
    kid, err = kernel_msgget(key, 0)
    print("kernel_lookup", "ENOENT" if err == errno.ENOENT else "%d errno %d" % (kid, err))
    failed |= err != errno.ENOENT
    mq = sysv_ipc.MessageQueue(key)
    message, _ = mq.receive(type=1)
    print("got", message.decode())
    mine = sysv_ipc.MessageQueue(key + 1, sysv_ipc.IPC_CREX, mode=0o600)
    mine.send(b"left behind", type=1)
    print("own_queue_uid_seen", mine.uid)
    mq.send(b"pong from pid %d" % os.getpid(), type=2)
sys.exit(1 if failed else 0)
