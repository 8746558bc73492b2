/* load_driver.c - see load_driver.h.
 *
 * Every agent is a small state machine with at most one request out:
 *
 *   IDLE -> SUBMIT_RECV -> RESULT_RECV -+-> IDLE
 *                          ^            |
 *                          +-- job not done yet
 *
 * Everything runs on the calling thread: one epoll loop (sp_req.c) writes
 * the agents' requests and hands each reply to its agent by request id
 * (the low 12 bits are the agent's index); the same loop times requests
 * out, ends back-offs and, in open loop, makes the arrivals. A job ends
 * (job_end) with success or a counted error; what comes next depends on the
 * mode: closed loop starts the agent's next job at once (after a back-off
 * when the scheduler said overloaded), open loop takes the next waiting
 * arrival from the backlog or puts the agent on the free list.
 */
#include "load_driver.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "sp_req.h"
#include "vt_clock.h"
#include "vt_protocol.h"

enum { PH_IDLE, PH_SUBMIT_RECV, PH_RESULT_RECV, PH_STATUS_RECV, PH_BACKOFF };

#define POLL_MS 5000u          /* one result long poll */
#define BACKLOG_CAP (1u << 20) /* open loop: arrivals waiting for a free agent */
#define IDX_BITS 12            /* request id = sequence << 12 | agent index */
#define SCAN_US 20000u         /* time-outs and back-offs are checked at least this often */

typedef struct run run;

typedef struct agent {
    run *r;
    int idx;
    sp_conn *conn;
    uint32_t req_id;      /* the request out (high bit set), 0 = none */
    uint64_t timeout_us;  /* ... and when it times out */
    uint64_t wake_us;     /* PH_BACKOFF: when the next job starts */
    int phase;
    uint64_t t0_us;       /* job start: submit (closed) or arrival (open) */
    uint64_t deadline_us; /* job timeout */
    uint64_t seq;         /* jobs this agent started */
    uint64_t backoff_ms;
    int sync_fail;        /* the last job failed before anything was sent */
    int64_t wall_sent_ms, wall_done_ms; /* wall clock: submit sent, verified result received */
    char job_id[VT_JOB_ID_MAX + 1];
    const char *api_key;
    uint8_t token_salt[8];
    int32_t *prompt;
    vt_buf buf;
    struct agent *next_free;
} agent;

struct run {
    const ld_target *t;
    const ld_params *p;
    ld_result *out;
    sp_loop *loop;
    sp_conn **conns;
    int n_socks;
    uint32_t id_seq;
    uint64_t next_scan_us; /* earliest time-out or back-off end (or SCAN_US away) */
    agent *agents;
    int n_agents;
    /* All of it is the calling thread's: no locks, no atomics. */
    uint64_t t_window_us; /* measurement starts */
    uint64_t t_end_us;    /* measurement ends (moved earlier by count) */
    int stopping;
    int inflight;
    int optimistic; /* target delivery is "optimistic" */
    uint64_t completed, started, errors, dropped;
    uint64_t err[LD_AT__COUNT][LD_CODES];
    agent *free_list;
    uint64_t *backlog; /* ring of arrival times */
    size_t bl_head, bl_len;
    uint64_t backlog_max;
};

const char *ld_stage_name(int s)
{
    static const char *const names[] = {"to_scheduler", "queued", "computing", "verifying",
                                        "to_agent"};
    return s >= 0 && s < LD_ST__COUNT ? names[s] : "?";
}

const char *ld_at_name(int at)
{
    return at == LD_AT_SUBMIT ? "submit" : at == LD_AT_RESULT ? "result" : "job";
}

static void count_error(run *r, int at, int code)
{
    int k = code < 0 ? -code : code;
    if (k >= LD_CODES)
        k = -VT_ERR_INTERNAL;
    r->err[at][k]++;
    r->errors++;
}

static void start_job(agent *a, uint64_t t0_us);

/* ------------------------------------------------------------ job ending */

/* What an agent does after a job: the next job (closed), the next waiting
 * arrival or the free list (open), or nothing (stopping). */
