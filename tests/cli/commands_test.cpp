// The `sysvmq` subcommands against a real daemon: mk/send/recv/rm round trips, --json,
// stats, and the messages and exit statuses of failures (util-linux's manner: 1 for a
// failure, 2 for a usage error, "sysvmq: <what>: <strerror>").
#include <sys/socket.h>
#include <sys/un.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sysvmq/client.hpp>

#include "tests/cli/cli_util.hpp"

namespace sysvmq::test {
namespace {

using nlohmann::json;

// "Message queue id: N\n" → N
int created_id(const ProcessResult& r) {
  EXPECT_EQ(r.status, 0) << describe(r);
  const std::string prefix = "Message queue id: ";
  EXPECT_TRUE(r.out.starts_with(prefix)) << r.out;
  return r.out.starts_with(prefix) ? std::stoi(r.out.substr(prefix.size())) : -1;
}

TEST_F(CliTest, MkSendRecvRmRoundTrip) {
  const int id = created_id(cli({"mk", "-k", "0x5151", "-p", "0600"}));
  ASSERT_GE(id, 0);
  EXPECT_EQ(cli({"mk", "-k", "0x5151"}).err,
            "sysvmq: create message queue failed: File exists\n");

  ProcessResult r = cli({"send", "0x5151", "-t", "3", "hello world"});
  EXPECT_EQ(r.status, 0) << describe(r);
  r = cli({"send", "--id", std::to_string(id), "--lines", "-"}, {{}, "line one\n\nline three\n"});
  EXPECT_EQ(r.status, 0) << describe(r);

  Client client(sock());
  auto ds = client.stat(id);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->msg_qnum, 4u);
  EXPECT_EQ(ds->__msg_cbytes, 11u + 8u + 0u + 10u);
  EXPECT_EQ(ds->msg_perm.mode & 0777, 0600u);
  EXPECT_EQ(ds->msg_perm.__key, 0x5151);

