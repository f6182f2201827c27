// main.cpp: sysvmq-bench — flags, the backends of this run, the alternating repetitions
// of every workload case, and the report.
// Not here: the workloads (workloads.cpp), the table and JSON (report.cpp).
#include <sched.h>
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/backends.hpp"
#include "bench/redis.hpp"
#include "bench/report.hpp"
#include "bench/workloads.hpp"

namespace sb = sysvmq::bench;

namespace {

constexpr const char* kUsage = R"(Usage: sysvmq-bench [OPTIONS]

Runs the same workloads on kernel System V queues and on sysvmq, alternating backends
repetition by repetition, checks that every message arrived exactly once with the right
type and bytes, and prints one table: each figure's median [min..max] per backend and
its ratio to the kernel. Redis lists too, when redis-server is on PATH: the bench
starts a private one (Unix socket, persistence off) and stops it at the end.

  --quick             few messages per repetition: every workload in well under a
                      minute (about 20 s on 2 busy cores; the full run takes ~6 min)
  --workload LIST     comma-separated: stream,pingpong,fanin,queues,memory (default: all)
  --backends LIST     comma-separated: kernel,sysvmq,sysvmq-ring,redis (default: all;
                      the kernel always runs: it is what ratios are taken to). sysvmq
                      is the socket only (SYSVMQ_FASTPATH=0), sysvmq-ring the fast path
  --messages N        messages per repetition (memory: queued), instead of the default
  --reps N            repetitions per figure and backend (default and minimum 5)
  --socket PATH       use the sysvmqd listening there (default: start one beside this
                      program, <dir>/sysvmqd, on a temporary socket, and stop it after)
  --json              print JSON instead of the table
  --plot FILE         also draw the ratios with gnuplot (FILE.svg or FILE.png)
  -h, --help          this text

Exit status: 0 with figures; 1 when a message was lost, duplicated or corrupted, or a
run failed (no figure is printed then); 2 for bad usage.
As root, the kernel's queues live in a private IPC namespace made for this run;
otherwise they are IPC_PRIVATE queues, all removed at the end.
)";

struct Options {
  bool quick = false, json = false;
  std::vector<std::string> workloads = {"stream", "pingpong", "fanin", "queues", "memory"};
  std::vector<std::string> backends = {"kernel", "sysvmq", "sysvmq-ring", "redis"};
  std::optional<std::size_t> messages;
  int reps = 5;
  std::string socket, plot;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "sysvmq-bench: " << what << "\n(sysvmq-bench --help lists the options)\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    auto count = [&](long min) {
      const std::string v = value();
      char* end = nullptr;
      errno = 0;
      long n = std::strtol(v.c_str(), &end, 10);
      if (errno || end == v.c_str() || *end || n < min)
        usage_error(a + " wants a whole number of at least " + std::to_string(min));
      return n;
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--workload") {
      o.workloads = split(value());
      for (const auto& w : o.workloads)
        if (!contains({"stream", "pingpong", "fanin", "queues", "memory"}, w))
          usage_error("unknown workload '" + w + "'");
    } else if (a == "--backends") {
      o.backends = split(value());
      for (const auto& b : o.backends)
        if (!contains({"kernel", "sysvmq", "sysvmq-ring", "redis"}, b))
          usage_error("unknown backend '" + b + "'");
    } else if (a == "--messages") {
      o.messages = static_cast<std::size_t>(count(1));
    } else if (a == "--reps") {
      o.reps = static_cast<int>(count(5));
    } else if (a == "--socket") {
      o.socket = value();
    } else if (a == "--plot") {
      o.plot = value();
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  return o;
}

// One workload case: what it runs and the rows its figures fill.
struct Case {
  std::string workload, label;
  sb::Params params;
  std::function<bool(const sb::Backend&, const sb::Params&, sb::Figures&, std::string&)> run;
  std::vector<std::size_t> rows;  // indexes into Run::rows
};

struct Metric {
  const char* key;
  const char* figure;
  bool higher_better;
};

void add_case(std::vector<Case>& cases, sb::Run& run, const std::string& workload,
              const std::string& label, const sb::Params& params, decltype(Case::run) fn,
              const std::vector<Metric>& metrics) {
  Case c{workload, label, params, std::move(fn), {}};
  for (const auto& m : metrics) {
    c.rows.push_back(run.rows.size());
    run.rows.push_back(sb::Row{workload, label, m.key, m.figure, m.higher_better, {}});
  }
  cases.push_back(std::move(c));
}

