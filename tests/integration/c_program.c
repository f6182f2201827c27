/* c_program.c: a plain C program on libsysvmq — it includes only <sysvmq/sysvmq.h>,
   is compiled as C, and runs one send/receive/stat/remove cycle against the daemon
   named by $SYSVMQ_SOCKET. Exit status 0 when everything matched; otherwise the number
   of the step that failed. Run by c_program_test.cpp. */
#include <sysvmq/sysvmq.h>

struct c_msgbuf {
  long mtype;
  char mtext[64];
};

static int same(const char* a, const char* b, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    if (a[i] != b[i]) return 0;
  }
  return 1;
}

int main(void) {
  struct c_msgbuf out = {42, "from C"};
  struct c_msgbuf in;
  struct msqid_ds ds;
  ssize_t n;
  int id = sysvmq_msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) return 1;
  if (sysvmq_msgsnd(id, &out, 6, 0) != 0) return 2;
  if (sysvmq_msgctl(id, IPC_STAT, &ds) != 0) return 3;
  if (ds.msg_qnum != 1 || ds.__msg_cbytes != 6 || ds.msg_perm.mode != 0600) return 4;
  n = sysvmq_msgrcv(id, &in, sizeof in.mtext, 0, 0);
  if (n != 6 || in.mtype != 42 || !same(in.mtext, "from C", 6)) return 5;
  if (sysvmq_msgrcv(id, &in, sizeof in.mtext, 0, IPC_NOWAIT) != -1) return 6;
  if (sysvmq_msgctl(id, IPC_RMID, 0) != 0) return 7;
  if (sysvmq_msgctl(id, IPC_STAT, &ds) != -1) return 8;
  if (sysvmq_ftok("/", 1) == -1) return 9;
  if (sysvmq_socket_path()[0] == '\0') return 10;
  return 0;
}
