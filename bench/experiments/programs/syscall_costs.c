// bench/experiments: a throwaway measurement program, kept so its numbers can be reproduced
// (build and run lines in ../README.md). Not part of the build.
#define _GNU_SOURCE
#include <sys/uio.h>
#include <unistd.h>
#include <stdio.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(){ char src[64]="hello", dst[64]; int n=200000; pid_t me=getpid();
 struct iovec l={dst,16}, r={src,16};
 double a=now(); for(int i=0;i<n;i++) process_vm_readv(me,&l,1,&r,1,0); printf("process_vm_readv %.0f ns\n",(now()-a)/n);
 int p[2]; pipe2(p, O_NONBLOCK);
 a=now(); for(int i=0;i<n;i++){ write(p[1],src,16); read(p[0],dst,16);} printf("pipe write+read %.0f ns\n",(now()-a)/n);
 a=now(); for(int i=0;i<n;i++){ madvise((void*)((unsigned long)src & ~4095UL),4096,MADV_NORMAL);} printf("madvise %.0f ns\n",(now()-a)/n);
}
