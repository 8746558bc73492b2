/* test_msg.c - every message round-trips; hostile bytes give the right
 * vt_err and never crash or allocate hugely (run under ASan in CI). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samples.h"

static int decode(const vt_buf *b, vt_msg *m, vt_errinfo *ei)
{
    memset(ei, 0, sizeof *ei);
    return vt_msg_decode(b->data, b->len, m, ei);
}

/* encode -> decode -> encode gives the same bytes, for every type. */
static void test_roundtrip_all(void)
{
    for (int t = VT_MSG_ERROR; t < VT_MSG__COUNT; t++) {
        vt_buf a, b;
        vt_msg m;
        vt_errinfo ei;
        sample_encode((vt_msg_type)t, &a);
        int rv = decode(&a, &m, &ei);
        if (rv)
            fprintf(stderr, "%s: %s\n", vt_msg_type_name(t), vt_errinfo_msg(&ei));
        CHECK(rv == 0);
        CHECK(m.type == (vt_msg_type)t);
        CHECK(m.minor == VT_PROTO_MINOR);
        vt_buf_init(&b, 0);
        CHECK(vt_msg_encode(&m, &b, &ei) == 0);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        vt_msg_free(&m);
        vt_buf_free(&a);
        vt_buf_free(&b);
    }
}

/* Spot-check that values survive exactly (round-trip equality alone would
 * not catch a field that is silently dropped by both directions). */
