/* deepbind_plugin.c: a library that calls msgget, opened by deepbind_probe with
 * RTLD_DEEPBIND the way PHP opens its extensions. */
#include <sys/ipc.h>
#include <sys/msg.h>

int plugin_msgget(void) { return msgget(IPC_PRIVATE, IPC_CREAT | 0600); }
