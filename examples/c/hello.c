/* A C program that talks to sysvmqd through libsysvmq's C API: the same calls as
 * libc's msgget/msgsnd/msgrcv/msgctl, with the same errno answers.
 * Build: cc hello.c $(pkg-config --cflags --libs sysvmq)   Run: SYSVMQ_SOCKET=... ./a.out */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sysvmq/sysvmq.h>

struct note {
  long mtype;
  char text[64];
};

int main(void) {
  int id = sysvmq_msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) {
    fprintf(stderr, "msgget: %s (socket %s)\n", strerror(errno), sysvmq_socket_path());
    return 1;
  }
  struct note out = {1, "hello from C"};
  if (sysvmq_msgsnd(id, &out, strlen(out.text) + 1, 0) != 0) {
    perror("msgsnd");
    return 1;
  }
  struct msqid_ds ds;
  sysvmq_msgctl(id, IPC_STAT, &ds);
  printf("queued: %lu message(s), %lu byte(s)\n", (unsigned long)ds.msg_qnum,
         (unsigned long)ds.__msg_cbytes);

  struct note in;
  ssize_t n = sysvmq_msgrcv(id, &in, sizeof in.text, 0, 0);
  if (n < 0) {
    perror("msgrcv");
    return 1;
  }
  printf("received type %ld: %s\n", in.mtype, in.text);

  /* Errors are the kernel's: nothing of type 2 is queued, so IPC_NOWAIT gives ENOMSG. */
  if (sysvmq_msgrcv(id, &in, sizeof in.text, 2, IPC_NOWAIT) < 0 && errno == ENOMSG)
    printf("nothing of type 2: ENOMSG\n");
  return sysvmq_msgctl(id, IPC_RMID, NULL) == 0 ? 0 : 1;
}
