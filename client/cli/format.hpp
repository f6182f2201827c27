// format.hpp: the text the `sysvmq ls` views print, byte for byte the formats of
// util-linux 2.38 `ipcs -q` (plain, -c, -p, -t, -u, -l, -i ID), so scripts and eyes
// trained on ipcs read the daemon's queues the same way. Pure functions: no daemon, no I/O
// beyond the passwd/group look-ups ipcs does too.
// Not here: fetching the rows (commands.cpp), JSON output (commands.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sysvmq::cli {

// One queue as `{"op":"queues"}` reports it; the fields ipcs reads from /proc/sysvipc/msg.
struct QueueRow {
  std::int32_t key = 0;
  int msqid = 0;
  std::uint32_t uid = 0, gid = 0, cuid = 0, cgid = 0;
  std::uint32_t mode = 0;
  std::int64_t stime = 0, rtime = 0, ctime = 0;
  std::uint64_t cbytes = 0, qnum = 0, qbytes = 0;
  std::int32_t lspid = 0, lrpid = 0;
};

// MSG_INFO's usage fields, as `ipcs -q -u` prints them.
struct Summary {
  int queues = 0;    // msginfo.msgpool
  int messages = 0;  // msginfo.msgmap
  int bytes = 0;     // msginfo.msgtql
};

struct LimitsRow {
  long long msgmni = 0, msgmax = 0, msgmnb = 0;
};

// Each returns the whole section, blank lines around it included, as `ipcs -q …` prints.
std::string format_list(const std::vector<QueueRow>& rows);      // ipcs -q
std::string format_creators(const std::vector<QueueRow>& rows);  // ipcs -q -c
std::string format_pids(const std::vector<QueueRow>& rows);      // ipcs -q -p
std::string format_times(const std::vector<QueueRow>& rows);     // ipcs -q -t
std::string format_summary(const Summary& s);                    // ipcs -q -u
std::string format_limits(const LimitsRow& l);                   // ipcs -q -l
std::string format_details(const QueueRow& row);                 // ipcs -q -i ID

}  // namespace sysvmq::cli
