/* mq_probe.c: a plain C program that makes libc's msgget/msgsnd/msgrcv/msgctl calls its
   arguments ask for, and prints one line per step. It knows nothing of sysvmq and links
   only libc: the preload tests run it with LD_PRELOAD=libsysvmq_preload.so, and the
   same script without the shim (in a private IPC namespace) is the kernel's answer.
   Not here: any judgement; the tests (tests/preload/) compare the lines.

   mq_probe STEP [STEP...], where a STEP is one of
     get KEY FLAGS              msgget; "get ID" or "get -1 ENAME". The id is kept as "@"
     send ID TYPE TEXT [FLAGS]  msgsnd of TEXT (without its NUL)
     recv ID TYPE [FLAGS [SIZE]]  msgrcv into a 8192-byte buffer; "recv LEN TYPE TEXT"
     stat ID                    msgctl(IPC_STAT): "stat 0 qnum=.. mode=.. uid=.. cuid=.."
     rmid ID                    msgctl(IPC_RMID)
     send-null ID, recv-null ID, stat-null ID              the same with a NULL buffer
     send-unmapped ID, recv-unmapped ID, stat-unmapped ID  with a page just unmapped
                                (recv-* use IPC_NOWAIT, type 0 and size 64)
     seteuid UID, setegid GID   libc's (which fakeroot fakes)
     raw-seteuid UID            setresuid(-1, UID, -1) as a raw syscall (fakeroot cannot)
     closefrom FD               close every descriptor >= FD (as fakeroot's faked does)
     occupy                     open an empty unlinked file, then a pipe (they take the
                                lowest free numbers); "occupy file=F pipe=R,W"
     occupy-socketpair          the same with a socketpair: "occupy-socketpair A,B"
     check-occupied             all still open, nothing written into any:
                                "occupied ok" or "occupied BAD <why>"
     fds                        the open descriptors: "fds 0=pipe 1=pipe 3=socket ..."
     fork                       the child runs the remaining steps; the parent waits for
                                it and exits with its status
     thread-recv ID TYPE        a thread blocks in msgrcv; it prints "thread-recv ..."
                                when it returns
     cancel                     pthread_cancel that thread and join it: "cancel cancelled"
     threads N COUNT ID         N threads each send COUNT messages of type i+1 and
                                receive COUNT of that type: "threads ok" or "threads BAD"
     wait-line                  read one line from stdin (the test says "go")
   IDs are numbers or "@" (the last id msgget returned); numbers take C prefixes (0x, 0).
   Before each call errno is set to a sentinel; a call that succeeds but changes errno
   adds " errno-changed=N" to its line. Exit status 0, or 2 for a bad script. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kSentinel = 12345, kTextMax = 8192 };

struct msg {
  long mtype;
  char mtext[kTextMax];
};

static int g_last_id = -1;
static int g_file_fd = -1, g_pipe_fd[2] = {-1, -1}, g_pair_fd[2] = {-1, -1};
static pthread_t g_thread;
static int g_thread_started;

static const char* errno_name(int e) {
  static char other[32];
  switch (e) {
    case EPERM:
      return "EPERM";
    case ENOENT:
      return "ENOENT";
    case EINTR:
      return "EINTR";
    case E2BIG:
      return "E2BIG";
    case EBADF:
      return "EBADF";
    case EAGAIN:
      return "EAGAIN";
    case ENOMEM:
      return "ENOMEM";
    case EACCES:
      return "EACCES";
    case EFAULT:
      return "EFAULT";
    case EEXIST:
      return "EEXIST";
    case EINVAL:
      return "EINVAL";
    case ENOSPC:
      return "ENOSPC";
    case ENOSYS:
      return "ENOSYS";
    case ENOMSG:
      return "ENOMSG";
    case EIDRM:
      return "EIDRM";
    case EIO:
      return "EIO";
    case EPROTO:
      return "EPROTO";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case ECONNRESET:
      return "ECONNRESET";
    default:
      snprintf(other, sizeof other, "errno%d", e);
      return other;
  }
}

static void usage(const char* why) {
  fprintf(stderr, "mq_probe: %s\n", why);
  exit(2);
}

static long number(const char* s) {
  char* end = NULL;
  errno = 0;
  const long long v = strtoll(s, &end, 0);
  if (errno != 0 || end == s || *end != '\0') usage("bad number");
  return (long)v;
}

static int id_arg(const char* s) { return strcmp(s, "@") == 0 ? g_last_id : (int)number(s); }

/* "name RESULT" for a call that returned `r` with errno `e` (sampled right after it). */
static void report(const char* name, long r, int e) {
  if (r < 0) {
    printf("%s %ld %s\n", name, r, errno_name(e));
  } else if (e != kSentinel) {
    printf("%s %ld errno-changed=%d\n", name, r, e);
  } else {
    printf("%s %ld\n", name, r);
  }
}

