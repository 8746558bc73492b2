/* sc_jobs.c - job slots, id formatting, lookups. Core lock held throughout.
 *
 * Jobs live in fixed-size chunks that never move, so a slot index (and a
 * pointer taken under the lock) stays valid while the job exists; freed
 * slots go on a free list and come back with a new generation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sched.h"

#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)

int sc_jobs_init(sched *s)
{
    s->chunks = NULL;
    s->n_chunks = 0;
    s->n_slots = 0;
    s->free_head = SC_NONE;
    randombytes_buf(s->token_key, sizeof s->token_key);
    if (sc_map_init(&s->by_id, 1024) || sc_map_init(&s->by_token, 1024) ||
        sc_map_init(&s->by_lease, 1024) || sc_map_init(&s->agent_by_hash, 64))
        return VT_ERR_NOMEM;
    return 0;
}

void sc_job_clear_vrecs(sc_job *j)
{
    for (unsigned i = 0; i < j->n_vrec; i++) {
        free(j->vrec[i]);
        j->vrec[i] = NULL;
    }
    j->n_vrec = 0;
    /* the tally and the picks were about the same result */
    free(j->tally);
    j->tally = NULL;
    j->vneed = 0;
    j->n_vpick = 0;
}

static void job_clear(sc_job *j)
{
    sc_job_clear_vrecs(j);
    vt_msg_free(&j->spec_msg);
    if (j->result) {
        free(j->result->error_msg);
        free(j->result);
    }
    free(j->error_msg);
    free(j->final_bytes);
    sc_jobmem_free(j->mem);
}

void sc_jobs_free(sched *s)
{
    for (uint32_t c = 0; c < s->n_chunks; c++) {
        for (uint32_t i = 0; i < CHUNK_SIZE; i++)
            if (s->chunks[c][i].id)
                job_clear(&s->chunks[c][i]);
        free(s->chunks[c]);
    }
    free(s->chunks);
    sc_map_free(&s->by_id);
    sc_map_free(&s->by_token);
    sc_map_free(&s->by_lease);
    sc_map_free(&s->agent_by_hash);
    free(s->agents);
}

sc_job *sc_job_at(sched *s, uint32_t slot)
{
    return &s->chunks[slot >> CHUNK_SHIFT][slot & (CHUNK_SIZE - 1)];
}

int32_t *sc_job_heap_pos(void *ctx, uint32_t slot)
{
    return &sc_job_at(ctx, slot)->heap_pos;
}

int sc_job_alloc(sched *s, uint32_t *slot)
{
    if (s->free_head == SC_NONE) {
        sc_job **nc = realloc(s->chunks, (s->n_chunks + 1) * sizeof(*nc));
        if (!nc)
            return VT_ERR_NOMEM;
        s->chunks = nc;
        sc_job *chunk = calloc(CHUNK_SIZE, sizeof(sc_job));
        if (!chunk)
            return VT_ERR_NOMEM;
        s->chunks[s->n_chunks] = chunk;
        uint32_t base = s->n_chunks * CHUNK_SIZE;
        s->n_chunks++;
        /* Push in reverse so low slots are used first. */
        for (uint32_t i = CHUNK_SIZE; i-- > 0;) {
            chunk[i].fifo_next = s->free_head;
            s->free_head = base + i;
        }
        s->n_slots = s->n_chunks * CHUNK_SIZE;
    }
    uint32_t sl = s->free_head;
    sc_job *j = sc_job_at(s, sl);
    s->free_head = j->fifo_next;
    uint32_t gen = j->gen + 1;
    memset(j, 0, sizeof *j);
    j->gen = gen;
    j->heap_pos = -1;
    j->fifo_prev = j->fifo_next = SC_NONE;
    j->lease_node = SC_NONE;
    j->done_next = SC_NONE;
    *slot = sl;
    return 0;
}