static void agent_next(agent *a)
{
    run *r = a->r;
    a->phase = PH_IDLE;
    if (r->stopping)
        return;
    if (r->p->mode == LD_CLOSED) {
        /* A job that failed before it was sent (encoding, no memory) must not
         * start the next one from inside this call: that recursion would have
         * no end. The back-off sleep makes the restart asynchronous. */
        if (a->sync_fail) {
            a->sync_fail = 0;
            a->backoff_ms = 100;
        }
        if (a->backoff_ms) {
            a->phase = PH_BACKOFF;
            a->wake_us = vt_mono_us() + a->backoff_ms * 1000u;
            a->backoff_ms = 0;
            if (a->wake_us < r->next_scan_us)
                r->next_scan_us = a->wake_us;
            return;
        }
        start_job(a, vt_mono_us());
        return;
    }
    if (!a->sync_fail && r->bl_len > 0) {
        uint64_t t0 = r->backlog[r->bl_head];
        r->bl_head = (r->bl_head + 1) % BACKLOG_CAP;
        r->bl_len--;
        start_job(a, t0);
        return;
    }
    a->sync_fail = 0; /* open loop: wait on the free list for the next arrival */
    a->next_free = r->free_list;
    r->free_list = a;
}

static void job_finish(agent *a)
{
    a->r->inflight--;
    agent_next(a);
}

static void send_status_req(agent *a);

/* ok: the job reached `verified`. Otherwise the error was counted already. */
static void job_end(agent *a, int ok)
{
    run *r = a->r;
    if (ok) {
        uint64_t now = vt_mono_us();
        if (now >= r->t_window_us && now <= r->t_end_us) {
            load_hist_record(&r->out->hist, now - a->t0_us);
            r->completed++;
            /* Every Nth job: where did its time go? (after the latency is
             * taken, so the extra status round trip is not in it) */
            if (r->p->stages_every > 0 && a->seq % (uint64_t)r->p->stages_every == 0) {
                send_status_req(a);
                return;
            }
        }
    }
    job_finish(a);
}

static void fail(agent *a, int at, int code)
{
    count_error(a->r, at, code);
    job_end(a, 0);
}

/* A failure before anything was sent (see agent_next). */
static void fail_now(agent *a, int at, int code)
{
    a->sync_fail = 1;
    fail(a, at, code);
}

/* ------------------------------------------------------------- requests */

/* Queue a->buf as the agent's request; its reply is handled in `phase`. */
static int send_buf(agent *a, int phase, uint64_t timeout_ms)
{
    run *r = a->r;
    uint32_t id = 0x80000000u | (++r->id_seq << IDX_BITS & 0x7fffffffu) | (uint32_t)a->idx;
    int rv = sp_conn_send(a->conn, id, a->buf.data, a->buf.len);
    if (rv)
        return rv;
    a->phase = phase;
    a->req_id = id;
    a->timeout_us = vt_mono_us() + timeout_ms * 1000u;
    return 0;
}

static uint64_t ms_left(const agent *a)
{
    uint64_t now = vt_mono_us();
    return a->deadline_us > now ? (a->deadline_us - now) / 1000 : 0;
}

static void send_result_req(agent *a)
{
    uint64_t left = ms_left(a);
    if (left == 0) {
        fail(a, LD_AT_RESULT, VT_ERR_TIMEOUT);
        return;
    }
    vt_msg m;
    vt_msg_init(&m, VT_MSG_RESULT);
    m.u.result.api_key = a->api_key;
    memcpy(m.u.result.job_id, a->job_id, sizeof m.u.result.job_id);
    m.u.result.wait_ms = (uint32_t)(left < POLL_MS ? left : POLL_MS);
    vt_buf_reset(&a->buf);
    int rv = vt_msg_encode(&m, &a->buf, NULL);
    if (rv) {
        fail_now(a, LD_AT_RESULT, rv);
        return;
    }
    if ((rv = send_buf(a, PH_RESULT_RECV, m.u.result.wait_ms + 10000u)) != 0)
        fail_now(a, LD_AT_RESULT, rv);
}