static void* unmapped_page(void) {
  const long size = sysconf(_SC_PAGESIZE);
  void* p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) usage("mmap failed");
  munmap(p, (size_t)size);
  return p;
}

static void do_recv(const char* name, int id, void* buf, size_t size, long type, int flags) {
  errno = kSentinel;
  const ssize_t n = msgrcv(id, buf, size, type, flags);
  const int e = errno;
  if (n >= 0 && buf != NULL && e == kSentinel) {
    const struct msg* m = buf;
    printf("%s %zd %ld %.*s\n", name, n, m->mtype, (int)n, m->mtext);
  } else {
    report(name, n, e);
  }
}

static void do_stat(const char* name, int id, struct msqid_ds* buf) {
  errno = kSentinel;
  const int r = msgctl(id, IPC_STAT, buf);
  const int e = errno;
  if (r == 0 && buf != NULL && e == kSentinel) {
    printf("%s 0 qnum=%lu mode=%04o uid=%u gid=%u cuid=%u\n", name, (unsigned long)buf->msg_qnum,
           (unsigned)(buf->msg_perm.mode & 0777), (unsigned)buf->msg_perm.uid,
           (unsigned)buf->msg_perm.gid, (unsigned)buf->msg_perm.cuid);
  } else {
    report(name, r, e);
  }
}

static void* thread_recv(void* arg) {
  long* a = arg;
  static struct msg m;
  do_recv("thread-recv", (int)a[0], &m, sizeof m.mtext, a[1], 0);
  return NULL;
}

struct flood {
  int id, count;
  long type;
  int ok;
};

static void* thread_flood(void* arg) {
  struct flood* f = arg;
  struct msg m;
  f->ok = 1;
  for (int i = 0; i < f->count; ++i) {
    m.mtype = f->type;
    const int len = snprintf(m.mtext, sizeof m.mtext, "%ld:%d", f->type, i);
    if (msgsnd(f->id, &m, (size_t)len, 0) != 0) f->ok = 0;
  }
  for (int i = 0; i < f->count; ++i) {
    char want[64];
    const int len = snprintf(want, sizeof want, "%ld:%d", f->type, i);
    const ssize_t n = msgrcv(f->id, &m, sizeof m.mtext, f->type, 0);
    if (n != len || m.mtype != f->type || memcmp(m.mtext, want, (size_t)len) != 0) f->ok = 0;
  }
  return NULL;
}

static const char* fd_kind(int fd) {
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return NULL;
  target[n] = '\0';
  if (strncmp(target, "socket:", 7) == 0) return "socket";
  if (strncmp(target, "pipe:", 5) == 0) return "pipe";
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) return "file";
  return "other";
}

static void list_fds(void) {
  printf("fds");
  for (int fd = 0; fd < 64; ++fd) {
    if (fcntl(fd, F_GETFD) == -1) continue;
    const char* kind = fd_kind(fd);
    printf(" %d=%s", fd, kind != NULL ? kind : "?");
  }
  printf("\n");
}

