/* vt_client.h - the agent client library: submit inference jobs to a
 * Verity scheduler and collect verified results.
 *
 *   vt_client *c;
 *   vt_client_open("tcp://127.0.0.1:7400", api_key, NULL, &c, &ei);
 *   vt_job_spec spec; vt_job_spec_default(&spec);
 *   spec.model = "tiny"; spec.prompt = "Hello"; spec.prompt_len = 5;
 *   char id[VT_JOB_ID_MAX + 1];
 *   vt_client_submit(c, &spec, id, NULL, &ei);
 *   vt_job_result res;
 *   vt_client_wait(c, id, 60000, &res, &ei);   // res.r.text, res.r.verify ...
 *   vt_job_result_free(&res);
 *   vt_client_close(c);
 *
 * Transport: NNG's REQ/REP protocol to the scheduler's agent socket. For
 * ipc:// and tcp:// the library speaks it itself, one connection per call
 * in flight (idle ones are kept for the next calls); other NNG schemes go
 * through a libnng REQ socket with a context per call. Either way one
 * vt_client may be used from several threads at once (but closed only when
 * no call is under way). Requests are never resent automatically (a resend
 * could run a job twice); instead every submit carries a random request
 * token so an application-level retry is idempotent. A connection lost
 * during a call fails it with VT_ERR_TRANSPORT (libnng: VT_ERR_UNAVAILABLE);
 * the next call connects again. See docs/protocol.md.
 */
#ifndef VT_CLIENT_H
#define VT_CLIENT_H

#include "vt_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_client vt_client;

typedef struct vt_client_opts {
    size_t recv_max;          /* NNG_OPT_RECVMAXSZ; 0 = VT_PROTO_MAX_MSG_DEFAULT */
    uint32_t timeout_ms;      /* per request (not counting a wait's long poll); 0 = 10000 */
    uint32_t reconnect_ms;    /* libnng schemes' reconnect time; 0 = 100 (ipc://, tcp://:
                                 retried after 50 ms, doubling to 1 s, within the call) */
    uint32_t poll_ms;         /* longest single long-poll inside vt_client_wait; 0 = 25000 */
} vt_client_opts;

void vt_client_opts_default(vt_client_opts *o);

/* Fills a spec with defaults: greedy sampling, max_tokens 64, priority 0,
 * kind generate, verify/delivery NULL (scheduler defaults), a fresh random
 * request token. */
void vt_job_spec_default(vt_job_spec *s);
/* New random request token (call before resubmitting a *different* job). */
void vt_job_spec_new_token(vt_job_spec *s);

/* url: tcp://host:port or ipc:///path. api_key: 1..VT_API_KEY_MAX bytes.
 * opts may be NULL. The dial is non-blocking: a scheduler that is not up yet
 * is retried in the background, calls then time out (VT_ERR_TIMEOUT). */
int vt_client_open(const char *url, const char *api_key, const vt_client_opts *opts,
                   vt_client **out, vt_errinfo *ei);
void vt_client_close(vt_client *c);

/* Submit a job. On success job_id holds its id. When the scheduler is
 * overloaded or rate-limits this key, returns VT_ERR_OVERLOADED /
 * VT_ERR_RATELIMIT and *retry_ms (if non-NULL) holds its hint (0 = none).
 * Resubmitting the same spec (same request token) is safe: the scheduler
 * returns the original job id. */
int vt_client_submit(vt_client *c, const vt_job_spec *spec, char job_id[VT_JOB_ID_MAX + 1],
                     uint32_t *retry_ms, vt_errinfo *ei);

typedef vt_msg_status_ok vt_job_status;

int vt_client_status(vt_client *c, const char *job_id, vt_job_status *out, vt_errinfo *ei);

/* A job's result. Every pointer in r stays valid until vt_job_result_free. */
typedef struct vt_job_result {
    vt_msg_result_ok r;
    uint32_t retry_ms; /* vt_client_run refused with VT_ERR_OVERLOADED or
                        * VT_ERR_RATELIMIT: the scheduler's hint (0 = none) */
    vt_msg msg_; /* private: owns the memory r points into */
} vt_job_result;

/* Wait up to timeout_ms for the job to finish (long polls the scheduler).
 * 0: done (r.state is verified, failed, cancelled or expired; a failed
 * job's cause is r.error). VT_ERR_TIMEOUT: not done yet, r holds the
 * latest state. Either way call vt_job_result_free. */
int vt_client_wait(vt_client *c, const char *job_id, uint32_t timeout_ms, vt_job_result *out,
                   vt_errinfo *ei);
void vt_job_result_free(vt_job_result *r);

/* Submit and wait in one call, and in one round trip when the job is done
 * within opts.poll_ms: the submit carries wait_ms (docs/protocol.md), then
 * long polls continue as vt_client_wait. job_id receives the id once known
 * ("" if the submit was refused). Returns as vt_client_wait, or the
 * submit's error (overloaded and ratelimit leave their hint in
 * out->retry_ms, as vt_client_submit does). Either way call
 * vt_job_result_free. */
int vt_client_run(vt_client *c, const vt_job_spec *spec, uint32_t timeout_ms,
                  char job_id[VT_JOB_ID_MAX + 1], vt_job_result *out, vt_errinfo *ei);

/* Cancel a job. *state (if non-NULL) receives the state afterwards. */
int vt_client_cancel(vt_client *c, const char *job_id, vt_job_state *state, vt_errinfo *ei);

/* Send raw request bytes and receive the reply (used by tools such as
 * `verity` and bench that speak other agent-socket messages). *reply is
 * malloc'd; free() it. */
int vt_client_call(vt_client *c, const vt_buf *req, uint32_t timeout_ms, uint8_t **reply,
                   size_t *reply_len, vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