static void test_field_values(void)
{
    vt_buf b;
    vt_msg m;
    vt_errinfo ei;

    sample_encode(VT_MSG_SUBMIT, &b);
    CHECK(decode(&b, &m, &ei) == 0);
    const vt_job_spec *j = &m.u.submit.job;
    CHECK(strcmp(m.u.submit.api_key, "vtk_ag_k3j2mq7xzt4a_00112233") == 0);
    CHECK(strcmp(j->model, "tiny") == 0);
    CHECK(j->prompt_len == 12 && memcmp(j->prompt, "Hello, world", 12) == 0);
    CHECK(j->prompt_tokens == NULL && j->n_prompt_tokens == 0);
    CHECK(j->max_tokens == 32 && j->priority == -5 && j->deadline_ms == 60000);
    CHECK(j->sampling.temperature == 0.75f && j->sampling.top_k == 40);
    CHECK(j->sampling.top_p == 0.9f && j->sampling.seed == 0x123456789abcull);
    CHECK(j->n_stop == 3 && strcmp(j->stop[1], "User:") == 0);
    CHECK(strcmp(j->verify, "full:2") == 0 && strcmp(j->delivery, "optimistic") == 0);
    CHECK(j->memory_k == 4 && j->remember && strcmp(j->memory_query, "what did I say about cats") == 0);
    CHECK(j->request_token[0] == 3 && j->request_token[15] == (uint8_t)(3 + 7 * 15));
    vt_msg_free(&m);
    vt_buf_free(&b);

    sample_encode(VT_MSG_RESULT_OK, &b);
    CHECK(decode(&b, &m, &ei) == 0);
    const vt_msg_result_ok *r = &m.u.result_ok;
    CHECK(r->state == VT_JOB_VERIFIED && r->stop_reason == VT_STOP_EOS);
    CHECK(r->text_len == 15 && memcmp(r->text, "The quick\0brown", 15) == 0 && r->text[15] == 0);
    CHECK(r->n_tokens == 6 && r->tokens[0] == 450 && r->tokens[5] == 2);
    CHECK(r->n_embedding == 4 && r->embedding[1] == -1.25f && r->embedding[2] == 3.0e-8f);
    CHECK(r->n_verdicts == 2 && !r->verdicts[1].pass && r->verdicts[1].fault == VT_FAULT_WRONG_DIGEST);
    CHECK(r->verdicts[0].first_divergence == VT_POS_NONE && r->verdicts[1].first_divergence == 17);
    CHECK(r->receipt_len == 6 && r->receipt[0] == 0xde);
    vt_msg_free(&m);
    vt_buf_free(&b);

    sample_encode(VT_MSG_FETCH_OK, &b);
    CHECK(decode(&b, &m, &ei) == 0);
    CHECK(m.u.fetch_ok.n_jobs == 2);
    CHECK(m.u.fetch_ok.jobs[0].prompt[3] == -7 && m.u.fetch_ok.jobs[0].prompt[4] == 2147483647);
    CHECK(m.u.fetch_ok.jobs[1].kind == VT_KIND_EMBED && m.u.fetch_ok.jobs[1].n_stop == 3);
    vt_msg_free(&m);
    vt_buf_free(&b);

    sample_encode(VT_MSG_HEARTBEAT, &b);
    CHECK(decode(&b, &m, &ei) == 0);
    CHECK(m.u.heartbeat.n_lease_ids == 4 && m.u.heartbeat.lease_ids[2] == 0xffffffffffffffffull);
    vt_msg_free(&m);
    vt_buf_free(&b);

    sample_encode(VT_MSG_RESULTS, &b);
    CHECK(decode(&b, &m, &ei) == 0);
    CHECK(m.u.results.n_results == 3 && m.u.results.results[2].status == VT_ERR_NOMODEL);
    CHECK(m.u.results.results[1].proof.index == 1 && m.u.results.results[1].proof.path_len == 2);
    CHECK(m.u.results.results[0].n_layers == 4 && m.u.results.results[0].layer_digests[0] == 9);
    vt_msg_free(&m);
    vt_buf_free(&b);

    /* error replies: the encoder fills the stable name; decode_expect maps
     * them to their code and keeps retry_ms */
    sample_encode(VT_MSG_ERROR, &b);
    memset(&ei, 0, sizeof ei);
    CHECK(vt_msg_decode_expect(b.data, b.len, VT_MSG_SUBMIT_OK, &m, &ei) == VT_ERR_OVERLOADED);
    CHECK(m.type == VT_MSG_ERROR && m.u.error.retry_ms == 250);
    CHECK(strcmp(m.u.error.name, vt_errname(VT_ERR_OVERLOADED)) == 0);
    CHECK(strstr(ei.detail, "queue full") != NULL);
    vt_msg_free(&m);
    vt_buf_free(&b);

    /* a reply of the wrong type */
    sample_encode(VT_MSG_CANCEL_OK, &b);
    CHECK(vt_msg_decode_expect(b.data, b.len, VT_MSG_SUBMIT_OK, &m, &ei) == VT_ERR_PROTO);
    CHECK(m.type == VT_MSG_NONE);
    vt_buf_free(&b);

    vt_buf_init(&b, 0);
    CHECK(vt_msg_encode_error(&b, VT_ERR_AUTH, NULL, 0) == 0);
    CHECK(decode(&b, &m, &ei) == 0 && m.u.error.code == VT_ERR_AUTH);
    CHECK(strcmp(m.u.error.name, vt_errname(VT_ERR_AUTH)) == 0);
    vt_msg_free(&m);
    vt_buf_free(&b);
}

