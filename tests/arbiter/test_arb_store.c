/* test_arb_store.c - the arbiter's Redis store against a real redis-server:
 * reputation counters, quarantine / release / history / epoch, recent-job
 * windows, a decision's queued effects, the in-memory set, metrics text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_arbiter.h"
#include "vt_test.h"
#include "vt_testsupport.h"

static void pk_of(uint8_t pk[VT_PUBKEY_BYTES], uint8_t tag)
{
    memset(pk, tag, VT_PUBKEY_BYTES);
}

static void test_counters(vt_redis *r)
{
    uint8_t a[VT_PUBKEY_BYTES], b[VT_PUBKEY_BYTES];
    pk_of(a, 0x11);
    pk_of(b, 0x22);
    vt_arb_rep d = {{0}};
    d.c[VT_ARB_C_JOBS] = 3;
    d.c[VT_ARB_C_VERIFIED] = 2;
    VT_CHECK_OK(vt_arb_store_add_rep(r, a, &d, NULL));
    VT_CHECK_OK(vt_arb_store_add_rep(r, a, &d, NULL));
    /* Queue variants batch with anything else on the connection. */
    size_t q = 0;
    vt_arb_rep e = {{0}};
    e.c[VT_ARB_C_VERDICTS] = 5;
    e.c[VT_ARB_C_AUDITS_FAILED] = 1;
    VT_CHECK_OK(vt_arb_store_queue_rep(r, b, &e, &q, NULL));
    VT_CHECK_OK(vt_arb_store_queue_rep(r, a, &e, &q, NULL));
    VT_CHECK_EQ_INT(q, 4);
    VT_CHECK_EQ_INT(vt_redis_pending(r), 4);
    VT_CHECK_OK(vt_arb_store_flush(r, q, NULL));
    uint8_t pks[3][VT_PUBKEY_BYTES];
    memcpy(pks[0], a, VT_PUBKEY_BYTES);
    memcpy(pks[1], b, VT_PUBKEY_BYTES);
    pk_of(pks[2], 0x33); /* never seen: all zero */
    vt_arb_rep got[3];
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])pks, 3, got, NULL));
    VT_CHECK(got[0].c[VT_ARB_C_JOBS] == 6 && got[0].c[VT_ARB_C_VERIFIED] == 4 &&
                 got[0].c[VT_ARB_C_VERDICTS] == 5 && got[0].c[VT_ARB_C_AUDITS_FAILED] == 1 &&
                 got[0].c[VT_ARB_C_FAILED] == 0,
             "node a counters");
    VT_CHECK(got[1].c[VT_ARB_C_VERDICTS] == 5 && got[1].c[VT_ARB_C_JOBS] == 0, "node b counters");
    int64_t sum = 0;
    for (int c = 0; c < VT_ARB_C__COUNT; c++)
        sum += got[2].c[c];
    VT_CHECK_EQ_INT(sum, 0);
    /* The key schema the docs promise. */
    redisReply *rep;
    char hex[VT_NODE_ID_HEX + 1];
    vt_node_id(a, hex);
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "HGET verity:rep:{%s} jobs", hex));
    VT_CHECK(rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "6") == 0, "verity:rep:{pub} jobs");
    freeReplyObject(rep);
    /* A flush that meets an error reply says so. */
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "SET verity:rep:{%s} notahash", hex));
    freeReplyObject(rep);
    vt_errinfo ei = {0};
    VT_CHECK_ERR(vt_arb_store_add_rep(r, a, &d, &ei), VT_ERR_INTERNAL);
    VT_CHECK_OK(vt_redis_ping(r, NULL)); /* connection still in step */
    VT_REQUIRE_OK(vt_redis_command(r, &rep, NULL, "DEL verity:rep:{%s}", hex));
    freeReplyObject(rep);
    VT_CHECK_EQ_STR(vt_arb_counter_name(VT_ARB_C_AUDITS_PASSED), "audits_passed");
}