static void start_job(agent *a, uint64_t t0_us)
{
    run *r = a->r;
    const ld_target *t = r->t;
    r->inflight++;
    r->started++;
    a->t0_us = t0_us;
    a->deadline_us = t0_us + (uint64_t)(r->p->job_timeout_s * 1e6);
    a->seq++;
    /* Vary the prompt per job so no two jobs are the same work; ids 259..458
     * are ordinary pieces in every synth preset (vocab >= 512). */
    for (uint32_t i = 0; i < t->prompt_tokens; i++)
        a->prompt[i] = (int32_t)(259 + (a->seq * 31u + (uint64_t)a->idx * 17u + i * 7u) % 200u);
    vt_msg m;
    vt_msg_init(&m, VT_MSG_SUBMIT);
    m.u.submit.api_key = a->api_key;
    vt_job_spec *s = &m.u.submit.job;
    s->model = t->model;
    s->prompt_tokens = a->prompt;
    s->n_prompt_tokens = t->prompt_tokens;
    s->max_tokens = t->max_tokens;
    s->sampling.top_p = 1.0f;
    s->verify = t->verify;
    s->delivery = t->delivery;
    s->kind = VT_KIND_GENERATE;
    /* Unique per (api key, job): a random salt per agent and run, then the
     * job counter, so a rerun against the same scheduler never collides. */
    memcpy(s->request_token, a->token_salt, 8);
    memcpy(s->request_token + 8, &a->seq, 8);
    if (t->submit_wait) /* answered with result_ok (or submit_ok by an older scheduler) */
        m.u.submit.wait_ms = POLL_MS;
    vt_buf_reset(&a->buf);
    int rv = vt_msg_encode(&m, &a->buf, NULL);
    if (rv) {
        fail_now(a, LD_AT_SUBMIT, rv);
        return;
    }
    a->wall_sent_ms = vt_wall_ms();
    if ((rv = send_buf(a, PH_SUBMIT_RECV, 10000 + m.u.submit.wait_ms)) != 0)
        fail_now(a, LD_AT_SUBMIT, rv);
}

/* status of a verified job, for its stage times; failures here are not the
 * job's: the job is simply left out of the breakdown. */
static void send_status_req(agent *a)
{
    vt_msg m;
    vt_msg_init(&m, VT_MSG_STATUS);
    m.u.status.api_key = a->api_key;
    memcpy(m.u.status.job_id, a->job_id, sizeof m.u.status.job_id);
    vt_buf_reset(&a->buf);
    if (vt_msg_encode(&m, &a->buf, NULL) != 0 || send_buf(a, PH_STATUS_RECV, 10000) != 0)
        job_finish(a);
}

static void stage(run *r, int s, int64_t from_ms, int64_t to_ms)
{
    if (from_ms > 0 && to_ms > 0)
        load_hist_record(&r->out->stage[s], to_ms > from_ms ? (uint64_t)(to_ms - from_ms) * 1000u : 0);
}

static void on_status_ok(agent *a, const uint8_t *body, size_t len)
{
    vt_msg rep;
    if (vt_msg_decode_expect(body, len, VT_MSG_STATUS_OK, &rep, NULL) == 0) {
        const vt_msg_status_ok *st = &rep.u.status_ok;
        run *r = a->r;
        stage(r, LD_ST_TO_SCHED, a->wall_sent_ms, (int64_t)st->submitted_ms);
        stage(r, LD_ST_QUEUED, (int64_t)st->submitted_ms, (int64_t)st->leased_ms);
        stage(r, LD_ST_COMPUTING, (int64_t)st->leased_ms, (int64_t)st->computed_ms);
        stage(r, LD_ST_VERIFYING, (int64_t)st->computed_ms, (int64_t)st->finished_ms);
        stage(r, LD_ST_TO_AGENT, (int64_t)st->finished_ms, a->wall_done_ms);
    }
    vt_msg_free(&rep);
    job_finish(a);
}

/* ------------------------------------------------------------- callback */

static void on_result_ok(agent *a, const uint8_t *body, size_t len);

static void on_submit_ok(agent *a, const uint8_t *body, size_t len)
{
    uint32_t minor, tlen;
    const char *type;
    if (a->r->t->submit_wait &&
        vt_mp_read_envelope(body, len, &minor, &type, &tlen, NULL) == 0 &&
        vt_mp_str_eq(type, tlen, "result_ok")) {
        on_result_ok(a, body, len); /* submit with wait_ms: the result came with it */
        return;
    }
    vt_msg rep;
    int rv = vt_msg_decode_expect(body, len, VT_MSG_SUBMIT_OK, &rep, NULL);
    if (rv) {
        if ((rv == VT_ERR_OVERLOADED || rv == VT_ERR_RATELIMIT) && rep.type == VT_MSG_ERROR) {
            uint32_t hint = rep.u.error.retry_ms;
            a->backoff_ms = hint == 0 ? 10 : hint > 200 ? 200 : hint;
        }
        vt_msg_free(&rep);
        fail(a, LD_AT_SUBMIT, rv);
        return;
    }
    memcpy(a->job_id, rep.u.submit_ok.job_id, sizeof a->job_id);
    vt_msg_free(&rep);
    send_result_req(a);
}

