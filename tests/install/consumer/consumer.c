/* consumer.c: a program built against an INSTALLED sysvmq (pkg-config or find_package),
 * knowing only <sysvmq/sysvmq.h>. One round trip through the daemon at $SYSVMQ_SOCKET;
 * exits 0 when the message comes back intact and the queue is removed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sysvmq/sysvmq.h>

struct note {
  long mtype;
  char text[32];
};

int main(void) {
  int id = sysvmq_msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) {
    fprintf(stderr, "msgget: %s (socket %s)\n", strerror(errno), sysvmq_socket_path());
    return 1;
  }
  struct note out = {7, "installed"};
  struct note in;
  memset(&in, 0, sizeof in);
  if (sysvmq_msgsnd(id, &out, sizeof out.text, 0) != 0) {
    perror("msgsnd");
    return 1;
  }
  if (sysvmq_msgrcv(id, &in, sizeof in.text, 7, IPC_NOWAIT) != (ssize_t)sizeof in.text ||
      strcmp(in.text, "installed") != 0) {
    fprintf(stderr, "msgrcv: %s\n", strerror(errno));
    return 1;
  }
  if (sysvmq_msgctl(id, IPC_RMID, NULL) != 0) {
    perror("msgctl");
    return 1;
  }
  puts("round trip ok");
  return 0;
}
