/* proc_spawn.h - starting the daemons a bench measures: a free loopback
 * port for each, and fork + exec with output to a log file. Shared by
 * `verity-bench load/verify --spawn` (load_spawn.c) and `verity-bench memsync`. */
#ifndef VT_BENCH_PROC_SPAWN_H
#define VT_BENCH_PROC_SPAWN_H

#include <sys/types.h>

#include "vt_err.h"

/* A loopback TCP port nobody listens on right now (tiny race: fine for a
 * bench); -1 if none. */
int vt_bench_free_port(void);

/* fork + exec path (searched in PATH when it has no '/') with argv; stdin
 * from /dev/null, stdout and stderr appended to logpath. The child gets
 * SIGKILL when the spawning thread ends (PR_SET_PDEATHSIG: spawn from main),
 * so a crashed bench leaves nothing running, and ignores SIGINT: ^C goes to
 * the bench, which stops its children in order. *pid = the child's. */
int vt_bench_spawn(const char *path, char *const argv[], const char *logpath, pid_t *pid,
                   vt_errinfo *ei);

#endif
