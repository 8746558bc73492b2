/* ms_store_int.h - helpers shared by ms_store.c and ms_verify.c. */
#ifndef MS_STORE_INT_H
#define MS_STORE_INT_H

#include <stddef.h>

#include "ms_buf.h"
#include "ms_store.h"

/* Where the scheduler keeps each job's owner (docs/architecture.md, "The
 * journal"): job "j-<16 hex>" is the string key verity:sched:job:<16 hex>,
 * a msgpack map whose "agent" field is the owner, from submit until the
 * final record expires (--result-ttl-s). */
#define MS_JOB_KEY_FMT "verity:sched:job:%s"
#define MS_JOB_OWNER_FIELD "agent"

/* "verity:mem:{<agent>}:<suffix>" */
void ms_key(char *buf, size_t n, const char *agent, const char *suffix);

/* A binary-safe argument vector built up piece by piece. */
typedef struct ms_args {
    ms_buf data;
    size_t *off, *len;
    size_t n, cap;
    const char **argv; /* filled by ms_args_finish */
} ms_args;

void ms_args_add(ms_args *a, const void *p, size_t n);
void ms_args_addf(ms_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ms_args_finish(ms_args *a);
void ms_args_free(ms_args *a);

int ms_reply_error(const redisReply *r, vt_errinfo *ei);
int ms_exec(ms_store *st, size_t n, redisReply **exec, vt_errinfo *ei);
int ms_head_from_reply(const redisReply *r, vt_mem_head *h, vt_errinfo *ei);

#endif
