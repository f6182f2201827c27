// outcome.hpp: what every core call returns — a value, an error answer (Errc), or
// "parked": the call waits, and its answer arrives later as a Completion.
#pragma once

#include <cassert>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <variant>

#include "proto/errc.hpp"

namespace sysvmq::core {

using proto::Errc;

// Names one parked msgsnd or msgrcv until its Completion is taken or it is cancelled.
using WaiterId = std::uint64_t;

struct Parked {
  WaiterId waiter;
};

template <class T = void>
class [[nodiscard]] Outcome {
  using Value = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

 public:
  Outcome() requires std::is_void_v<T> : state_(std::monostate{}) {}
  Outcome(Value v) requires(!std::is_void_v<T>) : state_(std::move(v)) {}  // NOLINT
  Outcome(Errc e) : state_(e) { assert(e != Errc::ok); }                    // NOLINT
  Outcome(Parked p) : state_(p) {}                                          // NOLINT

  bool ok() const { return std::holds_alternative<Value>(state_); }
  bool parked() const { return std::holds_alternative<Parked>(state_); }
  // Errc::ok for a value, the answer otherwise; parked() must be false.
  Errc error() const {
    assert(!parked());
    return ok() ? Errc::ok : std::get<Errc>(state_);
  }
  WaiterId waiter() const { return std::get<Parked>(state_).waiter; }

  Value& value() & { return std::get<Value>(state_); }
  const Value& value() const& { return std::get<Value>(state_); }
  Value&& value() && { return std::get<Value>(std::move(state_)); }

 private:
  std::variant<Value, Errc, Parked> state_;
};

}  // namespace sysvmq::core
