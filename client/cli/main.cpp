// main.cpp: `sysvmq`, the command line of sysvmq — global options, then one subcommand
// (commands.hpp). Output is flushed and checked at the end, as util-linux's
// close_stdout does, so `sysvmq ls > /dev/full` fails instead of lying.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "client/cli/commands.hpp"

namespace {

using namespace sysvmq::cli;

constexpr const char* kUsage =
    "\nUsage:\n"
    " sysvmq [--socket <path>] <command> [options]\n"
    "\n"
    "System V message queues served by sysvmqd: list, create, remove, send, receive,\n"
    "and run programs against them.\n"
    "\n"
    "Commands:\n"
    " ls      list queues, in the formats of ipcs -q (-c, -p, -t, -u, -l, -i ID)\n"
    " mk      create a queue, like ipcmk -Q\n"
    " rm      remove queues by id or key, like ipcrm\n"
    " send    send a message\n"
    " recv    receive messages\n"
    " exec    run a command whose msg*() calls are served by sysvmqd (LD_PRELOAD)\n"
    " stats   the daemon's counters\n"
    "\n"
    "Options:\n"
    "     --socket <path>  the daemon's socket (default: $SYSVMQ_SOCKET, else\n"
    "                      /run/sysvmq/sysvmq.sock)\n"
    " -h, --help           display this help\n"
    " -V, --version        display version\n"
    "\n"
    "Run 'sysvmq <command> --help' for a command's options. Exit status: 0 success,\n"
    "1 failure, 2 usage error.\n";

struct Command {
  const char* name;
  int (*run)(Globals&, int, char**);
};

constexpr Command kCommands[] = {{"ls", cmd_ls},     {"mk", cmd_mk},     {"rm", cmd_rm},
                                 {"send", cmd_send}, {"recv", cmd_recv}, {"exec", cmd_exec},
                                 {"stats", cmd_stats}};

int run(int argc, char** argv) {
  Globals g;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (a == "-V" || a == "--version") {
      std::puts("sysvmq " SYSVMQ_VERSION);
      return kExitOk;
    }
    if (a == "--socket") {
      if (i + 1 >= argc) return usage_error("", "option '--socket' requires an argument");
      g.socket = argv[++i];
    } else if (a.starts_with("--socket=")) {
      g.socket = a.substr(std::strlen("--socket="));
    } else {
      return usage_error("", a.starts_with("--") ? "unrecognized option '" + a + "'"
                                                 : "invalid option -- '" + a.substr(1, 1) + "'");
    }
  }
  if (i >= argc) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string name = argv[i];
  if (name == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (name == c.name) return c.run(g, argc - i, argv + i);
  }
  return usage_error("", "unknown command '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  int status = run(argc, argv);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "sysvmq: write error: %s\n", std::strerror(errno));
    if (status == kExitOk) status = kExitFailure;
  }
  return status;
}
