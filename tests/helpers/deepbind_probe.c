/* deepbind_probe.c: dlopen(PLUGIN, RTLD_NOW | RTLD_DEEPBIND), then call its msgget.
 * Prints "msgget ID" or "msgget -1 ERRNO". Knows nothing of sysvmq. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL | RTLD_DEEPBIND);
  if (plugin == NULL) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int (*call)(void) = (int (*)(void))dlsym(plugin, "plugin_msgget");
  if (call == NULL) return 1;
  int id = call();
  if (id < 0) {
    printf("msgget -1 %d\n", errno);
  } else {
    printf("msgget %d\n", id);
  }
  return 0;
}