static void check_occupied(void) {
  struct stat st;
  int unread = -1;
  if (g_pair_fd[0] >= 0) {
    int unread_b = -1;
    if (fcntl(g_pair_fd[0], F_GETFD) == -1 || fcntl(g_pair_fd[1], F_GETFD) == -1) {
      printf("occupied BAD closed\n");
    } else if (ioctl(g_pair_fd[0], FIONREAD, &unread) != 0 || unread != 0 ||
               ioctl(g_pair_fd[1], FIONREAD, &unread_b) != 0 || unread_b != 0) {
      printf("occupied BAD socketpair has %d,%d bytes\n", unread, unread_b);
    } else {
      printf("occupied ok\n");
    }
    return;
  }
  if (g_file_fd < 0) {
    printf("occupied BAD nothing occupied\n");
  } else if (fcntl(g_file_fd, F_GETFD) == -1 || fcntl(g_pipe_fd[0], F_GETFD) == -1 ||
             fcntl(g_pipe_fd[1], F_GETFD) == -1) {
    printf("occupied BAD closed\n");
  } else if (fstat(g_file_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
    printf("occupied BAD file has %lld bytes\n", (long long)st.st_size);
  } else if (ioctl(g_pipe_fd[0], FIONREAD, &unread) != 0 || unread != 0) {
    printf("occupied BAD pipe has %d bytes\n", unread);
  } else {
    printf("occupied ok\n");
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int i = 1;
#define NEED(n)                                    \
  do {                                             \
    if (i + (n) > argc) usage("missing argument"); \
  } while (0)
  while (i < argc) {
    const char* op = argv[i++];
    if (strcmp(op, "get") == 0) {
      NEED(2);
      const key_t key = (key_t)number(argv[i]);
      const int flags = (int)number(argv[i + 1]);
      i += 2;
      errno = kSentinel;
      const int r = msgget(key, flags);
      report("get", r, errno);
      if (r >= 0) g_last_id = r;
    } else if (strcmp(op, "send") == 0) {
      NEED(3);
      static struct msg m;
      const int id = id_arg(argv[i]);
      m.mtype = number(argv[i + 1]);
      const size_t len = strlen(argv[i + 2]);
      if (len > sizeof m.mtext) usage("text too long");
      memcpy(m.mtext, argv[i + 2], len);
      i += 3;
      int flags = 0;
      if (i < argc && (argv[i][0] == '0' || argv[i][0] == '-')) flags = (int)number(argv[i++]);
      errno = kSentinel;
      const int r = msgsnd(id, &m, len, flags);
      report("send", r, errno);
    } else if (strcmp(op, "recv") == 0) {
      NEED(2);
      static struct msg m;
      const int id = id_arg(argv[i]);
      const long type = number(argv[i + 1]);
      i += 2;
      int flags = 0;
      size_t size = sizeof m.mtext;
      if (i < argc && argv[i][0] == '0') flags = (int)number(argv[i++]);
      if (i < argc && argv[i][0] >= '1' && argv[i][0] <= '9') size = (size_t)number(argv[i++]);
      if (size > sizeof m.mtext) usage("size too large");
      do_recv("recv", id, &m, size, type, flags);
    } else if (strcmp(op, "stat") == 0) {
      NEED(1);
      struct msqid_ds ds;
      do_stat("stat", id_arg(argv[i++]), &ds);
    } else if (strcmp(op, "rmid") == 0) {
      NEED(1);
      const int id = id_arg(argv[i++]);
      errno = kSentinel;
      const int r = msgctl(id, IPC_RMID, NULL);
      report("rmid", r, errno);
    } else if (strcmp(op, "send-null") == 0 || strcmp(op, "send-unmapped") == 0) {
      NEED(1);
      const int id = id_arg(argv[i++]);
      const void* p = op[5] == 'n' ? NULL : unmapped_page();
      errno = kSentinel;
      const int r = msgsnd(id, p, 16, IPC_NOWAIT);
      report(op, r, errno);
    } else if (strcmp(op, "recv-null") == 0 || strcmp(op, "recv-unmapped") == 0) {
      NEED(1);
      const int id = id_arg(argv[i++]);
      do_recv(op, id, op[5] == 'n' ? NULL : unmapped_page(), 64, 0, IPC_NOWAIT);
    } else if (strcmp(op, "stat-null") == 0 || strcmp(op, "stat-unmapped") == 0) {
      NEED(1);
      const int id = id_arg(argv[i++]);
      do_stat(op, id, op[5] == 'n' ? NULL : (struct msqid_ds*)unmapped_page());
    } else if (strcmp(op, "seteuid") == 0 || strcmp(op, "setegid") == 0) {
      NEED(1);
      const long v = number(argv[i++]);
      const int r = op[3] == 'e' && op[4] == 'u' ? seteuid((uid_t)v) : setegid((gid_t)v);
      report(op, r, r < 0 ? errno : kSentinel);
    } else if (strcmp(op, "raw-seteuid") == 0) {
      NEED(1);
      const long v = number(argv[i++]);
      const long r = syscall(SYS_setresuid, -1, (uid_t)v, -1);
      report(op, r, r < 0 ? errno : kSentinel);
    } else if (strcmp(op, "closefrom") == 0) {
      NEED(1);
      const int from = (int)number(argv[i++]);
      long max = sysconf(_SC_OPEN_MAX);
      if (max < 0 || max > 65536) max = 65536;
      for (int fd = from; fd < max; ++fd) close(fd);
      printf("closefrom %d\n", from);
    } else if (strcmp(op, "occupy") == 0) {
      char path[] = "/tmp/mq_probe-XXXXXX";
      g_file_fd = mkstemp(path);
      if (g_file_fd < 0 || unlink(path) != 0 || pipe(g_pipe_fd) != 0) usage("occupy failed");
      printf("occupy file=%d pipe=%d,%d\n", g_file_fd, g_pipe_fd[0], g_pipe_fd[1]);
    } else if (strcmp(op, "occupy-socketpair") == 0) {
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, g_pair_fd) != 0) usage("socketpair failed");
      printf("occupy-socketpair %d,%d\n", g_pair_fd[0], g_pair_fd[1]);
    } else if (strcmp(op, "check-occupied") == 0) {
      check_occupied();
    } else if (strcmp(op, "fds") == 0) {
      list_fds();
    } else if (strcmp(op, "fork") == 0) {
      fflush(stdout);
      const pid_t pid = fork();
      if (pid < 0) usage("fork failed");
      if (pid > 0) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    } else if (strcmp(op, "thread-recv") == 0) {
      NEED(2);
      static long args[2];
      args[0] = id_arg(argv[i]);
      args[1] = number(argv[i + 1]);
      i += 2;
      if (pthread_create(&g_thread, NULL, thread_recv, args) != 0) usage("pthread_create failed");
      g_thread_started = 1;
      printf("thread-recv started\n");
    } else if (strcmp(op, "cancel") == 0) {
      if (!g_thread_started) usage("no thread to cancel");
      void* result = NULL;
      pthread_cancel(g_thread);
      pthread_join(g_thread, &result);
      g_thread_started = 0;
      printf("cancel %s\n", result == PTHREAD_CANCELED ? "cancelled" : "returned");
    } else if (strcmp(op, "threads") == 0) {
      NEED(3);
      const int n = (int)number(argv[i]);
      const int count = (int)number(argv[i + 1]);
      const int id = id_arg(argv[i + 2]);
      i += 3;
      if (n < 1 || n > 64) usage("threads: 1..64");
      pthread_t t[64];
      struct flood f[64];
      for (int k = 0; k < n; ++k) {
        f[k] = (struct flood){id, count, k + 1, 0};
        if (pthread_create(&t[k], NULL, thread_flood, &f[k]) != 0) usage("pthread_create failed");
      }
      int ok = 1;
      for (int k = 0; k < n; ++k) {
        pthread_join(t[k], NULL);
        ok = ok && f[k].ok;
      }
      printf("threads %s\n", ok ? "ok" : "BAD");
    } else if (strcmp(op, "wait-line") == 0) {
      char line[256];
      if (fgets(line, sizeof line, stdin) == NULL) usage("stdin closed");
    } else {
      usage(op);
    }
  }
  return 0;
}
