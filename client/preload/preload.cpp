// preload.cpp: libsysvmq_preload.so — libc's msgget, msgsnd, msgrcv and msgctl for
// programs that know nothing of sysvmq (LD_PRELOAD). Each wrapper calls the C API
// (c_api.cpp), linked into this object with hidden visibility, so the shim shares no
// state with a libsysvmq.so the same program may load.
// Not here: what a call means (calls.cpp, c_api.cpp), the transport (connection.cpp),
// the list of wrapped symbols (symbols.def). sem* and shm* are not wrapped: they stay
// with the kernel. Calls that bypass libc (syscall(SYS_msgsnd), static binaries) reach
// the kernel, and nothing can be done about it here (SEMANTICS.md 8.6).
//
// No dlsym: nothing falls back to the kernel's msg* (a missing daemon is ECONNREFUSED).
// Everything the shim calls on the way to the daemon is a raw syscall or a libc function
// that fakeroot does not wrap (socket, connect, send, recv, poll, close, secure_getenv,
// process_vm_readv); ids and descriptors are examined with syscall() (connection.cpp).
// Nothing runs before the first call: no constructor talks to the daemon.
#include <cxxabi.h>
#include <pthread.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sysvmq/sysvmq.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "client/src/connection.hpp"

#define SYSVMQ_PRELOAD_EXPORT __attribute__((visibility("default")))

namespace {

// The pid that last printed the "cannot reach" line: one line per process, and the
// child of a fork() says it again for itself.
constinit std::atomic<pid_t> g_reported_pid{0};

class Line {
 public:
  void add(const char* s) {
    for (; s != nullptr && *s != '\0' && size_ + 1 < sizeof buf_; ++s) buf_[size_++] = *s;
  }
  void add(const std::string& s) { add(s.c_str()); }
  // Written with the raw syscall, never to a descriptor that is one of our sockets
  // (a program that closed stderr may have had fd 2 reused for one).
  void write_to_stderr() {
    buf_[size_++] = '\n';
    if (sysvmq::detail::is_own_socket(2)) return;
    for (std::size_t off = 0; off < size_;) {
      const long k = ::syscall(SYS_write, 2, buf_ + off, size_ - off);
      if (k > 0) {
        off += static_cast<std::size_t>(k);
      } else if (k < 0 && errno == EINTR) {
        continue;
      } else {
        return;
      }
    }
  }

 private:
  char buf_[1024];
  std::size_t size_ = 0;
};

// The daemon could not be reached: say where we looked and why, once per process.
// errno is kept (it is the call's ECONNREFUSED).
void report_unreachable() {
  const int saved_errno = errno;
  const pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
  if (g_reported_pid.exchange(self) != self) {
    const auto& connection = sysvmq::detail::c_api_connection();
    const std::string& path = connection.last_path();
    const int why = connection.last_connect_errno();
    const char* text = why != 0 ? ::strerrordesc_np(why) : nullptr;
    const bool from_env = path != sysvmq::detail::kDefaultSocketPath;
    Line line;
    line.add("sysvmq: cannot reach sysvmqd at ");
    line.add(path);
    if (from_env) line.add(" (from SYSVMQ_SOCKET)");
    line.add(": ");
    line.add(text != nullptr ? text : "unknown error");
    if (!from_env) line.add(" (set SYSVMQ_SOCKET)");
    line.write_to_stderr();
  }
  errno = saved_errno;
}

// The daemon refused the connection (its connection limits): the call failed with
// EAGAIN. Say so, once per process, so an EAGAIN from a blocking call is not a mystery.
void report_refused() {
  const int saved_errno = errno;
  const pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
  if (g_reported_pid.exchange(self) != self) {
    Line line;
    line.add("sysvmq: sysvmqd at ");
    line.add(sysvmq::detail::c_api_connection().last_path());
    line.add(" refused the connection: too many connections (max_connections or "
             "max_connections_per_uid); calls fail with EAGAIN until it accepts one");
    line.write_to_stderr();
  }
  errno = saved_errno;
}

// Runs the C API's call. It keeps errno on success and turns std::exception into
// ENOMEM; anything else that escapes becomes EIO here, so nothing crosses into C —
// except thread cancellation's forced unwind, which must pass (and which closes the
// connection on its way, so the daemon drops the parked call: SEMANTICS.md 8.11).
template <class R, class Call>
R serve(Call&& call) {
  try {
    const R result = call();
    if (result < 0 && errno == ECONNREFUSED) report_unreachable();
    if (result < 0 && errno == EAGAIN && sysvmq::detail::c_api_connection().refused())
      report_refused();
    return result;
  } catch (abi::__forced_unwind&) {
    throw;
  } catch (...) {
    errno = EIO;
    return -1;
  }
}

// glibc's msgget and msgctl are no cancellation points (declared noexcept), but the
// shim waits for the daemon in poll(), which is one: cancellation is held off around
// them, as it is for the syscall.
template <class R, class Call>
R serve_without_cancellation(Call&& call) noexcept {
  int old_state = 0;
  ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_state);
  const R result = serve<R>(call);
  ::pthread_setcancelstate(old_state, nullptr);
  return result;
}

template <class R, bool kCancellationPoint, class Call>
R dispatch(Call&& call) noexcept(!kCancellationPoint) {
  if constexpr (kCancellationPoint) {
    return serve<R>(call);
  } else {
    return serve_without_cancellation<R>(call);
  }
}

}  // namespace

// The wrappers, one per line of symbols.def. The declarations of <sys/msg.h> are in
// scope, so a signature or exception specification that differs from libc's does not
// compile.
#define SYSVMQ_PRELOAD_SYMBOL(name, ret, params, args, cancellation_point)           \
  extern "C" SYSVMQ_PRELOAD_EXPORT ret name params noexcept(!(cancellation_point)) { \
    return dispatch<ret, (cancellation_point)>([&] { return sysvmq_##name args; });  \
  }
#include "client/preload/symbols.def"
#undef SYSVMQ_PRELOAD_SYMBOL
