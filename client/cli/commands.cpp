// commands.cpp: each `sysvmq` subcommand — options, the calls on sysvmq::Client, and the
// messages and exit statuses of util-linux's ipcs/ipcmk/ipcrm.
#include "client/cli/commands.hpp"

#include <getopt.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sysvmq/client.hpp>
#include <vector>

#include "client/cli/format.hpp"

namespace sysvmq::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kDefaultSocket = "/run/sysvmq/sysvmq.sock";
constexpr const char* kShimName = "libsysvmq_preload.so";
constexpr int kSocketOption = 1000;  // getopt value of --socket in every subcommand
constexpr int kJsonOption = 1001;
constexpr int kIdFlagOption = 1002;

std::string errno_text(int err) { return std::strerror(err); }

// ---------------------------------------------------------------- option parsing

// getopt_long with opterr = 0 and a leading ':' so the messages are ours ("sysvmq: …",
// not "ls: …") and a missing argument is told apart from an unknown option.
class Options {
 public:
  Options(int argc, char** argv, const char* shortopts, const option* longopts)
      : argc_(argc), argv_(argv), shortopts_(shortopts), longopts_(longopts) {
    // A leading '+' (stop at the first operand) must stay first, before the ':'.
    shortopts_.insert(shortopts_.starts_with('+') ? 1 : 0, ":");
    ::opterr = 0;
    ::optind = 0;  // glibc: 0 starts a fresh scan
  }
  // The next option, or -1 at the end. '?' / ':' leave their message in error().
  int next() {
    const int c = ::getopt_long(argc_, argv_, shortopts_.c_str(), longopts_, nullptr);
    const std::string arg = ::optind > 0 && ::optind <= argc_ ? argv_[::optind - 1] : "";
    const std::string letter(1, static_cast<char>(::optopt));
    if (c == ':') {
      // The option is the last argument, whole: "--id" or "-ci".
      error_ = arg.starts_with("--") ? "option '" + arg + "' requires an argument"
                                     : "option requires an argument -- '" + letter + "'";
    } else if (c == '?') {
      if (::optopt == 0) {
        error_ = "unrecognized option '" + arg + "'";
      } else if (::optopt > UCHAR_MAX ||
                 (letter != ":" && letter != "+" && shortopts_.find(letter) != std::string::npos)) {
        error_ = "option '" + arg + "' doesn't allow an argument";  // "--json=1"
      } else {
        error_ = "invalid option -- '" + letter + "'";
      }
    }
    return c;
  }
  const std::string& error() const { return error_; }
  // The arguments that are not options (GNU getopt has moved them to the end).
  std::vector<std::string> operands() const {
    return std::vector<std::string>(argv_ + ::optind, argv_ + argc_);
  }

 private:
  int argc_;
  char** argv_;
  std::string shortopts_;
  const option* longopts_;
  std::string error_;
};

bool parse_ll(const std::string& s, int base, long long min, long long max, long long& out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, base);
  if (errno != 0 || end == s.c_str() || *end != '\0' || v < min || v > max) return false;
  out = v;
  return true;
}

// A key as ipcrm reads one (strtoul base 0: 0x… hex, 0… octal, else decimal), any 32-bit
// pattern; a negative decimal is taken as the signed key_t it spells (Rule 1.1).
bool parse_key(const std::string& s, key_t& key) {
  long long v = 0;
  if (!parse_ll(s, 0, INT32_MIN, UINT32_MAX, v)) return false;
  key = static_cast<key_t>(static_cast<std::uint32_t>(static_cast<std::int64_t>(v)));
  return true;
}

bool parse_id(const std::string& s, int& id) {
  long long v = 0;
  if (!parse_ll(s, 10, INT32_MIN, INT32_MAX, v)) return false;
  id = static_cast<int>(v);
  return true;
}

std::string key_text(key_t key) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(key));
  return buf;
}

// ---------------------------------------------------------------- reaching the daemon

