// c_api.cpp: the C API (sysvmq.h) — msgget, msgsnd, msgrcv, msgctl and ftok with the
// libc calls' signatures and errno. Each thread has its own connection (thread_local),
// so a blocked msgrcv in one thread never stalls another (DESIGN.md "Client side").
// Caller memory goes through read_user/write_user, so a bad pointer is EFAULT at the
// point the kernel would report it (SEMANTICS.md 8.5). errno is untouched on success.
// Nothing throws out of here.
#include <sysvmq/sysvmq.h>

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <exception>

#include "client/src/calls.hpp"
#include "client/src/connection.hpp"
#include "client/src/pid_scope.hpp"
#include "client/src/user_memory.hpp"

namespace sysvmq::detail {

Connection& c_api_connection() {
  thread_local Connection connection;
  return connection;
}

}  // namespace sysvmq::detail

namespace {

using sysvmq::detail::Connection;

Connection& thread_connection() { return sysvmq::detail::c_api_connection(); }

int fail(int err) {
  errno = err;
  return -1;
}

// Runs `body` (which returns a value >= 0 or -errno) with errno kept on success and
// exceptions turned into ENOMEM. Thread cancellation's forced unwind is not a
// std::exception and passes through, as it must.
template <class T, class Body>
T guarded(Body&& body) {
  const int saved = errno;
  const sysvmq::detail::PidScope pid_scope;  // one getpid for the whole call
  try {
    const T result = body();
    if (result < 0) return static_cast<T>(fail(static_cast<int>(-result)));
    errno = saved;
    return result;
  } catch (const std::exception&) {
    return static_cast<T>(fail(ENOMEM));
  }
}

}  // namespace

extern "C" {

int sysvmq_msgget(key_t key, int msgflg) {
  return guarded<int>([&]() -> int {
    int msqid = 0;
    if (int err = sysvmq::detail::do_msgget(thread_connection(), key, msgflg, msqid)) {
      return -err;
    }
    return msqid;
  });
}

int sysvmq_msgsnd(int msqid, const void* msgp, size_t msgsz, int msgflg) {
  return guarded<int>([&]() -> int {
    // Rule 2.1 step 1: mtype is read before anything else, so a NULL msgp is EFAULT
    // even with a bad id or msgsz 0.
    return -sysvmq::detail::do_msgsnd_from_user(thread_connection(), msqid, msgp, msgsz,
                                                msgflg);
  });
}

ssize_t sysvmq_msgrcv(int msqid, void* msgp, size_t msgsz, long msgtyp, int msgflg) {
  return guarded<ssize_t>([&]() -> ssize_t {
    long mtype = 0;
    sysvmq::proto::Bytes text;
    if (int err = sysvmq::detail::do_msgrcv(thread_connection(), msqid, msgsz, msgtyp, msgflg,
                                            mtype, text)) {
      return -err;
    }
    // Rule 3.1 step 5: the message has left the queue; if it cannot be written it is
    // lost, as in the kernel.
    const std::array<sysvmq::detail::ConstPiece, 2> pieces{
        sysvmq::detail::ConstPiece{&mtype, sizeof mtype},
        sysvmq::detail::ConstPiece{text.data(), text.size()}};
    if (sysvmq::detail::write_user(msgp, pieces) != sizeof mtype + text.size()) return -EFAULT;
    return static_cast<ssize_t>(text.size());
  });
}

int sysvmq_msgctl(int msqid, int cmd, struct msqid_ds* buf) {
  return guarded<int>([&]() -> int {
    namespace proto = sysvmq::proto;
    proto::MsgctlRequest request;
    request.msqid = msqid;
    request.cmd = cmd;
    if (cmd == proto::kIpcSet) {
      // Rule 4.4 step 1: the buffer is read first; the daemon orders its EFAULT.
      struct msqid_ds in;
      if (sysvmq::detail::read_user(buf, &in, sizeof in)) {
        request.buf_state = proto::BufState::set;
        request.set = sysvmq::detail::to_msqid_set(in);
      } else {
        request.buf_state = proto::BufState::fault;
      }
    }
    proto::MsgctlReply reply;
    if (int err = sysvmq::detail::do_msgctl(thread_connection(), request, reply)) return -err;
    // Rules 4.2, 4.3, 4.6: the result is written after the checks passed; an
    // unwritable buffer is EFAULT (IPC_RMID and IPC_SET write nothing).
    if (reply.ds) {
      struct msqid_ds out;
      sysvmq::detail::to_msqid_ds(*reply.ds, out);
      if (!sysvmq::detail::write_user(buf, &out, sizeof out)) return -EFAULT;
    } else if (reply.info) {
      struct msginfo out;
      sysvmq::detail::to_msginfo(*reply.info, out);
      if (!sysvmq::detail::write_user(buf, &out, sizeof out)) return -EFAULT;
    }
    return reply.ret < 0 ? -EPROTO : reply.ret;
  });
}

key_t sysvmq_ftok(const char* path, int proj_id) {
  // SEMANTICS.md Rule 1.12, glibc's sysvipc/ftok.c. Computed here, never by the daemon.
  struct stat st;
  if (::stat(path, &st) < 0) return static_cast<key_t>(-1);
  const std::uint32_t key = (static_cast<std::uint32_t>(st.st_ino) & 0xffffu) |
                            ((static_cast<std::uint32_t>(st.st_dev) & 0xffu) << 16) |
                            ((static_cast<std::uint32_t>(proj_id) & 0xffu) << 24);
  return static_cast<key_t>(key);
}

const char* sysvmq_socket_path(void) { return sysvmq::detail::default_socket_path(); }

}  // extern "C"