static void test_quarantine(vt_redis *r)
{
    uint8_t w[VT_PUBKEY_BYTES], v[VT_PUBKEY_BYTES], x[VT_PUBKEY_BYTES];
    pk_of(w, 0xb0);
    pk_of(v, 0xa0);
    pk_of(x, 0xc0);
    int64_t e0, e1, e2;
    VT_REQUIRE_OK(vt_arb_store_quarantine_epoch(r, &e0, NULL));
    bool q = true, newly = false;
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, w, &q, NULL));
    VT_CHECK(!q, "not quarantined yet");
    VT_CHECK_OK(vt_arb_store_quarantine(r, w, "job j1: failed by\t2 of 3\n", 1000, &newly, NULL));
    VT_CHECK(newly, "first quarantine is new");
    VT_CHECK_OK(vt_arb_store_quarantine(r, w, "again", 2000, &newly, NULL));
    VT_CHECK(!newly, "second quarantine changes nothing");
    size_t n = 0;
    VT_CHECK_OK(vt_arb_store_queue_quarantine(r, v, "audit failed", 3000, &n, NULL));
    VT_CHECK_OK(vt_arb_store_flush(r, n, NULL));
    VT_REQUIRE_OK(vt_arb_store_quarantine_epoch(r, &e1, NULL));
    VT_CHECK_EQ_INT(e1, e0 + 2);
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, w, &q, NULL));
    VT_CHECK(q, "quarantined");
    vt_arb_rep rep;
    const uint8_t(*one)[VT_PUBKEY_BYTES] = (const uint8_t(*)[VT_PUBKEY_BYTES])w;
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, one, 1, &rep, NULL));
    VT_CHECK_EQ_INT(rep.c[VT_ARB_C_QUARANTINES], 1);

    vt_arb_qinfo *qi = NULL;
    VT_REQUIRE_OK(vt_arb_store_load_quarantined(r, &qi, &n, NULL));
    VT_REQUIRE(n == 2, "load: %zu quarantined", n);
    /* Sorted by key (0xa0.. < 0xb0..), reason cleaned, time kept. */
    VT_CHECK(memcmp(qi[0].pk, v, VT_PUBKEY_BYTES) == 0 && memcmp(qi[1].pk, w, VT_PUBKEY_BYTES) == 0,
             "sorted");
    VT_CHECK_EQ_STR(qi[0].reason, "audit failed");
    VT_CHECK_EQ_STR(qi[1].reason, "job j1: failed by 2 of 3 ");
    VT_CHECK_EQ_INT(qi[1].since_ms, 1000);

    vt_arb_qset s;
    vt_arb_qset_init(&s);
    VT_CHECK_OK(vt_arb_qset_assign(&s, qi, n));
    VT_CHECK(vt_arb_qset_has(&s, w) && vt_arb_qset_has(&s, v) && !vt_arb_qset_has(&s, x), "qset");
    free(qi);

    /* Release: once, with a reason in the history. */
    vt_errinfo ei = {0};
    VT_CHECK_OK(vt_arb_store_release(r, w, "replaced the GPU", 4000, NULL));
    VT_CHECK_ERR(vt_arb_store_release(r, w, "again", 5000, &ei), VT_ERR_NOTFOUND);
    VT_CHECK_ERR(vt_arb_store_release(r, x, "never was", 5000, NULL), VT_ERR_NOTFOUND);
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, w, &q, NULL));
    VT_CHECK(!q, "released");
    VT_REQUIRE_OK(vt_arb_store_quarantine_epoch(r, &e2, NULL));
    VT_CHECK_EQ_INT(e2, e1 + 1);
    VT_REQUIRE_OK(vt_arb_store_load_quarantined(r, &qi, &n, NULL));
    VT_CHECK(n == 1 && memcmp(qi[0].pk, v, VT_PUBKEY_BYTES) == 0, "one left after release");
    VT_CHECK_OK(vt_arb_qset_assign(&s, qi, n));
    VT_CHECK(!vt_arb_qset_has(&s, w) && vt_arb_qset_has(&s, v), "qset after reload");
    free(qi);
    vt_arb_qset_free(&s);

    vt_arb_history *h = NULL;
    VT_REQUIRE_OK(vt_arb_store_history(r, 10, &h, &n, NULL));
    VT_REQUIRE(n == 3, "history has %zu entries", n);
    VT_CHECK(h[0].release && h[0].ms == 4000 && memcmp(h[0].pk, w, VT_PUBKEY_BYTES) == 0 &&
                 strcmp(h[0].reason, "replaced the GPU") == 0,
             "newest entry is the release");
    VT_CHECK(!h[1].release && h[1].ms == 3000 && !h[2].release && h[2].ms == 1000, "older entries");
    free(h);
    /* Quarantined again after a release: counted again. */
    VT_CHECK_OK(vt_arb_store_quarantine(r, w, "relapse", 6000, &newly, NULL));
    VT_CHECK(newly, "re-quarantine is new");
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, one, 1, &rep, NULL));
    VT_CHECK_EQ_INT(rep.c[VT_ARB_C_QUARANTINES], 2);
    VT_CHECK_OK(vt_arb_store_release(r, w, NULL, 7000, NULL));
    VT_CHECK_OK(vt_arb_store_release(r, v, "", 7000, NULL));
}