// Why connect() to `path` fails now (0 if it works): the library folds ENOENT, EACCES
// and ECONNREFUSED into ECONNREFUSED, and the user needs to know which.
int connect_errno(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// One Client on the socket in use, and the one way every command reports an error.
class Daemon {
 public:
  explicit Daemon(std::string path) : path_(path), client_(std::move(path)) {}

  // Connects now, so that a missing daemon is one clear line before anything else.
  bool open() {
    auto limits = client_.connect();
    if (!limits) {
      unreachable(limits.error());
      return false;
    }
    limits_ = *limits;
    return true;
  }
  Client& client() { return client_; }
  const Limits& limits() const { return limits_; }

  // "sysvmq: <what>: <strerror>", or the unreachable line when the connection is the
  // problem. Returns kExitFailure.
  int fail(const std::string& what, std::error_code err) {
    if (err.value() == ECONNREFUSED) {
      unreachable(err);
    } else {
      warn(what + ": " + errno_text(err.value()));
    }
    return kExitFailure;
  }

  // An ADMIN answer parsed, or nullopt after saying why.
  std::optional<Json> admin(const char* op) {
    auto answer = client_.admin(std::string(R"({"op":")") + op + "\"}");
    if (!answer) {
      fail(std::string("daemon request \"") + op + "\"", answer.error());
      return std::nullopt;
    }
    Json j = Json::parse(*answer, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      warn(std::string("daemon request \"") + op + "\": the answer is not a JSON object");
      return std::nullopt;
    }
    return j;
  }

 private:
  void unreachable(std::error_code err) {
    if (err.value() == EAGAIN) {  // PROTOCOL.md "HELLO": refused by the connection limits
      warn("sysvmqd at " + path_ + " refused the connection: too many connections "
           "(max_connections or max_connections_per_uid); try again later");
      return;
    }
    int why = connect_errno(path_);
    if (why == 0) why = err.value();  // it listens, but HELLO failed (EPROTO, a restart, …)
    warn("cannot connect to sysvmqd at " + path_ + ": " + errno_text(why));
  }

  std::string path_;
  Client client_;
  Limits limits_{};
};

// ---------------------------------------------------------------- queue records

// Every queue of `{"op":"queues"}`, in slot order as the kernel's /proc/sysvipc/msg.
std::optional<Json> fetch_queues(Daemon& d) {
  auto answer = d.admin("queues");
  if (!answer) return std::nullopt;
  auto it = answer->find("queues");
  if (it == answer->end() || !it->is_array()) {
    warn("daemon request \"queues\": the answer has no \"queues\" array");
    return std::nullopt;
  }
  Json list = *it;
  std::stable_sort(list.begin(), list.end(), [](const Json& a, const Json& b) {
    return (a.value("msqid", 0) & 0x7fff) < (b.value("msqid", 0) & 0x7fff);
  });
  return list;
}

QueueRow row_of(const Json& q) {
  QueueRow r;
  r.key = static_cast<std::int32_t>(q.value("key", std::int64_t{0}));
  r.msqid = q.value("msqid", 0);
  r.uid = q.value("uid", std::uint32_t{0});
  r.gid = q.value("gid", std::uint32_t{0});
  r.cuid = q.value("cuid", std::uint32_t{0});
  r.cgid = q.value("cgid", std::uint32_t{0});
  r.mode = q.value("mode", std::uint32_t{0});
  r.stime = q.value("stime", std::int64_t{0});
  r.rtime = q.value("rtime", std::int64_t{0});
  r.ctime = q.value("ctime", std::int64_t{0});
  r.cbytes = q.value("cbytes", std::uint64_t{0});
  r.qnum = q.value("qnum", std::uint64_t{0});
  r.qbytes = q.value("qbytes", std::uint64_t{0});
  r.lspid = q.value("lspid", std::int32_t{0});
  r.lrpid = q.value("lrpid", std::int32_t{0});
  return r;
}

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }
void print_json(const Json& j) { print(j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"); }

// ---------------------------------------------------------------- queue targets

// How send/recv name their queue: a key (the default), or an id (--id, -q).
struct Target {
  bool given = false;
  bool is_id = false;
  key_t key = 0;
  int id = 0;
  std::string text;  // as written, for messages
};

// Sets `t` from a -q/-Q value or the positional operand; "" or a usage message.
std::string set_target(Target& t, const std::string& arg, bool is_id) {
  if (t.given) return "give the queue once (a key, --id ID, -q ID or -Q KEY)";
  t.given = true;
  t.is_id = is_id;
  t.text = arg;
  if (is_id) {
    if (!parse_id(arg, t.id)) return "failed to parse id: '" + arg + "'";
  } else {
    if (!parse_key(arg, t.key)) return "failed to parse key: '" + arg + "'";
    // msgget(IPC_PRIVATE, 0) would create a queue, not find one (Rule 1.2).
    if (t.key == IPC_PRIVATE) return "key 0 is IPC_PRIVATE and names no queue; use --id ID";
  }
  return "";
}

// The msqid of `t`: an id as given, a key through msgget(key, 0), which checks no
// permission bits (Rule 1.3). nullopt after the message.
std::optional<int> resolve(Daemon& d, const Target& t) {
  if (t.is_id) return t.id;
  auto id = d.client().msgget(t.key, 0);
  if (!id) {
    d.fail("queue with key " + key_text(t.key), id.error());
    return std::nullopt;
  }
  return *id;
}

std::string target_name(const Target& t, int msqid) {
  return t.is_id ? "queue " + std::to_string(msqid)
                 : "queue " + std::to_string(msqid) + " (key " + key_text(t.key) + ")";
}

constexpr const char* kTargetHelp =
    "The queue is named by its key unless --id is given: 0x… is hex, 0… octal, other\n"
    "numbers decimal, as ipcrm -Q reads them. -q ID and -Q KEY say it explicitly.\n";

constexpr const char* kTargetOptions =
    " -Q, --queue-key <key>  the queue with this key (the same as the plain operand)\n"
    " -q, --queue-id <id>    the queue with this id\n"
    "     --id               the operand is an id, not a key\n";

constexpr const char* kCommonOptions =
    "     --socket <path>    the daemon's socket (default: $SYSVMQ_SOCKET, else\n"
    "                        /run/sysvmq/sysvmq.sock)\n"
    " -h, --help             display this help\n";

// ---------------------------------------------------------------- ls

constexpr const char* kLsUsage =
    "\nUsage:\n"
    " sysvmq ls [-c|-p|-t|-u|-l] [--json]\n"
    " sysvmq ls -i <id> [--json]\n"
    "\n"
    "List the daemon's message queues in the formats of ipcs -q. The kernel's own queues\n"
    "are not shown (ipcs lists those); the daemon's never appear in ipcs.\n"
    "\n"
    "Options:\n"
    " -i, --id <id>          details of one queue, like ipcs -q -i\n"
    " -c, --creator          creator and owner, like ipcs -q -c\n"
    " -p, --pid              last sender and receiver pids, like ipcs -q -p\n"
    " -t, --time             send, receive and change times, like ipcs -q -t\n"
    " -u, --summary          usage summary, like ipcs -q -u\n"
    " -l, --limits           the daemon's limits, like ipcs -q -l\n"
    "     --json             JSON instead: every field of the queues (the ADMIN \"queues\"\n"
    "                        records), the summary, or the daemon's limits\n";

int cmd_ls_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {
      {"id", required_argument, nullptr, 'i'},    {"creator", no_argument, nullptr, 'c'},
      {"pid", no_argument, nullptr, 'p'},         {"time", no_argument, nullptr, 't'},
      {"summary", no_argument, nullptr, 'u'},     {"limits", no_argument, nullptr, 'l'},
      {"json", no_argument, nullptr, kJsonOption}, {"socket", required_argument, nullptr, kSocketOption},
      {"help", no_argument, nullptr, 'h'},        {nullptr, 0, nullptr, 0}};
  Options opts(argc, argv, "i:cptulh", longopts);
  char view = 0;  // as ipcs: the last format option wins; -i ignores it
  bool json = false;
  std::optional<int> detail_id;
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case 'i': {
        int id = 0;
        if (!parse_id(::optarg, id)) {
          return usage_error("ls", "failed to parse id argument: '" + std::string(::optarg) + "'");
        }
        detail_id = id;
        break;
      }
      case 'c': case 'p': case 't': case 'u': case 'l': view = static_cast<char>(c); break;
      case kJsonOption: json = true; break;
      case kSocketOption: g.socket = ::optarg; break;
      case 'h': print(kLsUsage); std::fputs(kCommonOptions, stdout); return kExitOk;
      default: return usage_error("ls", opts.error());
    }
  }
  if (!opts.operands().empty()) {
    return usage_error("ls", "unexpected argument '" + opts.operands().front() + "'");
  }

  Daemon d(socket_path(g));
  if (!d.open()) return kExitFailure;

  if (detail_id) {
    auto queues = fetch_queues(d);
    if (!queues) return kExitFailure;
    for (const Json& q : *queues) {
      if (q.value("msqid", -1) != *detail_id) continue;
      if (json) {
        print_json(q);
      } else {
        print(format_details(row_of(q)));
      }
      return kExitOk;
    }
    // ipcs says the same and still exits 0; a script is better served by 1.
    warn("id " + std::to_string(*detail_id) + " not found");
    return kExitFailure;
  }

  if (view == 'u') {
    auto info = d.client().info(MSG_INFO);
    if (!info) return d.fail("msgctl(MSG_INFO)", info.error());
    // Rule 4.9: MSG_INFO's msgpool, msgmap and msgtql carry the usage.
    const Summary s{info->info.msgpool, info->info.msgmap, info->info.msgtql};
    if (json) {
      print_json(Json{{"queues", s.queues}, {"queued_messages", s.messages},
                      {"queued_bytes", s.bytes}});
    } else {
      print(format_summary(s));
    }
    return kExitOk;
  }
  if (view == 'l') {
    auto limits = d.admin("limits");
    if (!limits) return kExitFailure;
    if (json) {
      print_json(*limits);
    } else {
      print(format_limits(LimitsRow{limits->value("msgmni", 0LL), limits->value("msgmax", 0LL),
                                    limits->value("msgmnb", 0LL)}));
    }
    return kExitOk;
  }

  auto queues = fetch_queues(d);
  if (!queues) return kExitFailure;
  if (json) {
    print_json(Json{{"queues", *queues}});
    return kExitOk;
  }
  std::vector<QueueRow> rows;
  for (const Json& q : *queues) rows.push_back(row_of(q));
  switch (view) {
    case 'c': print(format_creators(rows)); break;
    case 'p': print(format_pids(rows)); break;
    case 't': print(format_times(rows)); break;
    default: print(format_list(rows)); break;
  }
  return kExitOk;
}

