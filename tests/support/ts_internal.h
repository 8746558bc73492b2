/* ts_internal.h - shared between the vt_testsupport sources. */
#ifndef VT_TS_INTERNAL_H
#define VT_TS_INTERNAL_H

#include <stdbool.h>

/* SIGKILL and reap every vt_proc still running (called at exit, before the
 * temp dir is removed). */
void ts_kill_all(void);
/* Connect to 127.0.0.1:port within timeout_ms; fd or -1. */
int ts_connect(int port, int timeout_ms);
/* Connect to "host:port" (numeric IPv4 or "localhost"); fd or -1. */
int ts_connect_hostport(const char *hostport, int timeout_ms);

#endif
