// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
#include <sys/msg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sysvmq/sysvmq.h"
struct m { long t; char b[16]; };
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100000;
  int q = sysvmq_msgget(IPC_PRIVATE, 0600);
  if (q < 0) { perror("msgget"); return 1; }
  struct m x = {1, "hi"};
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    if (sysvmq_msgsnd(q, &x, 16, 0) != 0) { perror("snd"); return 1; }
    if (sysvmq_msgrcv(q, &x, 16, 0, 0) != 16) { perror("rcv"); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.2f us per send+recv\n", ((b.tv_sec-a.tv_sec)*1e9 + (b.tv_nsec-a.tv_nsec))/1e3/n);
  sysvmq_msgctl(q, IPC_RMID, 0);
  return 0;
}