// ---------------------------------------------------------------- mk

constexpr const char* kMkUsage =
    "\nUsage:\n"
    " sysvmq mk [-k <key>] [-p <mode>]\n"
    "\n"
    "Create a message queue, like ipcmk -Q, and print its id.\n"
    "\n"
    "Options:\n"
    " -k, --key <key>        the new queue's key (0x… hex, 0… octal, or decimal); fails\n"
    "                        if a queue has it already. Default: IPC_PRIVATE, a queue\n"
    "                        that no key finds\n"
    " -p, --mode <mode>      permissions, octal (default 0644)\n";

int cmd_mk_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {{"key", required_argument, nullptr, 'k'},
                                     {"mode", required_argument, nullptr, 'p'},
                                     {"queue", no_argument, nullptr, 'Q'},
                                     {"socket", required_argument, nullptr, kSocketOption},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  Options opts(argc, argv, "k:p:Qh", longopts);
  key_t key = IPC_PRIVATE;
  long long mode = 0644;
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case 'k':
        if (!parse_key(::optarg, key)) {
          return usage_error("mk", "failed to parse key: '" + std::string(::optarg) + "'");
        }
        break;
      case 'p':
        // Only the nine permission bits are a mode; higher bits are msgget flags.
        if (!parse_ll(::optarg, 8, 0, 0777, mode)) {
          return usage_error("mk", "failed to parse mode: '" + std::string(::optarg) + "'");
        }
        break;
      case 'Q': break;  // accepted for ipcmk's sake: a queue is all mk makes
      case kSocketOption: g.socket = ::optarg; break;
      case 'h': print(kMkUsage); std::fputs(kCommonOptions, stdout); return kExitOk;
      default: return usage_error("mk", opts.error());
    }
  }
  if (!opts.operands().empty()) {
    return usage_error("mk", "unexpected argument '" + opts.operands().front() + "'");
  }
  Daemon d(socket_path(g));
  if (!d.open()) return kExitFailure;
  auto id = d.client().msgget(key, IPC_CREAT | IPC_EXCL | static_cast<int>(mode));
  if (!id) return d.fail("create message queue failed", id.error());
  std::printf("Message queue id: %d\n", *id);
  return kExitOk;
}