std::string size_label(std::size_t size) { return std::to_string(size) + " B"; }

std::string machine_line(const Options& o, bool private_ns) {
  utsname u{};
  ::uname(&u);
  std::ostringstream s;
  s << "sysvmq-bench: " << ::sysconf(_SC_NPROCESSORS_ONLN) << " CPUs, Linux " << u.release << ", "
    << (o.quick ? "--quick" : "full run") << ", " << o.reps
    << " alternating repetitions per figure; kernel queues "
    << (private_ns ? "in a private IPC namespace" : "IPC_PRIVATE");
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);

  // Before anything else: the kernel's queues of this run must never meet the host's.
  bool private_ns = false;
  if (::geteuid() == 0) {
    if (::unshare(CLONE_NEWIPC) == 0)
      private_ns = true;
    else
      std::cerr << "sysvmq-bench: unshare(CLONE_NEWIPC): " << std::strerror(errno)
                << "; using IPC_PRIVATE queues\n";
  }
  // In our own namespace msgmnb is ours to raise, so that the memory workload can queue
  // thousands of large messages without CAP_SYS_RESOURCE; every other queue is set back
  // to 16384 bytes (make_queue). Source: ipc/msg.c, IPC_SET checks msg_qbytes > msg_ctlmnb.
  unsigned long msgmnb = 16384;
  if (private_ns) {
    const unsigned long raised = 64ul << 20;
    if (std::FILE* f = std::fopen("/proc/sys/kernel/msgmnb", "w")) {
      if (std::fprintf(f, "%lu\n", raised) > 0 && std::fclose(f) == 0) msgmnb = raised;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  sb::install_alarm_handler();

  sb::Run run;
  run.reps = o.reps;
  run.header = machine_line(o, private_ns);
  run.notes.push_back(
      "each cell: median [min..max]; B/kernel: B's median over the kernel's "
      "(see \"better\" for which way is good)");

  std::vector<sb::Backend> backends = {sb::kernel_backend()};
  std::string exe_dir = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  std::string daemon_binary = exe_dir + "/sysvmqd";
  if (::access(daemon_binary.c_str(), X_OK) != 0) daemon_binary.clear();
  sb::OwnDaemon own;
  if (contains(o.backends, "sysvmq") || contains(o.backends, "sysvmq-ring")) {
    std::string socket = o.socket;
    pid_t pid = 0;
    if (!socket.empty()) {
      if (!sb::can_connect(socket)) {
        std::cerr << "sysvmq-bench: no sysvmqd accepts on " << socket << "\n";
        return 1;
      }
      pid = sb::peer_pid(socket);
      run.notes.push_back("sysvmq: the daemon on " + socket +
                          (pid > 0 ? " (pid " + std::to_string(pid) + ")"
                                   : " (pid not visible: its CPU and memory are not counted)"));
    } else {
      std::string why;
      if (daemon_binary.empty()) {
        std::cerr << "sysvmq-bench: no sysvmqd beside this program (" << exe_dir
                  << "); give --socket PATH of a running one\n";
        return 1;
      }
      if (!own.start(daemon_binary, msgmnb, why)) {
        std::cerr << "sysvmq-bench: " << why << "\n";
        return 1;
      }
      socket = own.socket_path();
      pid = own.pid();
    }
    ::setenv("SYSVMQ_SOCKET", socket.c_str(), 1);
    if (contains(o.backends, "sysvmq")) backends.push_back(sb::sysvmq_backend(pid, false));
    if (contains(o.backends, "sysvmq-ring")) backends.push_back(sb::sysvmq_backend(pid, true));
  }
  sb::RedisServer redis;
  if (contains(o.backends, "redis")) {
    if (!sb::on_path("redis-server")) {
      run.notes.push_back("redis: not installed (no redis-server on PATH)");
    } else {
      std::string why;
      if (!redis.start("redis-server", why)) {
        std::cerr << "sysvmq-bench: redis: " << why << "\n";
        return 1;
      }
      backends.push_back(sb::redis_backend(redis.socket_path(), redis.pid()));
      run.notes.push_back(
          "redis: a private redis-server on a Unix socket, persistence off; a queue is one "
          "list per mtype, LPUSH to send, BRPOP to receive (mtype in the item); lists are "
          "unbounded, so redis senders are never held back by msg_qbytes 16384");
    }
  }
  const bool with_redis = redis.pid() > 0;
  for (const auto& b : backends) run.backends.push_back(b.name);

  auto messages = [&](std::size_t quick, std::size_t full) {
    return o.messages.value_or(o.quick ? quick : full);
  };
  const unsigned timeout = o.quick ? 60 : 600;
  std::vector<Case> cases;
  for (const auto& w : o.workloads) {
    if (w == "stream") {
      for (int pc : {1, 4}) {
        for (std::size_t size : {16, 256, 4096, 8192}) {
          sb::Params p{messages(4000, 100000), size, pc, pc, timeout, msgmnb, {}};
          add_case(cases, run, "stream",
                   std::to_string(pc) + ":" + std::to_string(pc) + " " + size_label(size), p,
                   sb::run_stream,
                   {{"msgs", "msg/s", true}, {"mbs", "MB/s", true}, {"cpu", "CPU us/msg", false}});
        }
      }
    } else if (w == "pingpong") {
      sb::Params p{messages(2000, 20000), 64, 1, 1, timeout, msgmnb, {}};
      add_case(cases, run, "pingpong", "64 B", p, sb::run_pingpong,
               {{"p50", "RTT p50 us", false},
                {"p99", "RTT p99 us", false},
                {"p999", "RTT p99.9 us", false}});
    } else if (w == "fanin") {
      sb::Params p{messages(4000, 100000), 64, 16, 1, timeout, msgmnb, {}};
      add_case(cases, run, "fanin", "16:1 64 B types 1-4", p, sb::run_fanin,
               {{"msgs", "msg/s", true}, {"cpu", "CPU us/msg", false}});
      if (with_redis)
        run.notes.push_back(
            "fanin: redis's msgtyp -2 (IPC_NOWAIT) is RPOP on the type-1 then the type-2 "
            "list; -4 is BRPOP over the type-1..4 lists (the lowest type present first)");
    } else if (w == "queues") {
      sb::Params p{messages(4000, 100000), 64, 1, 1, timeout, msgmnb, {}};
      add_case(cases, run, "queues", "1000 queues 64 B", p, sb::run_queues,
               {{"msgs", "msg/s", true},
                {"cpu", "CPU us/msg", false},
                {"create", "msgget x1000 ms", false}});
      if (with_redis)
        run.notes.push_back(
            "queues: redis = 1000 list keys; msgget x1000 n/a (a list exists once pushed to)");
    } else if (w == "memory") {
      for (std::size_t size : {16, 256, 4096, 8192}) {
        sb::Params p{messages(1000, 5000), size, 1, 0, timeout, msgmnb, daemon_binary};
        add_case(cases, run, "memory", size_label(size), p, sb::run_memory,
                 {{"kib", "KiB/1000 msgs", false}});
      }
      std::string source;
      const bool slabs = sb::kernel_message_memory_kib(&source).has_value();
      run.notes.push_back(
          "memory: sysvmq = growth of a fresh daemon's VmRSS; kernel = " +
          (slabs ? "growth of " + source
                 : std::string("n/a (/proc/slabinfo is readable by root only)")) +
          (msgmnb > 16384 ? ""
                          : "; n/a where fewer than 100 messages fit in "
                            "msgmnb 16384") +
          (with_redis ? "; redis = growth of INFO used_memory (allocator bytes)" : ""));
    }
  }

  for (auto& c : cases) {
    if (!o.json) std::cerr << "sysvmq-bench: " << c.workload << " " << c.label << "\n";
    for (int rep = 0; rep < o.reps; ++rep) {
      for (const auto& b : backends) {
        sb::Figures figures;
        std::string why;
        // Read by each forked process when it connects.
        if (!b.fastpath.empty()) ::setenv("SYSVMQ_FASTPATH", b.fastpath.c_str(), 1);
        if (!c.run(b, c.params, figures, why)) {
          std::cerr << "sysvmq-bench: " << c.workload << " " << c.label << ", repetition "
                    << rep + 1 << ": " << why << "\nsysvmq-bench: no figures printed\n";
          return 1;
        }
        for (std::size_t r : c.rows)
          for (const auto& [key, value] : figures)
            if (run.rows[r].key == key) run.rows[r].samples[b.name].push_back(value);
      }
    }
  }

  if (o.json)
    sb::print_json(std::cout, run);
  else
    sb::print_table(std::cout, run);
  if (!o.plot.empty()) {
    std::string why;
    if (sb::plot(run, o.plot, why))
      std::cerr << "sysvmq-bench: chart written to " << o.plot << "\n";
    else
      std::cerr << "sysvmq-bench: --plot: " << why << "\n";
  }
  return 0;
}
