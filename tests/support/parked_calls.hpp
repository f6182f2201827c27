// parked_calls.hpp: msgsnd/msgrcv calls that may park, started as some caller and then
// watched from outside, so one blocking scenario runs unchanged on the kernel (a forked
// child blocked in the real syscall, inside the test's private IPC namespace) and on the
// core (a parked call of a core::Registry and its Completion).
// Not here: the calls themselves (kernel_oracle.hpp) or identities (identity.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "tests/support/identity.hpp"
#include "tests/support/kernel_oracle.hpp"

namespace sysvmq::test {

// What the kernel-side child does with SIGUSR1 (Rule 2.12 / 3.12: EINTR regardless
// of SA_RESTART once a handler runs). The core side ignores it: interrupt() cancels.
enum class OnSignal : std::uint8_t { handler, handler_restart };

struct CallOptions {
  Who who = Who::root;
  OnSignal on_signal = OnSignal::handler;
};

using CallId = std::size_t;

class ParkingBackend {
 public:
  virtual ~ParkingBackend() = default;
  virtual std::string_view name() const = 0;

  // Calls the test makes itself, as this process (root); they never park.
  virtual MsgBackend& direct() = 0;

  // Start a call as another process; returns once it has parked or answered.
  virtual CallId start_msgsnd(const SndArgs& a, const CallOptions& o = {}) = 0;
  virtual CallId start_msgrcv(const RcvArgs& a, const CallOptions& o = {}) = 0;

  // True while the call waits (kernel: state S in do_msgsnd/do_msgrcv, no answer yet;
  // core: no Completion yet). Meaningful for calls expected to stay parked.
  virtual bool parked(CallId id) = 0;

  // The call's answer. A call that never answers (kernel: within 10 s) gives
  // OpResult{parked = true}, so an expectation on it fails instead of hanging.
  virtual OpResult result(CallId id) = 0;

  // Interrupt the call: SIGUSR1 with a handler on the kernel, Registry::cancel on the
  // core. Returns cancel()'s answer on the core ("still parked"); nullopt on the kernel.
  virtual std::optional<bool> interrupt(CallId id) = 0;

  // The pid the call's process leaves in msg_lspid / msg_lrpid.
  virtual std::int32_t pid_of(CallId id) const = 0;

  // Registry::parked_count() on the core; nullopt on the kernel.
  virtual std::optional<std::size_t> parked_count() const = 0;
};

// Forks one child per call. The caller must already be in its private IPC namespace
// (enter_private_ipc_namespace) and be root. Children left at the end are killed.
std::unique_ptr<ParkingBackend> make_kernel_parking();

// A fresh core::Registry with the kernel's default limits.
std::unique_ptr<ParkingBackend> make_core_parking();

}  // namespace sysvmq::test