// ---------------------------------------------------------------- rm

constexpr const char* kRmUsage =
    "\nUsage:\n"
    " sysvmq rm [-q <id>]... [-Q <key>]... [-a]\n"
    "\n"
    "Remove message queues, like ipcrm. Options may be repeated; every one is tried,\n"
    "and the exit status is 1 if any failed.\n"
    "\n"
    "Options:\n"
    " -q, --queue-id <id>    remove the queue with this id\n"
    " -Q, --queue-key <key>  remove the queue with this key\n"
    " -a, --all              remove every queue of the daemon\n"
    " -v, --verbose          explain what is being done\n";

// ipcrm's remove_id: the warning for a failed IPC_RMID, worded as ipcrm words it.
bool remove_id(Daemon& d, int id, bool by_key, bool verbose) {
  if (verbose) std::printf("removing message queue id `%d'\n", id);
  auto r = d.client().remove(id);
  if (r) return true;
  const char* what = nullptr;
  switch (r.error().value()) {
    case EACCES:
    case EPERM: what = by_key ? "permission denied for key" : "permission denied for id"; break;
    case EINVAL: what = by_key ? "invalid key" : "invalid id"; break;
    case EIDRM: what = by_key ? "already removed key" : "already removed id"; break;
    default: d.fail("msgctl(IPC_RMID) of id " + std::to_string(id), r.error()); return false;
  }
  warn(std::string(what) + " (" + std::to_string(id) + ")");
  return false;
}