/* Every proper prefix of every valid message is refused as malformed. */
static void test_truncations(void)
{
    for (int t = VT_MSG_ERROR; t < VT_MSG__COUNT; t++) {
        vt_buf b;
        sample_encode((vt_msg_type)t, &b);
        for (size_t k = 0; k < b.len; k++) {
            vt_msg m;
            vt_errinfo ei = {0};
            int rv = vt_msg_decode(b.data, k, &m, &ei);
            if (rv != VT_ERR_PROTO)
                fprintf(stderr, "%s cut at %zu: %d %s\n", vt_msg_type_name(t), k, rv, ei.detail);
            CHECK(rv == VT_ERR_PROTO);
            CHECK(m.type == VT_MSG_NONE && m.arena_ == NULL);
        }
        /* and trailing garbage after a complete message */
        uint8_t extra = 0xc0;
        CHECK(vt_buf_append(&b, &extra, 1) == 0);
        vt_msg m;
        CHECK(vt_msg_decode(b.data, b.len, &m, NULL) == VT_ERR_PROTO);
        vt_buf_free(&b);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random bytes and random mutations of valid messages: any outcome but a
 * crash is fine, and whatever decodes must encode again (the decoder never
 * accepts what the encoder would refuse). */
static void test_garbage_and_mutations(void)
{
    uint8_t buf[512];
    for (int i = 0; i < 20000; i++) {
        size_t n = rnd() % sizeof buf;
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)rnd();
        if (n && i % 2)
            buf[0] = 0x80 | (buf[0] & 0x0f); /* start like a map to get further */
        vt_msg m;
        int rv = vt_msg_decode(buf, n, &m, NULL);
        CHECK(rv < 0 || rv == 0);
        vt_msg_free(&m);
    }
    int decoded = 0;
    for (int t = VT_MSG_ERROR; t < VT_MSG__COUNT; t++) {
        vt_buf b;
        sample_encode((vt_msg_type)t, &b);
        uint8_t *copy = malloc(b.len);
        for (int i = 0; i < 1500; i++) {
            memcpy(copy, b.data, b.len);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++)
                copy[rnd() % b.len] = (uint8_t)rnd();
            vt_msg m;
            vt_errinfo ei = {0};
            int rv = vt_msg_decode(copy, b.len, &m, &ei);
            if (rv == 0) {
                decoded++;
                vt_buf again;
                vt_buf_init(&again, 0);
                int rv2 = vt_msg_encode(&m, &again, &ei);
                if (rv2)
                    fprintf(stderr, "%s: decoded but cannot re-encode: %s\n",
                            vt_msg_type_name(t), ei.detail);
                CHECK(rv2 == 0);
                vt_buf_free(&again);
            } else {
                CHECK(rv == VT_ERR_PROTO || rv == VT_ERR_TOOBIG || rv == VT_ERR_VERSION);
            }
            vt_msg_free(&m);
        }
        free(copy);
        vt_buf_free(&b);
    }
    CHECK(decoded > 0); /* mutations of payload bytes keep many messages valid */
}

/* --------------------------------------------------- hand-built messages */

static void env(vt_buf *w, const char *type, uint32_t n_fields, uint64_t major)
{
    vt_buf_init(w, 64u << 20);
    CHECK(vt_mp_write_map(w, n_fields + 2) == 0);
    CHECK(vt_mp_write_cstr(w, "v") == 0 && vt_mp_write_uint(w, major) == 0);
    CHECK(vt_mp_write_cstr(w, "t") == 0 && vt_mp_write_cstr(w, type) == 0);
}

static int decode_expecting(vt_buf *w, int want, const char *detail_part)
{
    vt_msg m;
    vt_errinfo ei = {0};
    int rv = vt_msg_decode(w->data, w->len, &m, &ei);
    if (rv != want || (detail_part && !strstr(ei.detail, detail_part))) {
        fprintf(stderr, "want %d containing \"%s\", got %d \"%s\"\n", want,
                detail_part ? detail_part : "", rv, ei.detail);
        exit(1);
    }
    vt_msg_free(&m);
    vt_buf_free(w);
    return rv;
}

static void kv_str(vt_buf *w, const char *k, const char *v)
{
    CHECK(vt_mp_write_cstr(w, k) == 0 && vt_mp_write_cstr(w, v) == 0);
}
static void kv_uint(vt_buf *w, const char *k, uint64_t v)
{
    CHECK(vt_mp_write_cstr(w, k) == 0 && vt_mp_write_uint(w, v) == 0);
}
static void kv_bin(vt_buf *w, const char *k, size_t n)
{
    uint8_t zero[64] = {0};
    CHECK(n <= sizeof zero);
    CHECK(vt_mp_write_cstr(w, k) == 0 && vt_mp_write_bin(w, zero, n) == 0);
}

/* A minimal valid submit's required fields (5 entries). */
static void submit_base(vt_buf *w, uint32_t extra, const char *key)
{
    env(w, "submit", 5 + extra, 1);
    kv_str(w, "key", key);
    kv_str(w, "model", "tiny");
    kv_str(w, "prompt", "hi");
    kv_uint(w, "max_tokens", 8);
    kv_bin(w, "req_token", 16);
}