  r = cli({"recv", "-q", std::to_string(id), "--count", "4", "--show-type"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "3\thello world\n1\tline one\n1\t\n1\tline three\n");

  r = cli({"recv", "0x5151", "--nowait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sysvmq: msgrcv from queue " + std::to_string(id) +
                       " (key 0x00005151): No message of desired type\n");

  r = cli({"rm", "-Q", "0x5151"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(client.stat(id).error().value(), EINVAL);
}

TEST_F(CliTest, MkWithoutAKeyMakesAPrivateQueueWithIpcmksDefaultMode) {
  const int id = created_id(cli({"mk"}));
  Client client(sock());
  auto ds = client.stat(id);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->msg_perm.__key, IPC_PRIVATE);
  EXPECT_EQ(ds->msg_perm.mode & 0777, 0644u);
}

TEST_F(CliTest, SendFromStdinKeepsTheBytesAsTheyAre) {
  const int id = created_id(cli({"mk", "-k", "77"}));
  ProcessResult r = cli({"send", "-Q", "77", "-"}, {{}, std::string("two\nlines\n\0with a nul", 21)});
  EXPECT_EQ(r.status, 0) << describe(r);
  auto m = Client(sock()).msgrcv(id, 8192, 0, IPC_NOWAIT);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->text, std::string("two\nlines\n\0with a nul", 21));
  EXPECT_EQ(m->mtype, 1);
}

TEST_F(CliTest, RecvWaitsForAMessageAndPrintsIt) {
  const int id = created_id(cli({"mk"}));
  Child waiting({kCli, "--socket", sock(), "recv", "--id", std::to_string(id)});
  Client client(sock());
  // The receiver is parked in the daemon: that, not a sleep, is what we wait for.
  ASSERT_TRUE(eventually([&] {
    auto stats = client.admin(R"({"op":"stats"})");
    return stats.ok() && json::parse(*stats).value("parked_calls", 0) == 1;
  }));
  ASSERT_TRUE(client.msgsnd(id, 9, "late").ok());
  const ProcessResult r = waiting.finish();
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "late\n");
}

TEST_F(CliTest, RecvSelectsByTypeAsMsgrcvDoes) {
  const int id = created_id(cli({"mk"}));
  Client client(sock());
  for (long t : {5, 2, 7}) ASSERT_TRUE(client.msgsnd(id, t, "t" + std::to_string(t)).ok());
  EXPECT_EQ(cli({"recv", "--id", std::to_string(id), "-t", "-6", "-n"}).out, "t2\n");
  EXPECT_EQ(cli({"recv", "--id", std::to_string(id), "-t", "5", "--except", "-n"}).out, "t7\n");
  ProcessResult r = cli({"recv", "--id", std::to_string(id), "-s", "1", "-n"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("Argument list too long"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"recv", "--id", std::to_string(id), "-s", "1", "--noerror"}).out, "t\n");
}

TEST_F(CliTest, RmTriesEveryOperandAndWordsFailuresAsIpcrm) {
  const int a = created_id(cli({"mk"}));
  const int b = created_id(cli({"mk", "-k", "0x10"}));
  const ProcessResult r = cli({"rm", "-q", std::to_string(a), "-q", "4242", "-Q", "0x11", "-Q", "0x10",
                     "-Q", "0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "sysvmq: invalid id (4242)\n"
            "sysvmq: invalid key (0x11)\n"
            "sysvmq: illegal key (0)\n");
  Client client(sock());
  EXPECT_EQ(client.stat(a).error().value(), EINVAL);
  EXPECT_EQ(client.stat(b).error().value(), EINVAL);

  created_id(cli({"mk"}));
  created_id(cli({"mk"}));
  EXPECT_EQ(cli({"rm", "--all", "-v"}).status, 0);
  auto info = client.info(MSG_INFO);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->info.msgpool, 0);
}

TEST_F(CliTest, JsonCarriesEveryQueueField) {
  const int id = created_id(cli({"mk", "-k", "0xabc", "-p", "640"}));
  ASSERT_EQ(cli({"send", "0xabc", "12345"}).status, 0);
  ProcessResult r = cli({"ls", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const json all = json::parse(r.out);
  ASSERT_EQ(all.at("queues").size(), 1u);
  const json& q = all["queues"][0];
  for (const char* field : {"key", "msqid", "uid", "gid", "cuid", "cgid", "mode", "seq", "stime",
                            "rtime", "ctime", "cbytes", "qnum", "qbytes", "lspid", "lrpid",
                            "parked_senders", "parked_receivers"}) {
    EXPECT_TRUE(q.contains(field)) << field;
  }
  EXPECT_EQ(q["key"], 0xabc);
  EXPECT_EQ(q["msqid"], id);
  EXPECT_EQ(q["mode"], 0640);
  EXPECT_EQ(q["cbytes"], 5);
  EXPECT_EQ(q["qnum"], 1);
  EXPECT_EQ(q["uid"], ::geteuid());

  // The other views print JSON too: the same records, one of them, the summary, limits.
  for (const char* view : {"-c", "-p", "-t"}) {
    r = cli({"ls", view, "--json"});
    EXPECT_EQ(json::parse(r.out), all) << view;
  }
  r = cli({"ls", "-i", std::to_string(id), "--json"});
  EXPECT_EQ(json::parse(r.out), q);
  r = cli({"ls", "-u", "--json"});
  EXPECT_EQ(json::parse(r.out), (json{{"queues", 1}, {"queued_messages", 1}, {"queued_bytes", 5}}));
  r = cli({"ls", "-l", "--json"});
  const json limits = json::parse(r.out);
  EXPECT_EQ(limits.at("msgmax"), 8192);
  EXPECT_EQ(limits.at("msgmnb"), 16384);
  EXPECT_EQ(limits.at("msgmni"), 32000);
}

TEST_F(CliTest, StatsPrintsAlignedCountersOrJson) {
  ProcessResult r = cli({"stats", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const json stats = json::parse(r.out);
  EXPECT_EQ(stats.at("pid"), daemon_->pid());
  EXPECT_EQ(stats.at("queues"), 0);

  r = cli({"stats"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto lines = split_lines(r.out);
  // One line a counter; a group's counters as group.name.
  std::size_t counters = 0;
  for (const auto& item : stats.items()) counters += item.value().is_object() ? item.value().size() : 1;
  EXPECT_EQ(lines.size(), counters);
  std::size_t value_column = std::string::npos;
  const std::regex line(R"(([a-z_]+)(?:\.([a-z_]+))?: +(\S+))");
  for (const auto& l : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, line)) << l;
    ASSERT_TRUE(stats.contains(m[1].str())) << l;
    const json& value = m[2].matched ? stats.at(m[1].str()).at(m[2].str()) : stats.at(m[1].str());
    const std::string name = m[2].matched ? m[2].str() : m[1].str();
    // Counters of connections, rings and requests grow with each run; the rest stands still.
    if (!name.ends_with("_total") && name != "connections" && name != "uptime_seconds" &&
        name != "rings_set_up") {
      EXPECT_EQ(value.dump(), m[3].str()) << l;
    }
    const std::size_t column = static_cast<std::size_t>(m.position(3));
    if (value_column == std::string::npos) value_column = column;
    EXPECT_EQ(column, value_column) << "values are aligned: " << l;
  }
}

TEST_F(CliTest, AMissingDaemonIsOneLineNamingTheSocket) {
  const std::string missing = dir_.file("nobody-here.sock");
  ProcessResult r = run({kCli, "--socket", missing, "ls"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sysvmq: cannot connect to sysvmqd at " + missing +
                       ": No such file or directory\n");

  // The same through $SYSVMQ_SOCKET, for every command that needs the daemon.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"mk"}, {"rm", "-q", "1"}, {"send", "1", "x"}, {"recv", "1"},
        {"stats"}, {"ls", "-u"}}) {
    std::vector<std::string> argv{kCli};
    argv.insert(argv.end(), args.begin(), args.end());
    r = run(argv, {{{"SYSVMQ_SOCKET", missing}}, ""});
    EXPECT_EQ(r.status, 1) << args[0];
    EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  }

  // A socket file nobody listens on.
  const std::string stale = dir_.file("stale.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, stale.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ::close(fd);
  r = run({kCli, "--socket", stale, "stats"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysvmq: cannot connect to sysvmqd at " + stale + ": Connection refused\n");
}

TEST_F(CliTest, ABadIdOrKeyFailsWithTheErrno) {
  ProcessResult r = cli({"send", "--id", "4242", "x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysvmq: msgsnd to queue 4242: Invalid argument\n");
  r = cli({"recv", "-q", "4242", "--nowait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysvmq: msgrcv from queue 4242: Invalid argument\n");
  r = cli({"send", "0x777", "x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysvmq: queue with key 0x00000777: No such file or directory\n");
  r = cli({"ls", "-i", "4242"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysvmq: id 4242 not found\n");
  r = cli({"rm", "-q", "4242"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysvmq: invalid id (4242)\n");
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string first_line;
  };
  const std::vector<Case> cases = {
      {{"frobnicate"}, "sysvmq: unknown command 'frobnicate'"},
      {{"--bogus"}, "sysvmq: unrecognized option '--bogus'"},
      {{"ls", "-x"}, "sysvmq: invalid option -- 'x'"},
      {{"ls", "--nope"}, "sysvmq: unrecognized option '--nope'"},
      {{"ls", "-i"}, "sysvmq: option requires an argument -- 'i'"},
      {{"ls", "-i", "abc"}, "sysvmq: failed to parse id argument: 'abc'"},
      {{"ls", "--json=1"}, "sysvmq: option '--json=1' doesn't allow an argument"},
      {{"mk", "-p", "999"}, "sysvmq: failed to parse mode: '999'"},
      {{"mk", "-k", "zz"}, "sysvmq: failed to parse key: 'zz'"},
      {{"rm"}, "sysvmq: bad usage"},
      {{"rm", "-q", "x1"}, "sysvmq: failed to parse argument: 'x1'"},
      {{"send", "0x10"}, "sysvmq: no message given (use - for standard input)"},
      {{"send", "0x10", "a", "b"}, "sysvmq: unexpected argument 'b' (quote a message with spaces)"},
      {{"send", "-t", "0", "0x10", "a"}, "sysvmq: the message type must be a number > 0: '0'"},
      {{"send", "0", "a"}, "sysvmq: key 0 is IPC_PRIVATE and names no queue; use --id ID"},
      {{"recv"}, "sysvmq: no queue given"},
      {{"recv", "-q", "1", "-Q", "2"}, "sysvmq: give the queue once (a key, --id ID, -q ID or -Q KEY)"},
      {{"recv", "1", "--count", "0"}, "sysvmq: the count must be a number > 0: '0'"},
      {{"exec"}, "sysvmq: no command given"},
  };
  for (const Case& c : cases) {
    const ProcessResult r = cli(c.args);
    EXPECT_EQ(r.status, 2) << c.args[0] << "\n" << describe(r);
    const auto lines = split_lines(r.err);
    ASSERT_EQ(lines.size(), 2u) << r.err;
    EXPECT_EQ(lines[0], c.first_line);
    EXPECT_TRUE(lines[1].starts_with("Try 'sysvmq")) << lines[1];
    EXPECT_EQ(r.out, "");
  }
  const ProcessResult bare = run({kCli});
  EXPECT_EQ(bare.status, 2);
  EXPECT_TRUE(bare.err.starts_with("\nUsage:\n sysvmq ")) << bare.err;
}

TEST_F(CliTest, EveryCommandHasHelp) {
  for (const char* command : {"ls", "mk", "rm", "send", "recv", "exec", "stats"}) {
    const ProcessResult r = cli({command, "--help"});
    EXPECT_EQ(r.status, 0) << command;
    EXPECT_TRUE(r.out.starts_with(std::string("\nUsage:\n sysvmq ") + command + " "))
        << r.out;
    EXPECT_NE(r.out.find("--socket"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
  const ProcessResult top = run({kCli, "--help"});
  EXPECT_EQ(top.status, 0);
  for (const char* command : {" ls ", " mk ", " rm ", " send ", " recv ", " exec ", " stats "}) {
    EXPECT_NE(top.out.find(command), std::string::npos) << command;
  }
}

}  // namespace
}  // namespace sysvmq::test