int cmd_rm_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {{"queue-id", required_argument, nullptr, 'q'},
                                     {"queue-key", required_argument, nullptr, 'Q'},
                                     {"all", no_argument, nullptr, 'a'},
                                     {"verbose", no_argument, nullptr, 'v'},
                                     {"socket", required_argument, nullptr, kSocketOption},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  struct Action {
    bool by_key;
    std::string arg;
    key_t key;
    int id;
  };
  std::vector<Action> actions;
  bool all = false, verbose = false;
  Options opts(argc, argv, "q:Q:avh", longopts);
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case 'q': {
        Action a{false, ::optarg, 0, 0};
        if (!parse_id(a.arg, a.id)) return usage_error("rm", "failed to parse argument: '" + a.arg + "'");
        actions.push_back(a);
        break;
      }
      case 'Q': {
        Action a{true, ::optarg, 0, 0};
        if (!parse_key(a.arg, a.key)) return usage_error("rm", "failed to parse argument: '" + a.arg + "'");
        actions.push_back(a);
        break;
      }
      case 'a': all = true; break;
      case 'v': verbose = true; break;
      case kSocketOption: g.socket = ::optarg; break;
      case 'h': print(kRmUsage); std::fputs(kCommonOptions, stdout); return kExitOk;
      default: return usage_error("rm", opts.error());
    }
  }
  if (!opts.operands().empty()) {
    return usage_error("rm", "unknown argument: " + opts.operands().front());
  }
  if (actions.empty() && !all) return usage_error("rm", "bad usage");

  Daemon d(socket_path(g));
  if (!d.open()) return kExitFailure;
  int failed = 0;
  for (const Action& a : actions) {
    if (!a.by_key) {
      failed += !remove_id(d, a.id, false, verbose);
      continue;
    }
    if (a.key == IPC_PRIVATE) {
      warn("illegal key (" + a.arg + ")");
      ++failed;
      continue;
    }
    auto id = d.client().msgget(a.key, 0);
    if (!id) {
      switch (id.error().value()) {
        case EACCES: warn("permission denied for key (" + a.arg + ")"); break;
        case EIDRM: warn("already removed key (" + a.arg + ")"); break;
        case ENOENT: warn("invalid key (" + a.arg + ")"); break;
        default: return d.fail("key failed", id.error());
      }
      ++failed;
      continue;
    }
    failed += !remove_id(d, *id, true, verbose);
  }
  if (all) {
    auto queues = fetch_queues(d);
    if (!queues) return kExitFailure;
    for (const Json& q : *queues) failed += !remove_id(d, q.value("msqid", -1), false, verbose);
  }
  return failed == 0 ? kExitOk : kExitFailure;
}

// ---------------------------------------------------------------- send

constexpr const char* kSendUsage =
    "\nUsage:\n"
    " sysvmq send [options] <key> <message>|-\n"
    " sysvmq send [options] --id <id> <message>|-\n"
    " sysvmq send [options] -q <id>|-Q <key> <message>|-\n"
    "\n"
    "Send one message (msgsnd). With -, standard input is the message, byte for byte\n"
    "(a trailing newline included), or with --lines each line is one message.\n";

constexpr const char* kSendOptions =
    " -t, --type <type>      the message type, > 0 (default 1)\n"
    " -n, --nowait           fail (EAGAIN) instead of waiting while the queue is full\n"
    " -l, --lines            with -: send each line of standard input, without its\n"
    "                        newline, as a message of its own\n";

bool read_stdin(std::string& out) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