static void test_hostile_structure(void)
{
    vt_buf w;
    /* baseline is valid */
    submit_base(&w, 0, "k");
    decode_expecting(&w, 0, NULL);

    /* unknown fields, even nested ones, are ignored */
    submit_base(&w, 2, "k");
    CHECK(vt_mp_write_cstr(&w, "future_field") == 0 && vt_mp_write_map(&w, 1) == 0);
    kv_str(&w, "a", "b");
    CHECK(vt_mp_write_cstr(&w, "future_list") == 0 && vt_mp_write_array(&w, 2) == 0);
    CHECK(vt_mp_write_nil(&w) == 0 && vt_mp_write_f64(&w, 1.5) == 0);
    decode_expecting(&w, 0, NULL);

    /* unknown major version */
    env(&w, "submit", 0, 2);
    decode_expecting(&w, VT_ERR_VERSION, "protocol major 2 not supported (this build speaks 1)");

    /* missing "v", missing "t", unknown type */
    vt_buf_init(&w, 0);
    CHECK(vt_mp_write_map(&w, 1) == 0);
    kv_str(&w, "t", "submit");
    decode_expecting(&w, VT_ERR_PROTO, "'v'");
    env(&w, "nonsense", 0, 1);
    decode_expecting(&w, VT_ERR_PROTO, "unknown message type");

    /* wrong types and missing required fields name the field */
    env(&w, "submit", 5, 1);
    kv_str(&w, "key", "k");
    kv_str(&w, "model", "tiny");
    kv_str(&w, "prompt", "hi");
    kv_str(&w, "max_tokens", "8");
    kv_bin(&w, "req_token", 16);
    decode_expecting(&w, VT_ERR_PROTO, "field 'max_tokens': expected uint, got str");
    env(&w, "submit", 4, 1);
    kv_str(&w, "model", "tiny");
    kv_str(&w, "prompt", "hi");
    kv_uint(&w, "max_tokens", 8);
    kv_bin(&w, "req_token", 16);
    decode_expecting(&w, VT_ERR_PROTO, "field 'key': missing");
    submit_base(&w, 1, "k");
    kv_bin(&w, "req_token", 16);
    decode_expecting(&w, VT_ERR_PROTO, "repeated");
    /* the envelope's keys may not repeat either, whether the decoder stops
     * reading the envelope early ("v", "vm", "t" first, as our encoder
     * writes them) or walks the whole map for it (no "vm") */
    for (int with_vm = 0; with_vm <= 1; with_vm++)
        for (int which = 0; which < 2; which++) {
            vt_buf_init(&w, 0);
            CHECK(vt_mp_write_map(&w, 5 + 2 + (uint32_t)with_vm + 1) == 0);
            kv_uint(&w, "v", 1);
            if (with_vm)
                kv_uint(&w, "vm", 0);
            kv_str(&w, "t", "submit");
            kv_str(&w, "key", "k");
            kv_str(&w, "model", "tiny");
            kv_str(&w, "prompt", "hi");
            kv_uint(&w, "max_tokens", 8);
            kv_bin(&w, "req_token", 16);
            if (which == 0)
                kv_uint(&w, "v", 1);
            else
                kv_str(&w, "t", "submit");
            decode_expecting(&w, VT_ERR_PROTO, "repeated");
        }
    /* any order: fields reversed, the envelope last */
    vt_buf_init(&w, 0);
    CHECK(vt_mp_write_map(&w, 5 + 3) == 0);
    kv_bin(&w, "req_token", 16);
    kv_uint(&w, "max_tokens", 8);
    kv_str(&w, "prompt", "hi");
    kv_str(&w, "model", "tiny");
    kv_str(&w, "key", "k");
    kv_str(&w, "t", "submit");
    kv_uint(&w, "vm", 7);
    kv_uint(&w, "v", 1);
    decode_expecting(&w, 0, NULL);
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "sampling") == 0 && vt_mp_write_map(&w, 1) == 0);
    CHECK(vt_mp_write_cstr(&w, "temp") == 0 && vt_mp_write_f64(&w, NAN) == 0);
    decode_expecting(&w, VT_ERR_PROTO, "temp");
    submit_base(&w, 1, "k");
    kv_str(&w, "verify", "full:0");
    decode_expecting(&w, VT_ERR_PROTO, "verify");
    submit_base(&w, 1, "k");
    kv_str(&w, "kind", "dance");
    decode_expecting(&w, VT_ERR_PROTO, "field 'kind': unknown value");
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "prompt_tokens") == 0 && vt_mp_write_bin(&w, "\1\0\0\0", 4) == 0);
    decode_expecting(&w, VT_ERR_PROTO, "exactly one");
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "priority") == 0 && vt_mp_write_int(&w, INT64_MIN) == 0);
    decode_expecting(&w, VT_ERR_PROTO, "priority");
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "deadline_ms") == 0 && vt_mp_write_int(&w, -1) == 0);
    decode_expecting(&w, VT_ERR_PROTO, "deadline_ms");
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "model") == 0); /* key only: map ends early */
    decode_expecting(&w, VT_ERR_PROTO, NULL);
    submit_base(&w, 0, "k\0x"); /* cstr stops at NUL: still valid "k" */
    decode_expecting(&w, 0, NULL);
    env(&w, "submit_ok", 1, 1);
    kv_str(&w, "job_id", "bad id!");
    decode_expecting(&w, VT_ERR_PROTO, "identifier");
    env(&w, "hello_ok", 4, 1);
    kv_str(&w, "session", "s");
    kv_uint(&w, "lease_ms", 1);
    kv_uint(&w, "heartbeat_ms", 1);
    kv_bin(&w, "scheduler", 31);
    decode_expecting(&w, VT_ERR_PROTO, "expected 32 bytes, got 31");

    /* nested errors name the path */
    env(&w, "fetch_ok", 1, 1);
    CHECK(vt_mp_write_cstr(&w, "jobs") == 0 && vt_mp_write_array(&w, 1) == 0);
    CHECK(vt_mp_write_map(&w, 1) == 0);
    kv_str(&w, "job_id", "j");
    decode_expecting(&w, VT_ERR_PROTO, "field 'jobs[0].lease_id': missing");

    /* non-map top level, reserved byte, ext values skipped */
    vt_buf_init(&w, 0);
    CHECK(vt_mp_write_array(&w, 0) == 0);
    decode_expecting(&w, VT_ERR_PROTO, "not a msgpack map");
    vt_buf_init(&w, 0);
    CHECK(vt_buf_append(&w, "\xc1", 1) == 0);
    decode_expecting(&w, VT_ERR_PROTO, NULL);
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "x") == 0 && vt_buf_append(&w, "\xd5\x01\xaa\xbb", 4) == 0);
    decode_expecting(&w, 0, NULL);
}

