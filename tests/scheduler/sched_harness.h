/* sched_harness.h - scheduler tests: a real redis-server, a real
 * verity-scheduler, real agents (vt_client) and small in-test worker and
 * verifier peers that speak the real protocol over real NNG sockets, so a
 * test can hold a lease, let it expire, send a late or duplicate result,
 * or fail a verification exactly when it wants to.
 */
#ifndef SCHED_HARNESS_H
#define SCHED_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "vt_client.h"
#include "vt_protocol.h"
#include "vt_receipt.h"
#include "vt_registry.h"
#include "vt_testsupport.h"

#define SH_MODEL_ALIAS "tiny"

typedef struct sh_env {
    vt_ts_redis rs;
    char key_path[512], secret_path[512];
    uint8_t sched_pk[VT_PUBKEY_BYTES];
    char worker_key_path[512], verifier_key_path[512]; /* worker_kp, verifier_kp */
    uint8_t secret[VT_AUTH_SECRET_BYTES];
    char key_a[VT_API_KEY_BUFSZ], key_b[VT_API_KEY_BUFSZ], key_revoked[VT_API_KEY_BUFSZ];
    vt_keypair worker_kp, worker2_kp, verifier_kp, verifier2_kp, rogue_kp;
    uint8_t model[VT_SHA256_BYTES];      /* the alias SH_MODEL_ALIAS names this */
    char model_hex[65];
    char agent_url[160], worker_url[160], verifier_url[160], http[64];
    vt_proc *sched;
    const char *const *extra; /* extra scheduler args (static storage) */
} sh_env;

/* Start redis, create the scheduler key and auth secret, register agents A,
 * B and a revoked one, allow-list worker, worker2 (workers), verifier,
 * verifier2 (verifiers); rogue_kp is NOT on the list. Then start the
 * scheduler with extra_args (NULL-terminated, may be NULL). Aborts the test
 * on failure. */
void sh_setup(sh_env *e, const char *const *extra_args);
/* (Re)start the scheduler with the same addresses and extra args. */
void sh_start_sched(sh_env *e, const char *const *extra_args);
/* Send the running scheduler sig, wait for it (15 s, then SIGKILL), start
 * it again with the same args; returns the old process's exit code
 * (128 + signal if killed, -1 if it had to be SIGKILLed after the wait). */
int sh_restart_sched(sh_env *e, int sig);
void sh_teardown(sh_env *e);

/* Agents. */
vt_client *sh_agent(const sh_env *e, const char *api_key);
/* A spec with prompt tokens 1..n_prompt, max_tokens = n_prompt. */
void sh_spec(vt_job_spec *s, int32_t *toks, uint32_t n_prompt);

/* In-test node. */
typedef struct sh_node {
    nng_socket sock;
    vt_keypair kp;
    bool verifier;
    char session[VT_SESSION_MAX + 1];
    uint8_t hello[1024]; /* the bytes of the last hello sent (to replay) */
    size_t hello_len;
} sh_node;

/* Dial and say hello; returns the hello reply's code (0 = accepted). */
int sh_node_open(sh_node *n, const char *url, const vt_keypair *kp, bool verifier,
                 const uint8_t model[VT_SHA256_BYTES]);
/* Dial only (no hello). */
int sh_node_dial(sh_node *n, const char *url, const vt_keypair *kp, bool verifier);
void sh_node_close(sh_node *n);
/* Say hello again on the same socket (new session, fresh nonce). */
int sh_node_hello(sh_node *n, const uint8_t model[VT_SHA256_BYTES]);
/* One request/response; rep must be vt_msg_free'd. Returns 0, the error
 * code of an error reply, or VT_ERR_TIMEOUT / VT_ERR_TRANSPORT. */
int sh_node_call(sh_node *n, const vt_msg *req, vt_msg_type expect, vt_msg *rep, int timeout_ms);
/* The same with the request's bytes as given. */
int sh_node_call_raw(sh_node *n, const void *req, size_t len, vt_msg_type expect, vt_msg *rep,
                     int timeout_ms);
/* fetch / vfetch according to the node's role. */
int sh_fetch(sh_node *n, uint32_t free_slots, uint32_t wait_ms, vt_msg *rep);
/* Identity results for jobs[0..n) (tokens = prompt, capped at max_tokens);
 * acks (may be NULL) receives up to n acks. */
int sh_results(sh_node *n, const vt_wire_job *jobs, uint32_t count, vt_ack *acks);
/* Verdicts (all pass or all fail) for tasks[0..n). */
int sh_verdicts(sh_node *n, const vt_wire_task *tasks, uint32_t count, bool pass, vt_ack *acks);
int sh_heartbeat(sh_node *n, const uint64_t *leases, uint32_t count, uint64_t *cancel_out,
                 uint32_t *n_cancel);

/* Run a worker + verifier loop in a background thread until stopped:
 * fetches, answers with identity results; verifies everything as pass.
 * worker or verifier may be NULL (that role is left out). */
typedef struct sh_runner sh_runner;
sh_runner *sh_runner_start(const sh_env *e, const vt_keypair *worker, const vt_keypair *verifier);
void sh_runner_stop(sh_runner *r);

/* Wait up to wait_ms for job id's result; check it came and was verified. */
void sh_expect_verified(vt_client *a, const char *id, uint32_t wait_ms);

/* Metric value from /metrics (first sample line starting with `line`), -1 if absent. */
double sh_metric(const sh_env *e, const char *line);
/* "<cmd> <arg>" against the test's Redis: an integer reply, or an array's
 * length (KEYS); -1 on error. */
long long sh_redis_int(const sh_env *e, const char *cmd, const char *arg);
/* True when the scheduler's log contains s; how many times (the log is
 * appended to across restarts). */
bool sh_log_has(const sh_env *e, const char *s);
int sh_log_count(const sh_env *e, const char *s);

#endif