static void on_result_ok(agent *a, const uint8_t *body, size_t len)
{
    vt_msg rep;
    int rv = vt_msg_decode_expect(body, len, VT_MSG_RESULT_OK, &rep, NULL);
    if (rv) {
        vt_msg_free(&rep);
        fail(a, LD_AT_RESULT, rv);
        return;
    }
    const vt_msg_result_ok *res = &rep.u.result_ok;
    memcpy(a->job_id, res->job_id, sizeof a->job_id); /* new to us after a waiting submit */
    vt_job_state st = res->state;
    int code = res->error;
    /* delivery=optimistic: the outputs come before the verdicts (state
     * computed or verifying): that is the delivery this agent waits for. */
    int delivered = a->r->optimistic && res->n_tokens > 0 &&
                    (st == VT_JOB_COMPUTED || st == VT_JOB_VERIFYING);
    vt_msg_free(&rep);
    if (delivered) {
        a->wall_done_ms = vt_wall_ms();
        job_end(a, 1);
        return;
    }
    if (!vt_job_state_done(st)) {
        send_result_req(a); /* long poll ran out: ask again */
        return;
    }
    if (st == VT_JOB_VERIFIED) {
        a->wall_done_ms = vt_wall_ms();
        job_end(a, 1);
        return;
    }
    if (code == 0)
        code = st == VT_JOB_CANCELLED ? VT_ERR_CANCELLED
               : st == VT_JOB_EXPIRED ? VT_ERR_EXPIRED
                                      : VT_ERR_MISMATCH;
    fail(a, LD_AT_JOB, code);
}

/* The request out ended without a reply (time-out, connection lost). */
static void request_failed(agent *a, int code)
{
    a->req_id = 0;
    if (a->phase == PH_STATUS_RECV)
        job_finish(a); /* only the stage sample is lost */
    else
        fail(a, a->phase == PH_SUBMIT_RECV ? LD_AT_SUBMIT : LD_AT_RESULT, code);
}

static void on_reply(void *arg, sp_conn *c, uint32_t id, const uint8_t *body, size_t len)
{
    run *r = arg;
    uint32_t idx = id & ((1u << IDX_BITS) - 1);
    if (idx >= (uint32_t)r->n_agents)
        return;
    agent *a = &r->agents[idx];
    if (a->req_id != id || a->conn != c)
        return; /* late: that request timed out already */
    a->req_id = 0;
    switch (a->phase) {
    case PH_SUBMIT_RECV: on_submit_ok(a, body, len); return;
    case PH_RESULT_RECV: on_result_ok(a, body, len); return;
    case PH_STATUS_RECV: on_status_ok(a, body, len); return;
    default: return;
    }
}

static void on_lost(void *arg, sp_conn *c)
{
    run *r = arg;
    for (int i = 0; i < r->n_agents; i++)
        if (r->agents[i].conn == c && r->agents[i].req_id)
            request_failed(&r->agents[i], VT_ERR_UNAVAILABLE);
}

/* Time-outs and back-offs that are due; sets when to look next. */
static void scan_timers(run *r, uint64_t now)
{
    if (now < r->next_scan_us)
        return;
    uint64_t next = now + SCAN_US;
    r->next_scan_us = UINT64_MAX; /* lowered by back-offs started below */
    for (int i = 0; i < r->n_agents; i++) {
        agent *a = &r->agents[i];
        if (a->req_id && a->timeout_us <= now) {
            request_failed(a, VT_ERR_TIMEOUT);
        } else if (a->req_id) {
            if (a->timeout_us < next)
                next = a->timeout_us;
        } else if (a->phase == PH_BACKOFF && a->wake_us <= now) {
            a->phase = PH_IDLE;
            if (!r->stopping)
                start_job(a, now);
        } else if (a->phase == PH_BACKOFF && a->wake_us < next) {
            next = a->wake_us;
        }
    }
    if (next < r->next_scan_us)
        r->next_scan_us = next;
}

/* Run the loop until `until` (monotonic us). */
static void poll_until(run *r, uint64_t until)
{
    scan_timers(r, vt_mono_us());
    sp_loop_poll(r->loop, until < r->next_scan_us ? until : r->next_scan_us);
}