/* Counts announced far beyond the bytes present are refused before any
 * allocation (ASan would abort on a 2^32-element allocation). */
static void test_huge_counts(void)
{
    static const uint8_t top_map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01};
    vt_msg m;
    CHECK(vt_msg_decode(top_map32, sizeof top_map32, &m, NULL) == VT_ERR_PROTO);

    const uint8_t hdrs[][5] = {
        {0xdd, 0xff, 0xff, 0xff, 0xff}, /* array32 */
        {0xdf, 0xff, 0xff, 0xff, 0xff}, /* map32 */
        {0xc6, 0xff, 0xff, 0xff, 0xff}, /* bin32 */
        {0xdb, 0xff, 0xff, 0xff, 0xff}, /* str32 */
        {0xc9, 0xff, 0xff, 0xff, 0xff}, /* ext32 */
    };
    const char *fields[] = {"jobs", "future"};
    for (size_t f = 0; f < 2; f++) {
        for (size_t h = 0; h < sizeof hdrs / sizeof hdrs[0]; h++) {
            vt_buf w;
            env(&w, "fetch_ok", 1, 1);
            CHECK(vt_mp_write_cstr(&w, fields[f]) == 0);
            CHECK(vt_buf_append(&w, hdrs[h], 5) == 0);
            CHECK(vt_buf_append(&w, "\x01\x02\x03", 3) == 0);
            decode_expecting(&w, VT_ERR_PROTO, NULL);
        }
    }
    /* within the bytes present but over a limit: too big, not a crash */
    vt_buf w;
    env(&w, "fetch_ok", 1, 1);
    CHECK(vt_mp_write_cstr(&w, "jobs") == 0 && vt_mp_write_array(&w, VT_PROTO_MAX_BATCH + 1) == 0);
    for (uint32_t i = 0; i <= VT_PROTO_MAX_BATCH; i++)
        CHECK(vt_mp_write_map(&w, 0) == 0);
    decode_expecting(&w, VT_ERR_TOOBIG, "jobs");
}