int cmd_send_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {{"queue-id", required_argument, nullptr, 'q'},
                                     {"queue-key", required_argument, nullptr, 'Q'},
                                     {"id", no_argument, nullptr, kIdFlagOption},
                                     {"type", required_argument, nullptr, 't'},
                                     {"nowait", no_argument, nullptr, 'n'},
                                     {"lines", no_argument, nullptr, 'l'},
                                     {"socket", required_argument, nullptr, kSocketOption},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  Options opts(argc, argv, "q:Q:t:nlh", longopts);
  Target target;
  bool id_flag = false, nowait = false, lines = false;
  long long mtype = 1;
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case 'q':
      case 'Q':
        if (auto why = set_target(target, ::optarg, c == 'q'); !why.empty()) return usage_error("send", why);
        break;
      case kIdFlagOption: id_flag = true; break;
      case 't':
        if (!parse_ll(::optarg, 10, 1, LONG_MAX, mtype)) {
          return usage_error("send", "the message type must be a number > 0: '" + std::string(::optarg) + "'");
        }
        break;
      case 'n': nowait = true; break;
      case 'l': lines = true; break;
      case kSocketOption: g.socket = ::optarg; break;
      case 'h':
        print(kSendUsage);
        std::fputs(kTargetHelp, stdout);
        std::fputs("\nOptions:\n", stdout);
        std::fputs(kTargetOptions, stdout);
        std::fputs(kSendOptions, stdout);
        std::fputs(kCommonOptions, stdout);
        return kExitOk;
      default: return usage_error("send", opts.error());
    }
  }
  std::vector<std::string> rest = opts.operands();
  if (!target.given) {
    if (rest.empty()) return usage_error("send", "no queue given");
    if (auto why = set_target(target, rest.front(), id_flag); !why.empty()) return usage_error("send", why);
    rest.erase(rest.begin());
  } else if (id_flag) {
    return usage_error("send", "--id names the operand an id; with -q or -Q there is none");
  }
  if (rest.empty()) return usage_error("send", "no message given (use - for standard input)");
  if (rest.size() > 1) return usage_error("send", "unexpected argument '" + rest[1] + "' (quote a message with spaces)");
  const bool from_stdin = rest.front() == "-";
  if (lines && !from_stdin) return usage_error("send", "--lines needs the message - (standard input)");

  std::vector<std::string> messages;
  if (from_stdin) {
    std::string all;
    if (!read_stdin(all)) {
      warn("standard input: " + errno_text(errno));
      return kExitFailure;
    }
    if (lines) {
      std::size_t start = 0;
      while (start < all.size()) {
        const std::size_t nl = all.find('\n', start);
        const std::size_t end = nl == std::string::npos ? all.size() : nl;
        messages.push_back(all.substr(start, end - start));
        start = end + 1;
      }
    } else {
      messages.push_back(std::move(all));
    }
  } else {
    messages.push_back(rest.front());
  }

  Daemon d(socket_path(g));
  if (!d.open()) return kExitFailure;
  const auto msqid = resolve(d, target);
  if (!msqid) return kExitFailure;
  for (const std::string& m : messages) {
    auto r = d.client().msgsnd(*msqid, static_cast<long>(mtype), m, nowait ? IPC_NOWAIT : 0);
    if (!r) return d.fail("msgsnd to " + target_name(target, *msqid), r.error());
  }
  return kExitOk;
}

// ---------------------------------------------------------------- recv

constexpr const char* kRecvUsage =
    "\nUsage:\n"
    " sysvmq recv [options] <key>\n"
    " sysvmq recv [options] --id <id>\n"
    " sysvmq recv [options] -q <id>|-Q <key>\n"
    "\n"
    "Receive messages (msgrcv) and print the text of each on a line of its own. Waits\n"
    "for a message unless --nowait is given; then no matching message means exit 1.\n";

constexpr const char* kRecvOptions =
    " -t, --type <type>      which message, as msgrcv's msgtyp: 0 the first (default),\n"
    "                        > 0 the first of that type, < 0 the lowest type <= |type|\n"
    " -x, --except           with --type > 0: the first message NOT of that type\n"
    " -n, --nowait           do not wait: exit 1 (ENOMSG) when no message matches\n"
    " -c, --count <n>        receive n messages (default 1)\n"
    " -s, --size <bytes>     the longest text accepted (default: the daemon's msgmax)\n"
    " -e, --noerror          cut longer messages to --size instead of failing (E2BIG)\n"
    " -T, --show-type        print each message's type and a tab before its text\n";