/* ------------------------------------------------------------ set-up */

static int open_sockets(run *r, vt_errinfo *ei)
{
    /* No resend (a resent submit would be a second job, docs/protocol.md):
     * a request that gets no answer times out. */
    sp_handlers h = {.reply = on_reply, .lost = on_lost, .arg = r};
    int rv = sp_loop_open(&h, &r->loop, ei);
    for (int i = 0; !rv && i < r->n_socks; i++)
        rv = sp_conn_open(r->loop, r->t->url, VT_PROTO_MAX_MSG_DEFAULT, &r->conns[i], ei);
    return rv;
}

static int open_agents(run *r, vt_errinfo *ei)
{
    for (int i = 0; i < r->n_agents; i++) {
        agent *a = &r->agents[i];
        a->r = r;
        a->idx = i;
        a->api_key = r->t->api_keys[i % r->t->n_keys];
        randombytes_buf(a->token_salt, sizeof a->token_salt);
        vt_buf_init(&a->buf, 0);
        a->prompt = calloc(r->t->prompt_tokens ? r->t->prompt_tokens : 1, sizeof *a->prompt);
        if (!a->prompt)
            return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
        a->conn = r->conns[i % r->n_socks];
    }
    return 0;
}

static void close_all(run *r)
{
    sp_loop_close(r->loop); /* requests still out are dropped with their connections */
    r->loop = NULL;
    for (int i = 0; i < r->n_agents; i++) {
        vt_buf_free(&r->agents[i].buf);
        free(r->agents[i].prompt);
    }
}

/* ------------------------------------------------------------ the run */

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* Open loop: one arrival at time t0 takes a free agent or waits. */
static void arrive(run *r, uint64_t t0)
{
    agent *a = r->free_list;
    if (a) {
        r->free_list = a->next_free;
        start_job(a, t0);
        return;
    }
    if (r->bl_len < BACKLOG_CAP) {
        r->backlog[(r->bl_head + r->bl_len) % BACKLOG_CAP] = t0;
        r->bl_len++;
        if (r->bl_len > r->backlog_max)
            r->backlog_max = r->bl_len;
    } else {
        r->dropped++;
    }
}