static void nest(vt_buf *w, int depth)
{
    for (int i = 0; i < depth; i++)
        CHECK(vt_mp_write_array(w, 1) == 0);
    CHECK(vt_mp_write_nil(w) == 0);
}

static void test_deep_nesting(void)
{
    vt_buf w;
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "deep") == 0);
    nest(&w, 1000);
    decode_expecting(&w, VT_ERR_PROTO, "deep");

    submit_base(&w, 1, "k"); /* 15 levels under an unknown field: fine */
    CHECK(vt_mp_write_cstr(&w, "deep") == 0);
    nest(&w, VT_MP_MAX_DEPTH - 1);
    decode_expecting(&w, 0, NULL);

    vt_buf_init(&w, 0);
    nest(&w, 1000); /* the whole message */
    decode_expecting(&w, VT_ERR_PROTO, NULL);

    /* maps nested in maps, inside the envelope scan */
    vt_buf_init(&w, 0);
    CHECK(vt_mp_write_map(&w, 1) == 0);
    for (int i = 0; i < 1000; i++) {
        CHECK(vt_mp_write_cstr(&w, "a") == 0);
        CHECK(vt_mp_write_map(&w, 1) == 0);
    }
    kv_str(&w, "a", "b");
    decode_expecting(&w, VT_ERR_PROTO, NULL);
}

static void test_oversized(void)
{
    vt_buf w;
    char big[VT_API_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    submit_base(&w, 0, big);
    decode_expecting(&w, VT_ERR_TOOBIG, "field 'key': 129 bytes > limit 128");

    size_t n = VT_PROTO_MAX_PROMPT_BYTES + 1;
    char *text = malloc(n);
    memset(text, 'a', n);
    env(&w, "submit", 5, 1);
    kv_str(&w, "key", "k");
    kv_str(&w, "model", "tiny");
    CHECK(vt_mp_write_cstr(&w, "prompt") == 0 && vt_mp_write_str(&w, text, n) == 0);
    kv_uint(&w, "max_tokens", 8);
    kv_bin(&w, "req_token", 16);
    decode_expecting(&w, VT_ERR_TOOBIG, "prompt");
    free(text);

    /* too many / too long stop strings */
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "stop") == 0 && vt_mp_write_array(&w, VT_PROTO_MAX_STOP + 1) == 0);
    for (uint32_t i = 0; i <= VT_PROTO_MAX_STOP; i++)
        CHECK(vt_mp_write_cstr(&w, "x") == 0);
    decode_expecting(&w, VT_ERR_TOOBIG, "stop");
    char stop[VT_PROTO_MAX_STOP_LEN + 2];
    memset(stop, 's', sizeof stop - 1);
    stop[sizeof stop - 1] = 0;
    submit_base(&w, 1, "k");
    CHECK(vt_mp_write_cstr(&w, "stop") == 0 && vt_mp_write_array(&w, 1) == 0);
    CHECK(vt_mp_write_cstr(&w, stop) == 0);
    decode_expecting(&w, VT_ERR_TOOBIG, "stop");

    /* too many prompt tokens, bad token byte count */
    env(&w, "submit", 5, 1);
    kv_str(&w, "key", "k");
    kv_str(&w, "model", "tiny");
    size_t tb = 4 * ((size_t)VT_PROTO_MAX_PROMPT_TOKENS + 1);
    uint8_t *toks = calloc(1, tb);
    CHECK(vt_mp_write_cstr(&w, "prompt_tokens") == 0 && vt_mp_write_bin(&w, toks, tb) == 0);
    kv_uint(&w, "max_tokens", 8);
    kv_bin(&w, "req_token", 16);
    decode_expecting(&w, VT_ERR_TOOBIG, "prompt_tokens");
    env(&w, "submit", 5, 1);
    kv_str(&w, "key", "k");
    kv_str(&w, "model", "tiny");
    CHECK(vt_mp_write_cstr(&w, "prompt_tokens") == 0 && vt_mp_write_bin(&w, toks, 7) == 0);
    kv_uint(&w, "max_tokens", 8);
    kv_bin(&w, "req_token", 16);
    decode_expecting(&w, VT_ERR_PROTO, "multiple of 4");
    free(toks);

    /* the encoder refuses the same things */
    vt_msg m;
    vt_errinfo ei = {0};
    vt_buf b;
    sample_msg(VT_MSG_SUBMIT, &m);
    m.u.submit.job.n_stop = VT_PROTO_MAX_STOP + 1;
    vt_buf_init(&b, 0);
    CHECK(vt_msg_encode(&m, &b, &ei) == VT_ERR_TOOBIG && strstr(ei.detail, "stop"));
    CHECK(b.len == 0);
    sample_msg(VT_MSG_SUBMIT, &m);
    m.u.submit.api_key = NULL;
    CHECK(vt_msg_encode(&m, &b, &ei) == VT_ERR_INVAL && strstr(ei.detail, "key"));
    sample_msg(VT_MSG_SUBMIT, &m);
    m.u.submit.job.verify = "always";
    CHECK(vt_msg_encode(&m, &b, &ei) == VT_ERR_INVAL && strstr(ei.detail, "verify"));
    /* the buffer cap */
    vt_buf small;
    vt_buf_init(&small, 16);
    sample_msg(VT_MSG_SUBMIT, &m);
    CHECK(vt_msg_encode(&m, &small, &ei) == VT_ERR_TOOBIG && small.len == 0);
    vt_buf_free(&small);
    vt_buf_free(&b);
}

