// namespace_state.hpp: what one queue may read or update beyond itself — the limits in
// force, namespace-wide totals (MSG_INFO), where parked callers wait, and the outbox of
// Completions for the server. One per Registry; touched only on the daemon's io thread.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "daemon/core/waiters.hpp"
#include "proto/limits.hpp"

namespace sysvmq::core {

struct Usage {
  std::uint64_t queued_messages = 0;  // MSG_INFO msgmap
  std::uint64_t queued_bytes = 0;     // MSG_INFO msgtql; also the max_queued_bytes quota
  std::uint64_t reserved_bytes = 0;   // promised to send credit; counts against the quota
};

class NamespaceState {
 public:
  explicit NamespaceState(const proto::Limits& limits) : limits_(limits) {}

  const proto::Limits& limits() const { return limits_; }
  void set_limits(const proto::Limits& l) { limits_ = l; }

  Usage& usage() { return usage_; }
  const Usage& usage() const { return usage_; }

  // The daemon-wide byte quota (Rule 2.13): true if `size` more bytes may be queued.
  bool quota_allows(std::uint64_t size) const {
    return limits_.max_queued_bytes == 0 ||
           usage_.queued_bytes + usage_.reserved_bytes + size <= limits_.max_queued_bytes;
  }

  WaiterId park(int slot) {
    const WaiterId id = next_waiter_++;
    parked_slot_.emplace(id, slot);
    return id;
  }
  // Slot where `id` waits, or -1 if it is not parked (answered, cancelled, unknown).
  int slot_of(WaiterId id) const {
    auto it = parked_slot_.find(id);
    return it == parked_slot_.end() ? -1 : it->second;
  }
  void forget(WaiterId id) { parked_slot_.erase(id); }
  std::size_t parked_count() const { return parked_slot_.size(); }

  void complete(WaiterId id, Errc error) {
    forget(id);
    completions_.push_back(Completion{id, error, std::nullopt});
  }
  void complete(WaiterId id, Received received) {
    forget(id);
    completions_.push_back(Completion{id, Errc::ok, std::move(received)});
  }
  std::vector<Completion> take_completions() { return std::exchange(completions_, {}); }

 private:
  proto::Limits limits_;
  Usage usage_;
  WaiterId next_waiter_ = 1;
  std::unordered_map<WaiterId, int> parked_slot_;
  std::vector<Completion> completions_;
};

}  // namespace sysvmq::core
