// waiters.hpp: callers parked in msgsnd and msgrcv, and how their answers come out.
// Not here: the passes that wake them (queue.cpp: hand-off, sender walk, IPC_SET,
// IPC_RMID) or sending the answers (server/).
#pragma once

#include <cstdint>
#include <optional>

#include "daemon/core/caller.hpp"
#include "daemon/core/message.hpp"
#include "daemon/core/outcome.hpp"
#include "daemon/core/selector.hpp"

namespace sysvmq::core {

// A msgsnd whose message did not fit (Rule 2.10). It keeps its message; the message
// enters the queue only when the sender completes.
struct ParkedSender {
  WaiterId id;
  Caller caller;
  Message message;
};

// A msgrcv that found nothing (Rule 3.7), with its selector and its limit.
struct ParkedReceiver {
  WaiterId id;
  Caller caller;
  Selector selector;
  std::uint64_t msgsz;  // bytes the caller can take
  bool noerror;         // MSG_NOERROR: truncate to msgsz instead of E2BIG

  // r_maxsize of ipc/msg.c: unlimited under MSG_NOERROR.
  bool can_take(std::size_t length) const { return noerror || length <= msgsz; }
};

// The later answer of a parked call. For a sender: error only (ok means msgsnd
// returned 0). For a receiver: error, or the message it received.
struct Completion {
  WaiterId waiter;
  Errc error = Errc::ok;
  std::optional<Received> received;
};

}  // namespace sysvmq::core