static void test_recent(vt_redis *r)
{
    uint8_t w[VT_PUBKEY_BYTES];
    pk_of(w, 0x44);
    char id[32];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof id, "job-%d", i);
        if (i % 2) {
            VT_CHECK_OK(vt_arb_store_add_recent(r, w, id, 10, NULL));
        } else {
            size_t n = 0;
            VT_CHECK_OK(vt_arb_store_queue_recent(r, w, id, 10, &n, NULL));
            VT_CHECK_OK(vt_arb_store_flush(r, n, NULL));
        }
    }
    char(*ids)[VT_JOB_ID_MAX + 1] = NULL;
    size_t n = 0;
    VT_REQUIRE_OK(vt_arb_store_recent(r, w, 100, &ids, &n, NULL));
    VT_CHECK_EQ_INT(n, 10); /* capped at the window */
    bool order = n == 10;
    for (size_t i = 0; order && i < n; i++) {
        snprintf(id, sizeof id, "job-%zu", 24 - i);
        order = strcmp(ids[i], id) == 0;
    }
    VT_CHECK(order, "newest first, the 10 newest");
    free(ids);
    VT_REQUIRE_OK(vt_arb_store_recent(r, w, 3, &ids, &n, NULL));
    VT_CHECK(n == 3 && strcmp(ids[0], "job-24") == 0, "max 3");
    free(ids);
    /* Window shrinks: the next push trims to it. */
    VT_CHECK_OK(vt_arb_store_add_recent(r, w, "job-25", 4, NULL));
    VT_REQUIRE_OK(vt_arb_store_recent(r, w, 100, &ids, &n, NULL));
    VT_CHECK_EQ_INT(n, 4);
    free(ids);
    VT_CHECK_ERR(vt_arb_store_add_recent(r, w, "bad id with spaces", 4, NULL), VT_ERR_INVAL);
    VT_CHECK_ERR(vt_arb_store_add_recent(r, w, "ok", 0, NULL), VT_ERR_INVAL);
    uint8_t none[VT_PUBKEY_BYTES];
    pk_of(none, 0x45);
    VT_CHECK_OK(vt_arb_store_recent(r, none, 10, &ids, &n, NULL));
    VT_CHECK(n == 0 && ids == NULL, "empty window");
}

