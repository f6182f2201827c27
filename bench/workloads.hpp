// workloads.hpp: one repetition of each workload on one backend — stream, pingpong,
// fanin, queues, memory — checked message by message, measured as named figures.
// Not here: repetitions, medians and ratios (main.cpp, report.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "bench/backends.hpp"

namespace sysvmq::bench {

struct Params {
  std::size_t messages = 0;  // per repetition (all producers together)
  std::size_t size = 0;      // message text bytes
  int producers = 1;
  int consumers = 1;
  unsigned timeout_s = 120;  // a repetition still running then has lost a message or hung
  // msgmnb of both backends: 16384 (the default), or raised alike for the memory workload
  // (the kernel's per IPC namespace as root; the bench's own daemons' by --config).
  unsigned long msgmnb = 16384;
  std::string daemon_binary;  // memory: a fresh sysvmqd per repetition ("" : the backend's)
};

// Figures of one repetition, by metric key (the keys report.hpp's rows name).
using Figures = std::vector<std::pair<std::string, double>>;

// Each returns false and `why` when the run could not be made or a message was lost,
// duplicated, corrupted, or arrived with the wrong type or length: no figure then.
bool run_stream(const Backend& b, const Params& p, Figures& out, std::string& why);
bool run_pingpong(const Backend& b, const Params& p, Figures& out, std::string& why);
bool run_fanin(const Backend& b, const Params& p, Figures& out, std::string& why);
bool run_queues(const Backend& b, const Params& p, Figures& out, std::string& why);
bool run_memory(const Backend& b, const Params& p, Figures& out, std::string& why);

// Installs the SIGALRM handler that cuts a hung repetition's waits short.
void install_alarm_handler();

}  // namespace sysvmq::bench
