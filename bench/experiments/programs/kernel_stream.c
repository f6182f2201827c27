// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
#include <sys/msg.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
struct m { long t; char b[16]; };
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100000;
  int q = msgget(IPC_PRIVATE, 0600);
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  pid_t p = fork();
  if (p == 0) { struct m x = {1, "hi"}; for (int i = 0; i < n; i++) msgsnd(q, &x, 16, 0); _exit(0); }
  struct m x; for (int i = 0; i < n; i++) msgrcv(q, &x, 16, 0, 0);
  waitpid(p, 0, 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.0f msg/s\n", n / (((b.tv_sec-a.tv_sec)*1e9 + (b.tv_nsec-a.tv_nsec))/1e9));
  msgctl(q, IPC_RMID, 0);
}