/* A dispute lost by the worker (votes F P F): queued effects, one flush. */
static void test_decision(vt_redis *r)
{
    uint8_t w[VT_PUBKEY_BYTES], v[3][VT_PUBKEY_BYTES];
    pk_of(w, 0x50);
    vt_arb_tally t;
    vt_arb_tally_init(&t);
    for (int i = 0; i < 3; i++) {
        pk_of(v[i], (uint8_t)(0x51 + i));
        VT_REQUIRE_OK(vt_arb_tally_add(&t, v[i], i == 1, VT_FAULT_WRONG_TOKEN));
    }
    vt_arb_decision d;
    VT_REQUIRE_OK(vt_arb_decide(&t, 1, 0, &d));
    VT_REQUIRE(d.outcome == VT_ARB_WORKER_FAULTY, "FPF: worker faulty");
    size_t n = 0;
    VT_CHECK_OK(vt_arb_store_queue_decision(r, w, "job-77", &t, &d, 9000, &n, NULL));
    VT_CHECK_OK(vt_arb_store_flush(r, n, NULL));
    const uint8_t(*all)[VT_PUBKEY_BYTES] = (const uint8_t(*)[VT_PUBKEY_BYTES])v;
    vt_arb_rep reps[3], wr;
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, all, 3, reps, NULL));
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])w, 1, &wr, NULL));
    VT_CHECK(wr.c[VT_ARB_C_FAILED] == 1 && wr.c[VT_ARB_C_QUARANTINES] == 1, "worker failed + quarantined");
    for (int i = 0; i < 3; i++)
        VT_CHECK(reps[i].c[VT_ARB_C_VERDICTS] == 1 && reps[i].c[VT_ARB_C_OVERRULED] == (i == 1) &&
                     reps[i].c[VT_ARB_C_QUARANTINES] == (i == 1),
                 "verifier %d counters", i);
    bool q;
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, w, &q, NULL));
    VT_CHECK(q, "worker quarantined");
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, v[1], &q, NULL));
    VT_CHECK(q, "passing verifier quarantined");
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, v[0], &q, NULL));
    VT_CHECK(!q, "failing verifier not quarantined");
    vt_arb_qinfo *qi;
    VT_REQUIRE_OK(vt_arb_store_load_quarantined(r, &qi, &n, NULL));
    bool named = false;
    for (size_t i = 0; i < n; i++)
        if (memcmp(qi[i].pk, w, VT_PUBKEY_BYTES) == 0)
            named = strstr(qi[i].reason, "job-77") && strstr(qi[i].reason, "2 of 3");
    VT_CHECK(named, "worker's reason names the job and the count");
    free(qi);
    /* Undecided tallies queue nothing. */
    vt_arb_tally_init(&t);
    VT_REQUIRE_OK(vt_arb_tally_add(&t, v[0], false, VT_FAULT_WRONG_TOKEN));
    VT_REQUIRE_OK(vt_arb_decide(&t, 1, 0, &d));
    n = 0;
    VT_CHECK_OK(vt_arb_store_queue_decision(r, w, "job-78", &t, &d, 9000, &n, NULL));
    VT_CHECK_EQ_INT(n, 0);
}

