/* ms_testutil.h - shared set-up for memsync integration tests: a real
 * redis-server, an auth secret, agents created through the registry, a
 * spawned verity-memsync and a client connected to it. */
#ifndef MS_TESTUTIL_H
#define MS_TESTUTIL_H

#include <stdint.h>

#include "vt_memsync.h"
#include "vt_redis.h"
#include "vt_registry.h"
#include "vt_testsupport.h"

typedef struct ms_env {
    vt_ts_redis redis;
    char secret_path[512];
    uint8_t secret[32];
    char listen[600];
    char http[64];
    vt_proc *daemon;
    vt_memsync *client;
    vt_redis *r;        /* the test's own Redis connection (for attacks) */
} ms_env;

typedef struct ms_agent {
    char id[VT_AGENT_ID_BUFSZ];
    char key[VT_API_KEY_BUFSZ];
    vt_mem_cred cred;
} ms_agent;

/* Start redis + memsync (extra daemon flags in extra, NULL-terminated, may
 * be NULL). Skips the test when redis-server is missing. */
void ms_env_start(ms_env *e, const char *const *extra);
/* Start (again) only the daemon. */
void ms_env_start_daemon(ms_env *e, const char *const *extra);
void ms_env_stop(ms_env *e);
void ms_agent_new(ms_env *e, const char *name, ms_agent *a);
/* A text item with an optional vector (not copied). */
vt_mem_item ms_item(const char *text, float *vec, uint32_t dim);

#endif
