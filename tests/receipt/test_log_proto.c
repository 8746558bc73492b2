/* test_log_proto.c - transparency-log queries over a real NNG REQ/REP pair:
 * a REP thread serves vt_log_handle, the client library asks for heads and
 * proofs, and every proof checks against the signed head. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "vt_client.h"
#include "vt_receipt.h"
#include "vt_test.h"
#include "vt_testsupport.h"

static vt_tlog *tlog;
static vt_tree_head head;
static uint8_t pk[32], sk[64];
static nng_socket rep;

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(rep, &m, 0) != 0)
            return NULL;
        vt_buf out;
        vt_buf_init(&out, 1 << 20);
        const char *t;
        uint32_t tl, minor;
        int rv = vt_mp_read_envelope(nng_msg_body(m), nng_msg_len(m), &minor, &t, &tl, NULL);
        if (rv == 0)
            rv = vt_log_handle(tlog, &head, pk, t, tl, nng_msg_body(m), nng_msg_len(m), &out);
        if (rv)
            vt_msg_encode_error(&out, rv, "not a log request", 0);
        nng_msg_free(m);
        nng_msg *r;
        nng_msg_alloc(&r, 0);
        nng_msg_append(r, out.data, out.len);
        vt_buf_free(&out);
        if (nng_sendmsg(rep, r, 0) != 0)
            nng_msg_free(r);
    }
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    crypto_sign_keypair(pk, sk);
    VT_REQUIRE_OK(vt_tlog_new(&tlog));
    for (int i = 0; i < 37; i++) {
        uint8_t h[32], lh[32];
        memset(h, i, 32);
        vt_tlog_leaf_hash(h, 32, lh);
        VT_REQUIRE_OK(vt_tlog_append(tlog, lh, NULL, NULL, NULL));
    }
    head.size = 37;
    head.time_ms = 99;
    VT_REQUIRE_OK(vt_tlog_root(tlog, 37, head.root));
    VT_REQUIRE_OK(vt_tree_head_sign(&head, sk));

    char url[600], path[512];
    snprintf(url, sizeof url, "ipc://%s", vt_ts_path("log.ipc", path, sizeof path));
    VT_REQUIRE(nng_rep0_open(&rep) == 0, "rep open");
    nng_setopt_size(rep, NNG_OPT_RECVMAXSZ, 1 << 20);
    VT_REQUIRE(nng_listen(rep, url, NULL, 0) == 0, "listen %s", url);
    pthread_t th;
    pthread_create(&th, NULL, serve, NULL);

    vt_client *c;
    VT_REQUIRE_OK(vt_client_open(url, "any-key", NULL, &c, NULL));
    vt_tree_head got;
    uint8_t spk[32];
    VT_CHECK_OK(vt_log_get_head(c, &got, spk, NULL));
    VT_CHECK(got.size == 37 && memcmp(spk, pk, 32) == 0 && vt_tree_head_verify(&got, pk) == 0,
             "signed head over the wire");
    for (uint64_t i = 0; i < 37; i++) {
        uint8_t leaf[32], want[32], h[32];
        vt_tlog_proof p;
        uint64_t size = 0;
        VT_CHECK_OK(vt_log_get_inclusion(c, i, 0, leaf, &p, &size, NULL));
        memset(h, (int)i, 32);
        vt_tlog_leaf_hash(h, 32, want);
        VT_CHECK(size == 37 && memcmp(leaf, want, 32) == 0 &&
                     vt_tlog_verify_inclusion(leaf, i, size, &p, got.root) == 0,
                 "inclusion of %llu", (unsigned long long)i);
    }
    for (uint64_t old = 1; old <= 37; old += 6) {
        uint8_t ro[32], rn[32];
        vt_tlog_proof p;
        uint64_t nsz;
        VT_CHECK_OK(vt_log_get_consistency(c, old, 0, ro, rn, &p, &nsz, NULL));
        VT_CHECK(nsz == 37 && memcmp(rn, got.root, 32) == 0 &&
                     vt_tlog_verify_consistency(old, ro, nsz, rn, &p) == 0,
                 "consistency %llu -> 37", (unsigned long long)old);
    }
    /* Out-of-range and malformed requests get error replies; the server
     * keeps serving. */
    uint8_t leaf[32];
    vt_tlog_proof p;
    uint64_t size;
    vt_errinfo ei = {0};
    VT_CHECK_ERR(vt_log_get_inclusion(c, 37, 0, leaf, &p, &size, &ei), VT_ERR_RANGE);
    VT_CHECK_ERR(vt_log_get_inclusion(c, 3, 1000, leaf, &p, &size, &ei), VT_ERR_RANGE);
    vt_buf junk;
    vt_buf_init(&junk, 64);
    vt_buf_append(&junk, "\xc1\xff\x00garbage", 10);
    uint8_t *rep_bytes = NULL;
    size_t rep_len = 0;
    VT_CHECK_OK(vt_client_call(c, &junk, 2000, &rep_bytes, &rep_len, NULL));
    vt_msg m;
    VT_CHECK(vt_msg_decode(rep_bytes, rep_len, &m, NULL) == 0 && m.type == VT_MSG_ERROR,
             "garbage gets an error reply");
    vt_msg_free(&m);
    free(rep_bytes);
    vt_buf_free(&junk);
    VT_CHECK_OK(vt_log_get_head(c, &got, spk, NULL));

    vt_client_close(c);
    nng_close(rep);
    pthread_join(th, NULL);
    vt_tlog_free(tlog);
    return vt_test_done();
}