int cmd_recv_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {{"queue-id", required_argument, nullptr, 'q'},
                                     {"queue-key", required_argument, nullptr, 'Q'},
                                     {"id", no_argument, nullptr, kIdFlagOption},
                                     {"type", required_argument, nullptr, 't'},
                                     {"except", no_argument, nullptr, 'x'},
                                     {"nowait", no_argument, nullptr, 'n'},
                                     {"count", required_argument, nullptr, 'c'},
                                     {"size", required_argument, nullptr, 's'},
                                     {"noerror", no_argument, nullptr, 'e'},
                                     {"show-type", no_argument, nullptr, 'T'},
                                     {"socket", required_argument, nullptr, kSocketOption},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  Options opts(argc, argv, "q:Q:t:xnc:s:eTh", longopts);
  Target target;
  bool id_flag = false, show_type = false;
  int flags = 0;
  long long msgtyp = 0, count = 1, size = -1;
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case 'q':
      case 'Q':
        if (auto why = set_target(target, ::optarg, c == 'q'); !why.empty()) return usage_error("recv", why);
        break;
      case kIdFlagOption: id_flag = true; break;
      case 't':
        if (!parse_ll(::optarg, 10, LONG_MIN, LONG_MAX, msgtyp)) {
          return usage_error("recv", "failed to parse type: '" + std::string(::optarg) + "'");
        }
        break;
      case 'x': flags |= MSG_EXCEPT; break;
      case 'n': flags |= IPC_NOWAIT; break;
      case 'c':
        if (!parse_ll(::optarg, 10, 1, LLONG_MAX, count)) {
          return usage_error("recv", "the count must be a number > 0: '" + std::string(::optarg) + "'");
        }
        break;
      case 's':
        if (!parse_ll(::optarg, 10, 0, INT_MAX, size)) {
          return usage_error("recv", "failed to parse size: '" + std::string(::optarg) + "'");
        }
        break;
      case 'e': flags |= MSG_NOERROR; break;
      case 'T': show_type = true; break;
      case kSocketOption: g.socket = ::optarg; break;
      case 'h':
        print(kRecvUsage);
        std::fputs(kTargetHelp, stdout);
        std::fputs("\nOptions:\n", stdout);
        std::fputs(kTargetOptions, stdout);
        std::fputs(kRecvOptions, stdout);
        std::fputs(kCommonOptions, stdout);
        return kExitOk;
      default: return usage_error("recv", opts.error());
    }
  }
  std::vector<std::string> rest = opts.operands();
  if (!target.given) {
    if (rest.empty()) return usage_error("recv", "no queue given");
    if (auto why = set_target(target, rest.front(), id_flag); !why.empty()) return usage_error("recv", why);
    rest.erase(rest.begin());
  } else if (id_flag) {
    return usage_error("recv", "--id names the operand an id; with -q or -Q there is none");
  }
  if (!rest.empty()) return usage_error("recv", "unexpected argument '" + rest.front() + "'");

  Daemon d(socket_path(g));
  if (!d.open()) return kExitFailure;
  const auto msqid = resolve(d, target);
  if (!msqid) return kExitFailure;
  const std::size_t maxsize = static_cast<std::size_t>(size >= 0 ? size : d.limits().msgmax);
  for (long long i = 0; i < count; ++i) {
    auto m = d.client().msgrcv(*msqid, maxsize, static_cast<long>(msgtyp), flags);
    if (!m) return d.fail("msgrcv from " + target_name(target, *msqid), m.error());
    if (show_type) std::printf("%ld\t", m->mtype);
    print(m->text);
    std::putchar('\n');
    std::fflush(stdout);  // a message taken off the queue is shown at once
  }
  return kExitOk;
}

// ---------------------------------------------------------------- exec

constexpr const char* kExecUsage =
    "\nUsage:\n"
    " sysvmq exec [--socket <path>] [--] <command> [<argument>...]\n"
    "\n"
    "Run a command with libsysvmq_preload.so appended to LD_PRELOAD and SYSVMQ_SOCKET\n"
    "set to the socket in use, so that its msgget, msgsnd, msgrcv and msgctl calls are\n"
    "served by sysvmqd instead of the kernel (calls that bypass libc still reach the\n"
    "kernel). The shim is looked for in <dir of sysvmq>/../lib, then\n"
    "<dir of sysvmq>/../lib/<multiarch>, then the libdir sysvmq was built for.\n"
    "Exit status: the command's; 126 if it cannot be run, 127 if it is not found.\n"
    "\n"
    "Options:\n";

std::vector<std::filesystem::path> shim_candidates() {
  namespace fs = std::filesystem;
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path lib = self.parent_path() / ".." / "lib";
    out.push_back((lib / kShimName).lexically_normal());
    if (std::strlen(SYSVMQ_MULTIARCH) != 0) {
      out.push_back((lib / SYSVMQ_MULTIARCH / kShimName).lexically_normal());
    }
  }
  out.push_back((fs::path(SYSVMQ_INSTALL_LIBDIR) / kShimName).lexically_normal());
  return out;
}

// LD_PRELOAD with `shim` added at the end. ld.so splits the list at spaces and colons
// alike and skips empty entries (elf/rtld.c), so ":" joins any existing value.
std::string preload_with(const char* existing, const std::string& shim) {
  const std::string old = existing != nullptr ? existing : "";
  std::size_t pos = 0;
  bool has_entries = false;
  while (pos < old.size()) {
    const std::size_t end = old.find_first_of(" :", pos);
    const std::string entry = old.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (entry == shim) return old;  // already there (a nested `sysvmq exec`)
    if (!entry.empty()) has_entries = true;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  if (!has_entries) return shim;
  const char last = old.back();
  return old + (last == ' ' || last == ':' ? "" : ":") + shim;
}

int cmd_exec_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {{"socket", required_argument, nullptr, kSocketOption},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  Options opts(argc, argv, "+h", longopts);  // '+': the command's own options are its own
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case kSocketOption: g.socket = ::optarg; break;
      case 'h': print(kExecUsage); std::fputs(kCommonOptions, stdout); return kExitOk;
      default: return usage_error("exec", opts.error());
    }
  }
  if (::optind >= argc) return usage_error("exec", "no command given");
  char** command = argv + ::optind;

  std::string shim;
  std::string looked;
  for (const auto& candidate : shim_candidates()) {
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      shim = candidate.string();
      break;
    }
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  if (shim.empty()) {
    warn(std::string("cannot find ") + kShimName + "; looked for " + looked);
    return kExitFailure;
  }
  const std::string preload = preload_with(std::getenv("LD_PRELOAD"), shim);
  const std::string socket = socket_path(g);
  if (::setenv("LD_PRELOAD", preload.c_str(), 1) != 0 ||
      ::setenv("SYSVMQ_SOCKET", socket.c_str(), 1) != 0) {
    warn("setenv: " + errno_text(errno));
    return kExitFailure;
  }
  std::fflush(stdout);
  ::execvp(command[0], command);
  const int err = errno;
  warn("failed to execute " + std::string(command[0]) + ": " + errno_text(err));
  return err == ENOENT ? kExitNotFound : kExitCannotExecute;
}