static void test_enums_and_policy(void)
{
    vt_verify_policy p;
    CHECK(vt_verify_policy_parse("full:3", &p, NULL) == 0 && p.mode == VT_VERIFY_FULL && p.k == 3);
    CHECK(vt_verify_policy_parse("sampled:0.25", &p, NULL) == 0 && p.p == 0.25);
    CHECK(vt_verify_policy_parse("none", &p, NULL) == 0 && p.mode == VT_VERIFY_NONE);
    const char *bad[] = {"full:", "full:0", "full:17", "full:2x", "sampled:0", "sampled:1.5",
                         "sampled:", "sampled:nan", "", "ful:1", "full:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vt_verify_policy_parse(bad[i], &p, NULL) == VT_ERR_INVAL);
    char s[32];
    p = (vt_verify_policy){.mode = VT_VERIFY_SAMPLED, .p = 0.5};
    CHECK(vt_verify_policy_format(&p, s, sizeof s) == 0 && strcmp(s, "sampled:0.5") == 0);
    for (int t = VT_MSG_ERROR; t < VT_MSG__COUNT; t++) {
        const char *n = vt_msg_type_name((vt_msg_type)t);
        CHECK(n && vt_msg_type_parse(n, strlen(n)) == (vt_msg_type)t);
    }
    vt_job_state st;
    CHECK(vt_job_state_parse("verifying", 9, &st) == 0 && st == VT_JOB_VERIFYING);
    CHECK(vt_job_state_done(VT_JOB_EXPIRED) && !vt_job_state_done(VT_JOB_COMPUTED));
    CHECK(strcmp(vt_job_state_name((vt_job_state)99), "?") == 0);
    CHECK(vt_ident_valid("j_1.a:b-c", 9, 64) && !vt_ident_valid("a b", 3, 64) &&
          !vt_ident_valid("", 0, 64) && !vt_ident_valid("abc", 3, 2));
}

int main(void)
{
    test_roundtrip_all();
    test_field_values();
    test_truncations();
    test_hostile_structure();
    test_huge_counts();
    test_deep_nesting();
    test_oversized();
    test_enums_and_policy();
    test_garbage_and_mutations();
    printf("test_msg: ok\n");
    return 0;
}
