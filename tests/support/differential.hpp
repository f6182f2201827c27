// differential.hpp: the seeded differential run of the kernel-as-oracle tests — random
// sequences of non-blocking msgget / msgsnd / msgrcv / msgctl calls made by several
// callers (identity.hpp), run side by side on the Linux kernel (a fresh private IPC
// namespace per seed) and on a Candidate (a fresh core::Registry, a fresh sysvmqd, …).
// Every answer must match: return values and errno, ids, received mtype and text,
// msqid_ds (times in kind), msginfo. A mismatch is reduced to a short op sequence and
// reported with its seed. The generator, seeds and audits are the same for every
// Candidate, so each one faces exactly the same calls.
// Not here: the backends (kernel_oracle.hpp, daemon_backend.hpp).
//
//   SYSVMQ_DIFF_SEED=<n>   replay only seed n (in the first chunk)
//   SYSVMQ_DIFF_OPS=<n>    operations per seed (default 500)
//   SYSVMQ_DIFF_SEEDS=<n>  seeds per chunk (default 100; 4 chunks, seeds 1..400)
//   SYSVMQ_DIFF_COVERAGE=1 print how often each kind of kernel answer came up
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proto/limits.hpp"
#include "tests/support/kernel_oracle.hpp"

namespace sysvmq::test {

// The side judged against the kernel. A new one is made for every seed (and for every
// replay while a mismatch is reduced), so its ids start from a fresh allocator.
class Candidate {
 public:
  virtual ~Candidate() = default;
  // Called as root inside the seed's fresh IPC namespace, whose limits are `limits`.
  // "" when ready, else why not.
  virtual std::string start(const proto::Limits& limits) = 0;
  virtual MsgBackend& backend() = 0;
  // The namespace's limits were just changed to `limits` (called as root). "" when the
  // candidate follows, else why not.
  virtual std::string set_limits(const proto::Limits& limits) = 0;
};

struct DifferentialOptions {
  std::function<std::unique_ptr<Candidate>()> make_candidate;
  std::string candidate_name;  // "core", "daemon": in the report's lines
  std::string replay_hint;     // how to rerun a seed, e.g. "ctest -L kernel -R Differential"
};

// Seeds chunk*100+1 .. chunk*100+100 (see the variables above).
inline constexpr int kDifferentialChunks = 4;

// Runs one chunk of seeds and reports every failure through gtest (a broken
// environment is fatal to the chunk). Call as root.
void run_differential_chunk(int chunk, const DifferentialOptions& options);

}  // namespace sysvmq::test
