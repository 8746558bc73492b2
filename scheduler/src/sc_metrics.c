/* sc_metrics.c - the scheduler's Prometheus metrics (registered once). */
#include <stdio.h>

#include "sched.h"

static const double LAT_BOUNDS[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                    0.2,    0.5,   1,     2,     5,    10,   30,   60};
#define NB (sizeof LAT_BOUNDS / sizeof LAT_BOUNDS[0])

int sc_metrics_init(sched *s, vt_errinfo *ei)
{
    sc_metrics *m = &s->m;
    vt_metrics *r;
    int rv = vt_metrics_new(&r);
    if (rv)
        return vt_fail(ei, rv, "metrics registry");
    m->reg = r;
#define G(ptr, name, help, labels) \
    if (!rv) rv = vt_metrics_gauge(r, name, help, labels, &(ptr), ei)
#define C(ptr, name, help, labels) \
    if (!rv) rv = vt_metrics_counter(r, name, help, labels, &(ptr), ei)
#define H(ptr, name, help) \
    if (!rv) rv = vt_metrics_histogram(r, name, help, NULL, LAT_BOUNDS, NB, &(ptr), ei)
    G(m->queue_depth, "verity_scheduler_queue_depth", "jobs waiting for a worker", NULL);
    for (int st = 0; st < VT_JOB_STATE__COUNT; st++) {
        char l[64];
        snprintf(l, sizeof l, "state=\"%s\"", vt_job_state_name((vt_job_state)st));
        G(m->jobs_state[st], "verity_scheduler_jobs", "jobs in memory by state", l);
    }
    G(m->workers_live, "verity_scheduler_workers_live", "workers with a live session", NULL);
    G(m->verifiers_live, "verity_scheduler_verifiers_live", "verifiers with a live session", NULL);
    G(m->redis_up, "verity_scheduler_redis_up", "1 when the journal reaches Redis", NULL);
    G(m->redis_fsync_always, "verity_scheduler_redis_fsync_always",
      "1 when Redis reports appendonly yes and appendfsync always (no acknowledged job is lost), "
      "0 when it does not, -1 when it cannot be read",
      NULL);
    G(m->tlog_entries, "verity_scheduler_tlog_entries",
      "receipts in the transparency log, which is kept whole (Redis and the scheduler's memory "
      "grow with it)",
      NULL);
    G(m->tlog_memory, "verity_scheduler_tlog_memory_bytes",
      "the scheduler's memory holding the transparency log (read back whole at every start)",
      NULL);
    C(m->submitted, "verity_scheduler_jobs_submitted_total", "jobs accepted (journaled)", NULL);
    for (int st = VT_JOB_VERIFIED; st < VT_JOB_STATE__COUNT; st++) {
        char l[64];
        snprintf(l, sizeof l, "state=\"%s\"", vt_job_state_name((vt_job_state)st));
        C(m->finished[st], "verity_scheduler_jobs_finished_total", "jobs finished by outcome", l);
    }
    for (int st = 0; st < VT_JOB_VERIFIED; st++)
        m->finished[st] = m->finished[VT_JOB_FAILED]; /* never used; keeps pointers valid */
    const char *RJ = "verity_scheduler_submit_rejected_total";
    const char *RJH = "submits refused, by reason";
    C(m->rej_overloaded, RJ, RJH, "reason=\"overloaded\"");
    C(m->rej_unavailable, RJ, RJH, "reason=\"unavailable\"");
    C(m->rej_auth, RJ, RJH, "reason=\"auth\"");
    C(m->rej_invalid, RJ, RJH, "reason=\"invalid\"");
    C(m->rej_closed, RJ, RJH, "reason=\"closed\"");
    C(m->rej_nomodel, RJ, RJH, "reason=\"nomodel\"");
    C(m->verify_failures, "verity_scheduler_verification_failures_total",
      "verdicts that found a result wrong", NULL);
    C(m->lease_expired, "verity_scheduler_lease_expired_total", "leases that ran out", NULL);
    C(m->redis_errors, "verity_scheduler_redis_errors_total", "failed Redis operations", NULL);
    const char *BM = "verity_scheduler_bad_messages_total";
    C(m->bad_msgs[SC_SOCK_AGENT], BM, "malformed or unexpected requests", "socket=\"agent\"");
    C(m->bad_msgs[SC_SOCK_WORKER], BM, "malformed or unexpected requests", "socket=\"worker\"");
    C(m->bad_msgs[SC_SOCK_VERIFIER], BM, "malformed or unexpected requests", "socket=\"verifier\"");
    C(m->pipes_dropped, "verity_scheduler_pipes_closed_total",
      "connections closed (peer left, oversized message, bad handshake)", NULL);
    C(m->nodes_refused, "verity_scheduler_nodes_refused_total", "hellos refused", NULL);
    C(m->results_stale, "verity_scheduler_results_stale_total",
      "results/verdicts for leases no longer current (ignored)", NULL);
    C(m->results_dup, "verity_scheduler_results_duplicate_total",
      "results/verdicts already recorded (ignored)", NULL);
    H(m->h_queue, "verity_scheduler_queue_wait_seconds", "submit (or requeue) to lease");
    H(m->h_compute, "verity_scheduler_compute_seconds", "lease to accepted result");
    H(m->h_verify, "verity_scheduler_verification_seconds", "accepted result to verified");
    H(m->h_e2e, "verity_scheduler_e2e_seconds", "accepted submit to done");
    static const double BATCH[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
    if (!rv)
        rv = vt_metrics_histogram(r, "verity_scheduler_journal_batch_items",
                                  "journal items (submits, finals, look-ups) per group commit",
                                  NULL, BATCH, sizeof BATCH / sizeof BATCH[0], &m->h_jr_batch, ei);
#undef G
#undef C
#undef H
    return rv;
}
