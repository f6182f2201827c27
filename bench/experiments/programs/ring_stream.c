// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
#include <sys/msg.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sysvmq/sysvmq.h"
struct m { long t; char b[16]; };
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100000;
  int q = sysvmq_msgget(IPC_PRIVATE, 0600);
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  pid_t p = fork();
  if (p == 0) { struct m x = {1, "hi"}; for (int i = 0; i < n; i++) if (sysvmq_msgsnd(q, &x, 16, 0)) { perror("snd"); _exit(1);} _exit(0); }
  struct m x; for (int i = 0; i < n; i++) if (sysvmq_msgrcv(q, &x, 16, 0, 0) != 16) { perror("rcv"); return 1; }
  waitpid(p, 0, 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = ((b.tv_sec-a.tv_sec)*1e9 + (b.tv_nsec-a.tv_nsec))/1e3;
  printf("%.0f msg/s\n", n / us * 1e6);
  sysvmq_msgctl(q, IPC_RMID, 0);
  return 0;
}
