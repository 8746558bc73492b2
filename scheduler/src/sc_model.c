/* sc_model.c - the model table and its two lanes (compute, verify).
 *
 * A model is identified by the SHA-256 of its file. Each model has a lane
 * per node role: a heap of ready jobs by (priority, seq) for dispatch, and
 * the same jobs in arrival order (a FIFO) so that "waited too long for a
 * node that serves this model" is found from the head without scanning.
 * Core lock held throughout.
 */
#include <string.h>

#include "sched.h"
#include "vt_clock.h"

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* The job's model: 64 hex chars of a sha256, or an --model-alias name. */
int sc_model_resolve(sched *s, const char *name, uint8_t sha[VT_SHA256_BYTES], vt_errinfo *ei)
{
    if (!name || !*name)
        return vt_fail(ei, VT_ERR_INVAL, "job has no model");
    for (size_t i = 0; i < s->cfg.n_aliases; i++)
        if (strcmp(s->cfg.aliases[i].name, name) == 0) {
            memcpy(sha, s->cfg.aliases[i].sha256, VT_SHA256_BYTES);
            return 0;
        }
    if (is_hex64(name) && vt_hex_decode(name, 64, sha, VT_SHA256_BYTES) == 0)
        return 0;
    return vt_fail(ei, VT_ERR_NOMODEL,
                   "model '%.64s' is neither a sha256 (64 hex chars) nor a configured "
                   "--model-alias",
                   name);
}

static void lane_init(sched *s, sc_lane *l)
{
    sc_pq_init(&l->heap, sc_job_heap_pos, s);
    l->fifo_head = l->fifo_tail = SC_NONE;
    l->n_live = 0;
    l->no_node_since_ms = vt_mono_ms();
}

int sc_model_intern(sched *s, const uint8_t sha[VT_SHA256_BYTES], uint32_t *idx)
{
    uint32_t reuse = SC_NONE;
    for (uint32_t i = 0; i < s->n_models; i++) {
        sc_model *m = &s->models[i];
        if (m->used && memcmp(m->sha256, sha, VT_SHA256_BYTES) == 0) {
            *idx = i;
            return 0;
        }
        /* An entry nobody serves and nothing waits on can be recycled, so
         * agents naming random hashes cannot fill the table. */
        if (reuse == SC_NONE && (!m->used || m->refs == 0))
            reuse = i;
    }
    if (reuse == SC_NONE) {
        if (s->n_models >= SC_MAX_MODELS)
            return VT_ERR_OVERLOADED;
        reuse = s->n_models++;
        for (int l = 0; l < SC_LANES; l++)
            lane_init(s, &s->models[reuse].lane[l]);
    } else {
        for (int l = 0; l < SC_LANES; l++) {
            s->models[reuse].lane[l].fifo_head = s->models[reuse].lane[l].fifo_tail = SC_NONE;
            s->models[reuse].lane[l].no_node_since_ms = vt_mono_ms();
        }
    }
    sc_model *m = &s->models[reuse];
    memcpy(m->sha256, sha, VT_SHA256_BYTES);
    m->used = true;
    m->refs = 0;
    *idx = reuse;
    return 0;
}

bool sc_node_serves(const sc_node *n, uint32_t model)
{
    for (uint32_t i = 0; i < n->n_models; i++)
        if (n->models[i] == model)
            return true;
    return false;
}

/* Fair share between agents in the compute lanes: within a priority, jobs
 * are ordered by a tag, then by arrival. A job's tag is the scheduler's
 * virtual time (the largest tag dispatched so far) plus the number of jobs
 * its agent already has queued, so an agent with a long queue does not
 * hold back one that submits later: their jobs alternate (start-time fair
 * queueing, one unit per job). A job keeps its tag when it is queued
 * again (lease lost), so it goes ahead of later work. Verification tasks
 * keep arrival order. */
static uint64_t heap_key(sched *s, sc_job *j, int lane)
{
    uint64_t arrival = ++s->next_seq;
    if (lane != SC_LANE_COMPUTE)
        return arrival;
    sc_agent *a = j->agent < s->n_agents ? &s->agents[j->agent] : NULL;
    if (!j->vtag) {
        j->vtag = s->vtime + (a ? a->n_queued : 0) + 1;
        /* Never ahead of the agent's own queued jobs (after some of them
         * were cancelled, the count alone could put it there). */
        if (a && a->n_queued && a->last_tag > j->vtag)
            j->vtag = a->last_tag;
        if (a)
            a->last_tag = j->vtag;
    }
    if (a)
        a->n_queued++;
    return (j->vtag << 24) | (arrival & 0xffffff); /* tags below 2^40 */
}

void sc_lane_push(sched *s, uint32_t slot, int lane)
{
    sc_job *j = sc_job_at(s, slot);
    sc_lane *l = &s->models[j->model].lane[lane];
    j->lane = (uint8_t)lane;
    j->seq = heap_key(s, j, lane);
    j->t_enqueue_us = vt_mono_us();
    /* On NOMEM the job would be lost from dispatch: fail it loudly instead. */
    if (sc_pq_push(&l->heap, j->prio, j->seq, slot) != 0) {
        if (lane == SC_LANE_COMPUTE && j->agent < s->n_agents)
            s->agents[j->agent].n_queued--;
        vt_log_error(s->log, "job.nomem", "cannot queue job; failing it");
        sc_core_finish(s, slot, VT_JOB_FAILED, VT_ERR_NOMEM, "scheduler out of memory");
        return;
    }
    j->fifo_next = SC_NONE;
    j->fifo_prev = l->fifo_tail;
    if (l->fifo_tail != SC_NONE)
        sc_job_at(s, l->fifo_tail)->fifo_next = slot;
    else
        l->fifo_head = slot;
    l->fifo_tail = slot;
    if (lane == SC_LANE_COMPUTE)
        s->n_queued++;
}

/* Take a job out of whichever lane holds it (no-op when in none). */
void sc_lane_remove(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    if (j->heap_pos < 0)
        return;
    sc_lane *l = &s->models[j->model].lane[j->lane];
    sc_pq_remove_at(&l->heap, j->heap_pos);
    if (j->fifo_prev != SC_NONE)
        sc_job_at(s, j->fifo_prev)->fifo_next = j->fifo_next;
    else
        l->fifo_head = j->fifo_next;
    if (j->fifo_next != SC_NONE)
        sc_job_at(s, j->fifo_next)->fifo_prev = j->fifo_prev;
    else
        l->fifo_tail = j->fifo_prev;
    j->fifo_prev = j->fifo_next = SC_NONE;
    if (j->lane == SC_LANE_COMPUTE && s->n_queued > 0)
        s->n_queued--;
    if (j->lane == SC_LANE_COMPUTE && j->agent < s->n_agents && s->agents[j->agent].n_queued > 0)
        s->agents[j->agent].n_queued--;
}
