// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
#include <unistd.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <time.h>
#include <sched.h>
int main(){ struct timespec a,b; int n=200000;
clock_gettime(CLOCK_MONOTONIC,&a); for(int i=0;i<n;i++) syscall(SYS_getpid); clock_gettime(CLOCK_MONOTONIC,&b);
printf("getpid %.0f ns\n", ((b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec))/n);
clock_gettime(CLOCK_MONOTONIC,&a); for(int i=0;i<n;i++) sched_yield(); clock_gettime(CLOCK_MONOTONIC,&b);
printf("yield %.0f ns\n", ((b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec))/n);
clock_gettime(CLOCK_MONOTONIC,&a); for(int i=0;i<n;i++) clock_gettime(CLOCK_MONOTONIC,&b); clock_gettime(CLOCK_MONOTONIC,&b);
printf("clock %.0f ns\n", ((b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec))/n);
}