// ---------------------------------------------------------------- stats

constexpr const char* kStatsUsage =
    "\nUsage:\n"
    " sysvmq stats [--json]\n"
    "\n"
    "Print the daemon's counters (its ADMIN \"stats\" answer) as aligned \"name: value\"\n"
    "lines.\n"
    "\n"
    "Options:\n"
    "     --json             the answer as JSON\n";

int cmd_stats_impl(Globals& g, int argc, char** argv) {
  static const option longopts[] = {{"json", no_argument, nullptr, kJsonOption},
                                     {"socket", required_argument, nullptr, kSocketOption},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  Options opts(argc, argv, "h", longopts);
  bool json = false;
  for (int c; (c = opts.next()) != -1;) {
    switch (c) {
      case kJsonOption: json = true; break;
      case kSocketOption: g.socket = ::optarg; break;
      case 'h': print(kStatsUsage); std::fputs(kCommonOptions, stdout); return kExitOk;
      default: return usage_error("stats", opts.error());
    }
  }
  if (!opts.operands().empty()) {
    return usage_error("stats", "unexpected argument '" + opts.operands().front() + "'");
  }
  Daemon d(socket_path(g));
  if (!d.open()) return kExitFailure;
  auto stats = d.admin("stats");
  if (!stats) return kExitFailure;
  if (json) {
    print_json(*stats);
    return kExitOk;
  }
  // Groups ({"fast_path": {...}}) print as dotted names: one counter a line.
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& item : stats->items()) {
    if (item.value().is_object()) {
      for (const auto& sub : item.value().items())
        rows.emplace_back(item.key() + "." + sub.key(), sub.value().is_string()
                                                            ? sub.value().get<std::string>()
                                                            : sub.value().dump());
    } else {
      rows.emplace_back(item.key(), item.value().is_string() ? item.value().get<std::string>()
                                                             : item.value().dump());
    }
  }
  std::size_t width = 0;
  for (const auto& [name, value] : rows) width = std::max(width, name.size());
  for (const auto& [name, value] : rows)
    std::printf("%-*s %s\n", static_cast<int>(width + 1), (name + ":").c_str(), value.c_str());
  return kExitOk;
}

// A malformed answer (a field of the wrong JSON type) ends the command with one line.
int guarded(int (*impl)(Globals&, int, char**), Globals& g, int argc, char** argv) {
  try {
    return impl(g, argc, argv);
  } catch (const nlohmann::json::exception& e) {
    warn(std::string("unexpected answer from the daemon: ") + e.what());
    return kExitFailure;
  }
}

}  // namespace

std::string socket_path(const Globals& g) {
  if (g.socket && !g.socket->empty()) return *g.socket;
  const char* env = ::secure_getenv("SYSVMQ_SOCKET");
  return env != nullptr && *env != '\0' ? env : kDefaultSocket;
}

void warn(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "sysvmq: %s\n", message.c_str());
}

int usage_error(const std::string& command, const std::string& message) {
  warn(message);
  std::fprintf(stderr, "Try 'sysvmq%s%s --help' for more information.\n",
               command.empty() ? "" : " ", command.c_str());
  return kExitUsage;
}

int cmd_ls(Globals& g, int argc, char** argv) { return guarded(cmd_ls_impl, g, argc, argv); }
int cmd_mk(Globals& g, int argc, char** argv) { return guarded(cmd_mk_impl, g, argc, argv); }
int cmd_rm(Globals& g, int argc, char** argv) { return guarded(cmd_rm_impl, g, argc, argv); }
int cmd_send(Globals& g, int argc, char** argv) { return guarded(cmd_send_impl, g, argc, argv); }
int cmd_recv(Globals& g, int argc, char** argv) { return guarded(cmd_recv_impl, g, argc, argv); }
int cmd_exec(Globals& g, int argc, char** argv) { return guarded(cmd_exec_impl, g, argc, argv); }
int cmd_stats(Globals& g, int argc, char** argv) { return guarded(cmd_stats_impl, g, argc, argv); }

}  // namespace sysvmq::cli