/* Result accepted, audits judged: the per-event helpers. */
static void test_events(vt_redis *r)
{
    uint8_t w[VT_PUBKEY_BYTES], v[VT_PUBKEY_BYTES];
    pk_of(w, 0x60);
    pk_of(v, 0x61);
    size_t n = 0;
    VT_CHECK_OK(vt_arb_store_queue_result(r, w, "job-a", 5, &n, NULL));
    VT_CHECK_OK(vt_arb_store_queue_result(r, w, "job-b", 5, &n, NULL));
    VT_CHECK_ERR(vt_arb_store_queue_result(r, w, "bad id", 5, &n, NULL), VT_ERR_INVAL);
    VT_CHECK_OK(vt_arb_store_queue_audit(r, v, "job-a", true, VT_ARB_AUDIT_OK, 1, &n, NULL));
    VT_CHECK_OK(vt_arb_store_queue_audit(r, v, "job-b", false, VT_ARB_VERIFIER_LIES, 2, &n, NULL));
    VT_CHECK_OK(vt_arb_store_flush(r, n, NULL));
    vt_arb_rep wr, vr;
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])w, 1, &wr, NULL));
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])v, 1, &vr, NULL));
    VT_CHECK_EQ_INT(wr.c[VT_ARB_C_JOBS], 2);
    VT_CHECK(vr.c[VT_ARB_C_AUDITS_PASSED] == 1 && vr.c[VT_ARB_C_AUDITS_FAILED] == 1 &&
                 vr.c[VT_ARB_C_QUARANTINES] == 1,
             "audit counters");
    char(*ids)[VT_JOB_ID_MAX + 1] = NULL;
    VT_REQUIRE_OK(vt_arb_store_recent(r, w, 10, &ids, &n, NULL));
    VT_CHECK(n == 2 && strcmp(ids[0], "job-b") == 0, "recent after results");
    free(ids);
    vt_arb_qinfo *qi;
    VT_REQUIRE_OK(vt_arb_store_load_quarantined(r, &qi, &n, NULL));
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= memcmp(qi[i].pk, v, VT_PUBKEY_BYTES) == 0 &&
                 strstr(qi[i].reason, "passed a corrupted result") != NULL;
    VT_CHECK(found, "lying verifier quarantined with the reason");
    free(qi);
}

/* Read every counter and the recent list of the nodes pk_of(tag0 + i). */
static void read_state(vt_redis *r, uint8_t tag0, int n, vt_arb_rep *reps,
                       char (**recent)[VT_JOB_ID_MAX + 1], size_t *n_recent)
{
    uint8_t pks[4][VT_PUBKEY_BYTES];
    for (int i = 0; i < n; i++)
        pk_of(pks[i], (uint8_t)(tag0 + i));
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])pks, (size_t)n, reps,
                                        NULL));
    VT_REQUIRE_OK(vt_arb_store_recent(r, pks[0], 100, recent, n_recent, NULL));
}

/* The same events, once command by command and once gathered (on other
 * nodes): the same counters and recent list, in far fewer commands. */
