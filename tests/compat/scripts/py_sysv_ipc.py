#!/usr/bin/python3
"""py_sysv_ipc.py: python3-sysv-ipc's MessageQueue against whatever serves msgget & co.

Send and receive with types, block=False errors (BusyError), current_messages,
max_size (IPC_SET), the pids and times it reads with IPC_STAT, and remove. Prints
"ok <check>" or "FAIL <check>: <detail>" per check; exits 1 if any check failed.
Usage: /usr/bin/python3 py_sysv_ipc.py <key>   (the key must not exist yet)
"""
import os
import sys

import sysv_ipc

failed = 0


def check(name, ok, detail=""):
    global failed
    if ok:
        print("ok", name)
    else:
        print("FAIL %s: %s" % (name, detail))
        failed += 1


def raises(error, call):
    try:
        call()
    except error:
        return True
    return False


key = int(sys.argv[1], 0) if len(sys.argv) > 1 else 0x70793031

check("absent_before", raises(sysv_ipc.ExistentialError, lambda: sysv_ipc.MessageQueue(key)))
mq = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600)
check("create", mq.key == key and mq.id >= 0 and mq.mode == 0o600, "id %d mode %o" % (mq.id, mq.mode))
check("fresh", mq.current_messages == 0 and mq.max_size == 16384 and mq.last_send_pid == 0
      and mq.uid == os.geteuid() and mq.cuid == os.geteuid(),
      "qnum %d qbytes %d" % (mq.current_messages, mq.max_size))
check("crex_again_exists", raises(sysv_ipc.ExistentialError,
                                  lambda: sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)))
same = sysv_ipc.MessageQueue(key)
check("open_by_key", same.id == mq.id, "%d vs %d" % (same.id, mq.id))

mq.send(b"one", type=1)
mq.send("two", type=2)
mq.send(b"\x00bytes\x00\xff", type=3)
check("current_messages", mq.current_messages == 3, str(mq.current_messages))
check("last_send_pid", mq.last_send_pid == os.getpid() and mq.last_send_time > 0,
      "%d vs %d" % (mq.last_send_pid, os.getpid()))

message, mtype = mq.receive(type=2)
check("receive_by_type", (message, mtype) == (b"two", 2), repr((message, mtype)))
message, mtype = mq.receive(type=-3)
check("receive_negative_type", (message, mtype) == (b"one", 1), repr((message, mtype)))
message, mtype = same.receive()
check("receive_binary", (message, mtype) == (b"\x00bytes\x00\xff", 3), repr((message, mtype)))
check("last_receive_pid", mq.last_receive_pid == os.getpid(), str(mq.last_receive_pid))
check("receive_nowait_busy", raises(sysv_ipc.BusyError, lambda: mq.receive(block=False, type=9)))

# Rule 2.3: lowering msg_qbytes to 8 bytes makes a 10-byte send not fit.
mq.max_size = 8
check("max_size_set", mq.max_size == 8, str(mq.max_size))
check("send_nowait_full_busy", raises(sysv_ipc.BusyError, lambda: mq.send(b"0123456789", block=False)))
mq.send(b"01234567", block=False)
check("send_exact_fit", mq.current_messages == 1)

mq.remove()
check("removed", raises(sysv_ipc.ExistentialError, lambda: sysv_ipc.MessageQueue(key)))
try:  # Rule 1.9: a removed id is EINVAL, which sysv_ipc raises as a plain OSError
    mq.send(b"x", block=False)
    check("send_after_remove_einval", False, "send succeeded")
except OSError as e:
    check("send_after_remove_einval", e.errno == 22, repr(e))
sys.exit(1 if failed else 0)
