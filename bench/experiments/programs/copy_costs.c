// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
// What it costs to copy a caller's bytes with the kernel checking the address (EFAULT
// emulation, SEMANTICS.md 8.5): process_vm_readv (what libsysvmq does) against pwrite and
// pread on a memfd like the connection's ring region, at 16 B, 256 B and 4 KiB.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void) {
  const int fd = memfd_create("ring", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 1 << 20) != 0) return 1;
  char* map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  memset(map, 0, 1 << 20);
  static char buf[4096];
  memset(buf, 1, sizeof buf);
  const int n = 200000;
  const pid_t me = getpid();
  for (int size = 16; size <= 4096; size *= 16) {
    double t0 = now();
    for (int i = 0; i < n; i++)
      if (pwrite(fd, buf, size, (i & 255) * 4096) != size) abort();
    double t1 = now();
    for (int i = 0; i < n; i++)
      if (pread(fd, buf, size, (i & 255) * 4096) != size) abort();
    double t2 = now();
    for (int i = 0; i < n; i++) {
      struct iovec local = {map + (i & 255) * 4096, size}, remote = {buf, size};
      if (process_vm_readv(me, &local, 1, &remote, 1, 0) != size) abort();
    }
    double t3 = now();
    printf("%5d B: process_vm_readv %4.0f ns   memfd pwrite %4.0f ns   memfd pread %4.0f ns\n",
           size, (t3 - t2) / n, (t1 - t0) / n, (t2 - t1) / n);
  }
  return 0;
}