static void test_gather(vt_redis *r)
{
    enum { JOBS = 12 };
    vt_arb_gather g;
    vt_arb_gather_init(&g);
    size_t n_each = 0, n_gathered = 0;
    for (int round = 0; round < 2; round++) {
        uint8_t base = round == 0 ? 0x80 : 0x90; /* worker, verifier, verifier */
        uint8_t w[VT_PUBKEY_BYTES], v[2][VT_PUBKEY_BYTES];
        pk_of(w, base);
        pk_of(v[0], (uint8_t)(base + 1));
        pk_of(v[1], (uint8_t)(base + 2));
        size_t n = 0;
        for (int j = 0; j < JOBS; j++) {
            char id[32];
            snprintf(id, sizeof id, "job-g%d", j);
            vt_arb_tally t;
            vt_arb_tally_init(&t);
            VT_REQUIRE_OK(vt_arb_tally_add(&t, v[j % 2], true, VT_FAULT_NONE));
            vt_arb_decision d;
            VT_REQUIRE_OK(vt_arb_decide(&t, 1, 0, &d));
            VT_REQUIRE(d.outcome == VT_ARB_VERIFIED, "one passing verdict verifies");
            vt_arb_audit_result ar = j == 5 ? VT_ARB_VERIFIER_LIES : VT_ARB_AUDIT_OK;
            if (round == 0) {
                VT_CHECK_OK(vt_arb_store_queue_result(r, w, id, 8, &n, NULL));
                VT_CHECK_OK(vt_arb_store_queue_decision(r, w, id, &t, &d, 100, &n, NULL));
                VT_CHECK_OK(vt_arb_store_queue_audit(r, v[1], id, true, ar, 100, &n, NULL));
            } else {
                VT_CHECK_OK(vt_arb_gather_result(&g, w, id, 8, NULL));
                VT_CHECK_OK(vt_arb_gather_decision(&g, r, w, id, &t, &d, 100, &n, NULL));
                VT_CHECK_OK(vt_arb_gather_audit(&g, r, v[1], id, true, ar, 100, &n, NULL));
            }
        }
        if (round == 1) {
            VT_CHECK_ERR(vt_arb_gather_result(&g, w, "bad id", 8, NULL), VT_ERR_INVAL);
            VT_CHECK_OK(vt_arb_gather_queue(&g, r, &n, NULL));
            VT_CHECK_EQ_INT(g.n, 0);
        }
        VT_CHECK_EQ_INT(vt_redis_pending(r), n);
        VT_CHECK_OK(vt_arb_store_flush(r, n, NULL));
        *(round == 0 ? &n_each : &n_gathered) = n;
    }
    /* Per event: result 3 + decision 2 + audit 1 per job, one quarantine
     * script. Gathered: worker jobs + verified, LPUSH, LTRIM; verifier 0
     * verdicts; verifier 1 verdicts, audits passed, audits failed; the
     * same quarantine script. */
    VT_CHECK_EQ_INT(n_each, 6 * JOBS + 1);
    VT_CHECK_EQ_INT(n_gathered, 4 + 1 + 3 + 1);
    vt_arb_rep a[3], b[3];
    char(*ra)[VT_JOB_ID_MAX + 1] = NULL, (*rb)[VT_JOB_ID_MAX + 1] = NULL;
    size_t na = 0, nb = 0;
    read_state(r, 0x80, 3, a, &ra, &na);
    read_state(r, 0x90, 3, b, &rb, &nb);
    VT_CHECK(memcmp(a, b, sizeof a) == 0, "same counters gathered as per event");
    VT_CHECK(a[0].c[VT_ARB_C_JOBS] == JOBS && a[0].c[VT_ARB_C_VERIFIED] == JOBS &&
                 a[2].c[VT_ARB_C_AUDITS_FAILED] == 1 && a[2].c[VT_ARB_C_QUARANTINES] == 1,
             "the counters themselves");
    bool same = na == 8 && nb == 8;
    for (size_t i = 0; same && i < na; i++)
        same = strcmp(ra[i], rb[i]) == 0;
    VT_CHECK(same && strcmp(rb[0], "job-g11") == 0, "same recent list (window 8, newest first)");
    free(ra);
    free(rb);
    /* The gatherer is reusable after a queue. */
    uint8_t x[VT_PUBKEY_BYTES];
    pk_of(x, 0x83);
    vt_arb_rep one = {{0}};
    one.c[VT_ARB_C_JOBS] = 2;
    VT_CHECK_OK(vt_arb_gather_rep(&g, x, &one, NULL));
    VT_CHECK_OK(vt_arb_gather_rep(&g, x, &one, NULL));
    size_t n = 0;
    VT_CHECK_OK(vt_arb_gather_queue(&g, r, &n, NULL));
    VT_CHECK_EQ_INT(n, 1);
    VT_CHECK_OK(vt_arb_store_flush(r, n, NULL));
    vt_arb_rep got;
    VT_REQUIRE_OK(vt_arb_store_get_reps(r, (const uint8_t(*)[VT_PUBKEY_BYTES])x, 1, &got, NULL));
    VT_CHECK_EQ_INT(got.c[VT_ARB_C_JOBS], 4);
    vt_arb_gather_free(&g);
}

