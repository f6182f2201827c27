// commands.hpp: the subcommands of `sysvmq` (ls, mk, rm, send, recv, exec, stats), each
// a function from its own argv (argv[0] = the subcommand's name) to an exit status in
// util-linux's manner: 0 success, 1 failure, 2 usage error; exec also 126 and 127.
// Not here: the global options and dispatch (main.cpp), ipcs's text formats (format.hpp).
#pragma once

#include <optional>
#include <string>

namespace sysvmq::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCannotExecute = 126;  // as env(1), nice(1), …
inline constexpr int kExitNotFound = 127;

// What came before the subcommand; a subcommand's own --socket replaces it.
struct Globals {
  std::optional<std::string> socket;  // --socket PATH
};

// --socket, else $SYSVMQ_SOCKET, else /run/sysvmq/sysvmq.sock (the library's rule).
std::string socket_path(const Globals& g);

int cmd_ls(Globals& g, int argc, char** argv);
int cmd_mk(Globals& g, int argc, char** argv);
int cmd_rm(Globals& g, int argc, char** argv);
int cmd_send(Globals& g, int argc, char** argv);
int cmd_recv(Globals& g, int argc, char** argv);
int cmd_exec(Globals& g, int argc, char** argv);
int cmd_stats(Globals& g, int argc, char** argv);

// "sysvmq: <message>" on stderr.
void warn(const std::string& message);
// warn(message), then "Try 'sysvmq[ <command>] --help' …"; returns kExitUsage.
int usage_error(const std::string& command, const std::string& message);

}  // namespace sysvmq::cli