/* Exponential inter-arrival time in us at `rate` per second. */
static uint64_t next_gap_us(uint64_t *rng, double rate)
{
    /* xorshift64*: fast, good enough to draw arrival gaps. */
    uint64_t x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    double u = (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
    return (uint64_t)(-log(1.0 - u) / rate * 1e6);
}

static void progress(run *r, uint64_t now, uint64_t t_start, uint64_t *last_done, int tty)
{
    const ld_params *p = r->p;
    uint64_t done = r->completed;
    double el = (double)(now - t_start) / 1e6;
    double total = p->warmup_s + p->duration_s;
    double p99 = load_hist_percentile(&r->out->hist, 99.0) / 1000.0;
    fprintf(stderr, "%s%-8s %5.1fs/%.0fs %9llu done %9.0f jobs/s  p99 %7.2f ms  in flight %4d  "
            "errors %llu%s",
            tty ? "\r" : "", p->label ? p->label : "load", el, total, (unsigned long long)done,
            (double)(done - *last_done), p99, r->inflight,
            (unsigned long long)r->errors, now < r->t_window_us ? " (warmup)" : "");
    fputs(tty ? "\033[K" : "\n", stderr);
    *last_done = done;
}

int ld_run(const ld_target *t, const ld_params *p, volatile sig_atomic_t *stop, ld_result *out,
           vt_errinfo *ei)
{
    if (p->concurrency < 1 || p->concurrency > LD_MAX_AGENTS || t->n_keys < 1 ||
        t->n_keys > LD_MAX_KEYS || t->prompt_tokens < 1 || (p->mode == LD_OPEN && !(p->rate > 0)))
        return vt_fail(ei, VT_ERR_INVAL, "bad load parameters");
    if (sodium_init() < 0)
        return vt_fail(ei, VT_ERR_INTERNAL, "libsodium");
    run *r = calloc(1, sizeof *r);
    if (!r)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    r->t = t;
    r->p = p;
    r->optimistic = t->delivery && strcmp(t->delivery, "optimistic") == 0;
    r->out = out;
    load_hist_reset(&out->hist);
    for (int s = 0; s < LD_ST__COUNT; s++)
        load_hist_reset(&out->stage[s]);
    r->n_agents = p->concurrency;
    r->n_socks = p->connections > 0 && p->connections < r->n_agents ? p->connections : r->n_agents;
    r->agents = calloc((size_t)r->n_agents, sizeof *r->agents);
    r->conns = calloc((size_t)r->n_socks, sizeof *r->conns);
    if (p->mode == LD_OPEN)
        r->backlog = malloc(BACKLOG_CAP * sizeof *r->backlog);
    int rv = 0;
    if (!r->agents || !r->conns || (p->mode == LD_OPEN && !r->backlog))
        rv = vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    if (!rv)
        rv = open_sockets(r, ei);
    if (!rv)
        rv = open_agents(r, ei);
    if (rv) {
        close_all(r);
        goto out;
    }

    int tty = isatty(2);
    uint64_t t_start = vt_mono_us();
    r->t_window_us = t_start + (uint64_t)(p->warmup_s * 1e6);
    r->t_end_us = r->t_window_us + (uint64_t)(p->duration_s * 1e6);
    double cpu0 = 0;
    int cpu_started = 0;
    uint64_t rng = ((uint64_t)getpid() << 32) ^ t_start ^ 0x9E3779B97F4A7C15ull;
    if (p->mode == LD_CLOSED) {
        for (int i = 0; i < r->n_agents; i++)
            start_job(&r->agents[i], vt_mono_us());
    } else {
        for (int i = r->n_agents - 1; i >= 0; i--) {
            r->agents[i].next_free = r->free_list;
            r->free_list = &r->agents[i];
        }
    }
    uint64_t next_arrival = t_start, next_tick = t_start + 1000000, last_done = 0;
    for (;;) {
        uint64_t now = vt_mono_us();
        if (!cpu_started && now >= r->t_window_us) {
            cpu0 = cpu_self_s();
            cpu_started = 1;
            if (p->mark)
                p->mark(p->mark_arg, 0);
        }
        if ((stop && *stop) || now >= r->t_end_us || (p->count && r->completed >= p->count)) {
            if (now < r->t_end_us)
                r->t_end_us = now;
            break;
        }
        if (now >= next_tick) {
            if (p->progress)
                progress(r, now, t_start, &last_done, tty);
            next_tick += 1000000;
        }
        uint64_t wake = now + 20000; /* check count / stop every 20 ms */
        if (p->mode == LD_OPEN) {
            while (next_arrival <= now) {
                arrive(r, next_arrival);
                next_arrival += next_gap_us(&rng, p->rate);
            }
            if (next_arrival < wake)
                wake = next_arrival;
        }
        if (next_tick < wake)
            wake = next_tick;
        poll_until(r, wake);
    }
    uint64_t t_end = r->t_end_us;
    out->cpu_s = cpu_started ? cpu_self_s() - cpu0 : 0;
    if (cpu_started && p->mark)
        p->mark(p->mark_arg, 1);
    r->stopping = 1;
    /* Drain: jobs in flight finish (they are not counted: the window has
     * closed) so that the next phase starts on a quiet scheduler. */
    uint64_t drain_end = vt_mono_us() + (uint64_t)(p->drain_s * 1e6);
    for (uint64_t now = vt_mono_us();
         r->inflight > 0 && now < drain_end && !(stop && *stop);
         now = vt_mono_us())
        poll_until(r, now + 10000 < drain_end ? now + 10000 : drain_end);
    out->unfinished = (uint64_t)(r->inflight > 0 ? r->inflight : 0);
    if (p->progress) {
        progress(r, t_end, t_start, &last_done, tty);
        if (tty)
            fputs("\n", stderr);
    }
    close_all(r);

    out->window_s = t_end > r->t_window_us ? (double)(t_end - r->t_window_us) / 1e6 : 0;
    out->completed = r->completed;
    out->throughput = out->window_s > 0 ? (double)out->completed / out->window_s : 0;
    out->started = r->started;
    out->errors = r->errors;
    out->dropped = r->dropped;
    out->backlog_max = r->backlog_max;
    for (int a = 0; a < LD_AT__COUNT; a++)
        for (int k = 0; k < LD_CODES; k++)
            out->err[a][k] = r->err[a][k];
out:
    free(r->backlog);
    free(r->agents);
    free(r->conns);
    free(r);
    return rv;
}