/* Someone (or something) wrote junk into our keys: loads skip it. */
static void test_junk(vt_redis *r)
{
    const char *cmds[][6] = {
        {"SADD", "verity:quarantine", "not-a-key", "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB", NULL},
        {"LPUSH", "verity:quarantine:history", "garbage", "12\tquarantine\tzz\tx", NULL},
        {"LPUSH", "verity:quarantine:history", "12x\tquarantine\tabababababababababababababababababababababababababababababababab\tx", NULL},
        {"LPUSH", "verity:quarantine:history", "13\tfrobnicate\tabababababababababababababababababababababababababababababababab\tx", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int argc = 0;
        while (cmds[i][argc])
            argc++;
        redisReply *rep;
        VT_REQUIRE_OK(vt_redis_commandv(r, &rep, NULL, argc, cmds[i], NULL));
        freeReplyObject(rep);
    }
    uint8_t pk[VT_PUBKEY_BYTES];
    pk_of(pk, 0x70);
    VT_REQUIRE_OK(vt_arb_store_quarantine(r, pk, "real", 5, NULL, NULL));
    vt_arb_qinfo *q;
    size_t n;
    VT_REQUIRE_OK(vt_arb_store_load_quarantined(r, &q, &n, NULL));
    bool only_valid = true, found = false;
    for (size_t i = 0; i < n; i++) {
        found |= memcmp(q[i].pk, pk, VT_PUBKEY_BYTES) == 0;
        only_valid &= q[i].pk[0] != 0xab; /* the uppercase member is not ours */
    }
    VT_CHECK(found && only_valid, "junk members skipped, real one kept");
    free(q);
    vt_arb_history *h;
    VT_REQUIRE_OK(vt_arb_store_history(r, 10, &h, &n, NULL));
    VT_CHECK(n >= 1 && h[0].ms == 5 && strcmp(h[0].reason, "real") == 0, "history newest is the real entry");
    for (size_t i = 0; i < n; i++)
        VT_CHECK(h[i].ms != 12 && h[i].ms != 13, "junk history entry parsed");
    free(h);
    VT_CHECK_OK(vt_arb_store_release(r, pk, "done", 6, NULL));
    /* A recent list with a junk entry: skipped. */
    char key[128], hex[VT_NODE_ID_HEX + 1];
    vt_node_id(pk, hex);
    snprintf(key, sizeof key, "verity:recent:{%s}", hex);
    const char *push[] = {"RPUSH", key, "ok-1", "bad id!", "ok-2"};
    redisReply *rep;
    VT_REQUIRE_OK(vt_redis_commandv(r, &rep, NULL, 5, push, NULL));
    freeReplyObject(rep);
    char(*ids)[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(vt_arb_store_recent(r, pk, 10, &ids, &n, NULL));
    VT_CHECK(n == 2 && strcmp(ids[0], "ok-1") == 0 && strcmp(ids[1], "ok-2") == 0, "junk recent skipped");
    free(ids);
}

static void test_render(void)
{
    vt_arb_node_rep nodes[2];
    memset(nodes, 0, sizeof nodes);
    pk_of(nodes[0].pk, 0xab);
    nodes[0].role = "worker";
    nodes[0].rep.c[VT_ARB_C_JOBS] = 12;
    nodes[0].quarantined = true;
    pk_of(nodes[1].pk, 0xcd);
    nodes[1].role = "bad\"role";
    vt_strbuf sb = VT_STRBUF_INIT;
    vt_arb_render_metrics(&sb, nodes, 2);
    const char *t = vt_strbuf_cstr(&sb);
    VT_CHECK(strstr(t, "verity_node_jobs_total{node=\"abababababababab\",role=\"worker\"} 12\n") != NULL,
             "jobs sample: %s", t);
    VT_CHECK(strstr(t, "verity_node_quarantined{node=\"abababababababab\",role=\"worker\"} 1\n") != NULL,
             "quarantined gauge");
    VT_CHECK(strstr(t, "role=\"?\"") != NULL && strstr(t, "bad\"role") == NULL, "odd role not echoed");
    VT_CHECK(strstr(t, "# TYPE verity_node_audits_failed_total counter") != NULL, "type line");
    vt_strbuf_free(&sb);
}

int main(void)
{
    test_render();
    vt_ts_redis rs;
    int rv = vt_ts_redis_start(&rs);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE_OK(rv);
    vt_redis *r = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 2000, 5000, NULL));
    test_counters(r);
    test_quarantine(r);
    test_recent(r);
    test_decision(r);
    test_events(r);
    test_gather(r);
    test_junk(r);
    vt_redis_close(r);
    vt_ts_redis_stop(&rs);
    return vt_test_done();
}
