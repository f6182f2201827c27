// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
// 100 threads each make one call (so each holds a connection with its rings), then all
// sleep; the daemon's CPU time over 10 s is read from /proc/<daemon pid>/stat.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/msg.h>
#include <unistd.h>
#include "sysvmq/sysvmq.h"

static double cpu_seconds(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  unsigned long ut = 0, st = 0;
  // fields 14 and 15: utime, stime (the comm field has no spaces for sysvmqd)
  if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) ut = st = 0;
  fclose(f);
  return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static void* client(void* arg) {
  struct msginfo info;
  if (sysvmq_msgctl(0, IPC_INFO, (struct msqid_ds*)&info) < 0) perror("msgctl");
  sleep(*(int*)arg);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) { fprintf(stderr, "usage: idle_clients DAEMON_PID [SECONDS]\n"); return 2; }
  int pid = atoi(argv[1]);
  int seconds = argc > 2 ? atoi(argv[2]) : 10;
  int hold = seconds + 2;
  pthread_t t[100];
  for (int i = 0; i < 100; i++) pthread_create(&t[i], NULL, client, &hold);
  sleep(1);  // every connection made; the daemon's active window long over
  double before = cpu_seconds(pid);
  sleep(seconds);
  double after = cpu_seconds(pid);
  printf("daemon CPU over %d s with 100 idle clients: %.3f s (%.2f %%)\n", seconds,
         after - before, 100.0 * (after - before) / seconds);
  for (int i = 0; i < 100; i++) pthread_join(t[i], NULL);
  return 0;
}