/* Forget a job entirely: maps, memory, slot. */
void sc_job_release(sched *s, uint32_t slot)
{
    sc_job *j = sc_job_at(s, slot);
    uint32_t v;
    if (j->id && sc_map_get(&s->by_id, j->id, &v) && v == slot)
        sc_map_del(&s->by_id, j->id);
    if (j->has_token && sc_map_get(&s->by_token, j->token_key, &v) && v == slot)
        sc_map_del(&s->by_token, j->token_key);
    if (j->lease_id && sc_map_get(&s->by_lease, j->lease_id, &v) && v == slot)
        sc_map_del(&s->by_lease, j->lease_id);
    if (j->id && j->model < s->n_models && s->models[j->model].refs > 0)
        s->models[j->model].refs--;
    job_clear(j);
    uint32_t gen = j->gen;
    memset(j, 0, sizeof *j);
    j->gen = gen + 1;
    j->heap_pos = -1;
    j->fifo_next = s->free_head;
    s->free_head = slot;
}

void sc_token_rkey(const char *agent_id, const uint8_t token[VT_REQUEST_TOKEN_BYTES], char out[96])
{
    char th[2 * VT_REQUEST_TOKEN_BYTES + 1];
    vt_hex_encode(token, VT_REQUEST_TOKEN_BYTES, th);
    snprintf(out, 96, SC_JOURNAL_KEYPREFIX "tok:%s:%s", agent_id, th);
}

void sc_hex16(uint64_t v, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
    out[16] = 0;
}

/* Several times per job (replies, records, receipts): no snprintf. */
void sc_job_id_format(uint64_t id, char out[VT_JOB_ID_MAX + 1])
{
    out[0] = 'j';
    out[1] = '-';
    sc_hex16(id, out + 2);
}

int sc_job_id_parse(const char *str, uint64_t *id)
{
    if (strncmp(str, "j-", 2) != 0 || strlen(str) != 18)
        return VT_ERR_NOTFOUND;
    uint64_t v = 0;
    for (int i = 2; i < 18; i++) {
        char ch = str[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else
            return VT_ERR_NOTFOUND;
        v = (v << 4) | (uint64_t)d;
    }
    if (v == 0)
        return VT_ERR_NOTFOUND;
    *id = v;
    return 0;
}

sc_job *sc_job_find(sched *s, const char *job_id, uint32_t *slot)
{
    uint64_t id;
    uint32_t sl;
    if (sc_job_id_parse(job_id, &id) != 0 || !sc_map_get(&s->by_id, id, &sl))
        return NULL;
    if (slot)
        *slot = sl;
    return sc_job_at(s, sl);
}

/* Keyed (SipHash) so a client cannot aim collisions at the table; forced
 * non-zero because 0 means "empty" in sc_map. */
uint64_t sc_token_key(const sched *s, uint32_t agent, const uint8_t token[VT_REQUEST_TOKEN_BYTES])
{
    uint8_t in[4 + VT_REQUEST_TOKEN_BYTES];
    memcpy(in, &agent, 4);
    memcpy(in + 4, token, VT_REQUEST_TOKEN_BYTES);
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, in, sizeof in, s->token_key);
    uint64_t k;
    memcpy(&k, h, 8);
    return k ? k : 1;
}

/* Agents are few and long-lived: intern their ids to a small index. */
uint32_t sc_agent_intern(sched *s, const char *agent_id)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const uint8_t *)agent_id, strlen(agent_id), s->token_key);
    uint64_t k;
    memcpy(&k, h, 8);
    k = k ? k : 1;
    uint32_t idx;
    /* Collisions on a keyed 64-bit hash are not a practical concern, but
     * compare anyway so a collision can never mix two agents' jobs. */
    while (sc_map_get(&s->agent_by_hash, k, &idx)) {
        if (strcmp(s->agents[idx].id, agent_id) == 0)
            return idx;
        k = k * 31 + 7;
        k = k ? k : 1;
    }
    if (s->n_agents == s->cap_agents) {
        uint32_t nc = s->cap_agents ? s->cap_agents * 2 : 64;
        sc_agent *na = realloc(s->agents, nc * sizeof(*na));
        if (!na)
            return SC_NONE;
        s->agents = na;
        s->cap_agents = nc;
    }
    idx = s->n_agents++;
    snprintf(s->agents[idx].id, sizeof s->agents[idx].id, "%s", agent_id);
    if (sc_map_put(&s->agent_by_hash, k, idx) != 0) {
        s->n_agents--;
        return SC_NONE;
    }
    return idx;
}
