// format.cpp: ipcs's printf formats, copied from util-linux 2.38 sys-utils/ipcs.c
// (do_msg, print_msg) and ipcutils.c (ipc_print_perms, ipc_print_size), with the same
// widths, truncations and "Not set" for a zero time.
#include "client/cli/format.hpp"

#include <grp.h>
#include <pwd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace sysvmq::cli {
namespace {

__attribute__((format(printf, 2, 3))) void appendf(std::string& out, const char* fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (static_cast<std::size_t>(n) < sizeof small) {
    out.append(small, static_cast<std::size_t>(n));
    return;
  }
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(big.data(), big.size(), fmt, ap);
  va_end(ap);
  big.resize(static_cast<std::size_t>(n));
  out += big;
}

// ctime(3) of `t` ("Sat Nov 28 05:19:08 2026\n"), or "" when it cannot be shown.
std::string ctime_text(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  char buf[64];
  return ::ctime_r(&tt, buf) != nullptr ? std::string(buf) : std::string();
}

// ipcs: `msgdsp->q_stime ? ctime(&q_stime) + 4 : "Not set"`, printed with %-20.16s.
std::string short_time(std::int64_t t) {
  if (t == 0) return "Not set";
  const std::string s = ctime_text(t);
  return s.size() > 4 ? s.substr(4) : std::to_string(t);
}

// ipcs: `q_stime ? ctime(&q_stime) : "Not set"`, printed with %-26.24s.
std::string long_time(std::int64_t t) {
  if (t == 0) return "Not set";
  const std::string s = ctime_text(t);
  return s.empty() ? std::to_string(t) : s;
}

// "%-8d %-10.10s" (TIME, PID) or "%-10d %-10.10s" (plain list): id and owner, where the
// owner is the user name, cut at 10 characters, or the numeric uid when it has none.
void id_and_owner(std::string& out, const char* id_format, const QueueRow& r) {
  appendf(out, id_format, r.msqid);
  if (const passwd* pw = ::getpwuid(r.uid)) {
    appendf(out, " %-10.10s", pw->pw_name);
  } else {
    appendf(out, " %-10u", r.uid);
  }
}

void user_column(std::string& out, std::uint32_t uid, const char* end) {
  if (const passwd* pw = ::getpwuid(uid)) {
    appendf(out, " %-10s%s", pw->pw_name, end);
  } else {
    appendf(out, " %-10u%s", uid, end);
  }
}

void group_column(std::string& out, std::uint32_t gid, const char* end) {
  if (const group* gr = ::getgrgid(gid)) {
    appendf(out, " %-10s%s", gr->gr_name, end);
  } else {
    appendf(out, " %-10u%s", gid, end);
  }
}

}  // namespace

std::string format_list(const std::vector<QueueRow>& rows) {
  std::string out = "\n------ Message Queues --------\n";
  appendf(out, "%-10s %-10s %-10s %-10s %-12s %-12s\n", "key", "msqid", "owner", "perms",
          "used-bytes", "messages");
  for (const QueueRow& r : rows) {
    appendf(out, "0x%08x ", static_cast<unsigned>(r.key));
    id_and_owner(out, "%-10d", r);
    appendf(out, " %-10o ", r.mode & 0777);
    appendf(out, "%-12ju", static_cast<std::uintmax_t>(r.cbytes));
    appendf(out, " %-12ju\n", static_cast<std::uintmax_t>(r.qnum));
  }
  out += "\n";
  return out;
}

std::string format_creators(const std::vector<QueueRow>& rows) {
  std::string out = "\n------ Message Queues Creators/Owners --------\n";
  appendf(out, "%-10s %-10s %-10s %-10s %-10s %-10s\n", "msqid", "perms", "cuid", "cgid", "uid",
          "gid");
  for (const QueueRow& r : rows) {
    // ipc_print_perms: names are not truncated in this view.
    appendf(out, "%-10d %-10o", r.msqid, r.mode & 0777);
    user_column(out, r.cuid, "");
    group_column(out, r.cgid, "");
    user_column(out, r.uid, "");
    group_column(out, r.gid, "\n");
  }
  out += "\n";
  return out;
}

std::string format_pids(const std::vector<QueueRow>& rows) {
  std::string out = "\n------ Message Queues PIDs --------\n";
  appendf(out, "%-10s %-10s %-10s %-10s\n", "msqid", "owner", "lspid", "lrpid");
  for (const QueueRow& r : rows) {
    id_and_owner(out, "%-8d", r);
    appendf(out, "  %5d     %5d\n", r.lspid, r.lrpid);
  }
  out += "\n";
  return out;
}

std::string format_times(const std::vector<QueueRow>& rows) {
  std::string out = "\n------ Message Queues Send/Recv/Change Times --------\n";
  appendf(out, "%-8s %-10s %-20s %-20s %-20s\n", "msqid", "owner", "send", "recv", "change");
  for (const QueueRow& r : rows) {
    id_and_owner(out, "%-8d", r);
    appendf(out, " %-20.16s", short_time(r.stime).c_str());
    appendf(out, " %-20.16s", short_time(r.rtime).c_str());
    appendf(out, " %-20.16s\n", short_time(r.ctime).c_str());
  }
  out += "\n";
  return out;
}

std::string format_summary(const Summary& s) {
  std::string out = "\n------ Messages Status --------\n";
  appendf(out, "allocated queues = %d\n", s.queues);
  appendf(out, "used headers = %d\n", s.messages);
  // ipc_print_size(IPC_UNIT_DEFAULT, "used space", msgtql, " bytes\n", 0): "%0ju".
  appendf(out, "used space = %ju bytes\n",
          static_cast<std::uintmax_t>(static_cast<unsigned>(s.bytes)));
  out += "\n";
  return out;
}

std::string format_limits(const LimitsRow& l) {
  std::string out = "\n------ Messages Limits --------\n";
  appendf(out, "max queues system wide = %lld\n", l.msgmni);
  appendf(out, "max size of message (bytes) = %lld\n", l.msgmax);
  appendf(out, "default max size of queue (bytes) = %lld\n", l.msgmnb);
  out += "\n";
  return out;
}

std::string format_details(const QueueRow& r) {
  std::string out;
  appendf(out, "\nMessage Queue msqid=%d\n", r.msqid);
  appendf(out, "uid=%u\tgid=%u\tcuid=%u\tcgid=%u\tmode=%#o\n", r.uid, r.gid, r.cuid, r.cgid,
          r.mode);
  appendf(out, "cbytes=%ju\tqbytes=%ju\t", static_cast<std::uintmax_t>(r.cbytes),
          static_cast<std::uintmax_t>(r.qbytes));
  appendf(out, "qnum=%jd\tlspid=%d\tlrpid=%d\n", static_cast<std::intmax_t>(r.qnum), r.lspid,
          r.lrpid);
  appendf(out, "send_time=%-26.24s\n", long_time(r.stime).c_str());
  appendf(out, "rcv_time=%-26.24s\n", long_time(r.rtime).c_str());
  appendf(out, "change_time=%-26.24s\n", long_time(r.ctime).c_str());
  out += "\n";
  return out;
}

}  // namespace sysvmq::cli
