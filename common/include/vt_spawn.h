/* vt_spawn.h - start a helper process the way the bench and the tests
 * start daemons: fork + exec, stdin from /dev/null, stdout and stderr
 * appended to a log file, and the child killed with its parent.
 *
 * The child gets SIGKILL when the thread that spawned it ends
 * (PR_SET_PDEATHSIG: spawn from the main thread), so a crashed bench or
 * test leaves nothing running. Between fork and exec it makes only
 * async-signal-safe calls (the parent may have threads); an exec failure
 * exits 127 with the reason in the log.
 */
#ifndef VT_SPAWN_H
#define VT_SPAWN_H

#include <sys/types.h>

#include "vt_err.h"

enum {
    VT_SPAWN_IGNORE_SIGINT = 1, /* ^C goes to the parent, which stops its children in order */
};

/* path: searched in PATH when it has no '/'. argv: NULL-terminated, argv[0]
 * included. envp: the child's whole environment, or NULL for the parent's.
 * *pid = the child's. */
int vt_spawn_logged(const char *path, char *const argv[], char *const envp[], const char *logpath,
                    int flags, pid_t *pid, vt_errinfo *ei);

#endif
