/* test_arb_cli.c - `verity workers` and `verity release` against a real
 * redis-server: what the operator sees, and that a release really lifts
 * the quarantine (and is logged), refused twice, usage errors exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_arbiter.h"
#include "vt_registry.h"
#include "vt_test.h"
#include "vt_testsupport.h"

/* Run `verity ARGS...`; returns its exit code and its output (malloc'd). */
static int run(const char *const argv[], char **out)
{
    return vt_proc_run("verity", argv, NULL, 20000, out);
}

int main(void)
{
    vt_ts_redis rs;
    int rv = vt_ts_redis_start(&rs);
    if (rv == VT_ERR_UNSUPPORTED)
        vt_test_skip("redis-server not installed");
    VT_REQUIRE_OK(rv);
    vt_redis *r = NULL;
    VT_REQUIRE_OK(vt_redis_connect(&r, rs.url, 2000, 5000, NULL));

    uint8_t w[VT_PUBKEY_BYTES], v[VT_PUBKEY_BYTES], stray[VT_PUBKEY_BYTES];
    memset(w, 0x3c, sizeof w);
    memset(v, 0x4d, sizeof v);
    memset(stray, 0x5e, sizeof stray);
    char whex[VT_NODE_ID_HEX + 1], vhex[VT_NODE_ID_HEX + 1], shex[VT_NODE_ID_HEX + 1];
    vt_node_id(w, whex);
    vt_node_id(v, vhex);
    vt_node_id(stray, shex);
    VT_REQUIRE_OK(vt_registry_node_add(r, whex, VT_ROLE_WORKER, "acme", NULL));
    VT_REQUIRE_OK(vt_registry_node_add(r, vhex, VT_ROLE_VERIFIER, "beta", NULL));
    vt_arb_rep d = {{0}};
    d.c[VT_ARB_C_JOBS] = 42;
    d.c[VT_ARB_C_FAILED] = 1;
    VT_REQUIRE_OK(vt_arb_store_add_rep(r, w, &d, NULL));
    VT_REQUIRE_OK(vt_arb_store_quarantine(r, w, "job j9: result failed by 2 of 3 verifiers", 1000, NULL, NULL));
    VT_REQUIRE_OK(vt_arb_store_quarantine(r, stray, "audit failed", 2000, NULL, NULL));

    char *out = NULL;
    const char *a1[] = {"workers", "--redis", rs.url, "--json", NULL};
    VT_CHECK_EQ_INT(run(a1, &out), 0);
    char want[512];
    snprintf(want, sizeof want,
             "{\"node\":\"%s\",\"registered\":true,\"role\":\"worker\",\"operator\":\"acme\","
             "\"revoked\":false,\"quarantined\":true,\"quarantined_ms\":1000,"
             "\"quarantine_reason\":\"job j9: result failed by 2 of 3 verifiers\","
             "\"counters\":{\"jobs\":42,\"verified\":0,\"failed\":1,",
             whex);
    VT_CHECK(strstr(out, want) != NULL, "worker row missing: %s", out);
    snprintf(want, sizeof want, "{\"node\":\"%s\",\"registered\":true,\"role\":\"verifier\",\"operator\":\"beta\",\"revoked\":false,\"quarantined\":false", vhex);
    VT_CHECK(strstr(out, want) != NULL, "verifier row missing: %s", out);
    /* A quarantined key outside the allow-list still shows up. */
    snprintf(want, sizeof want, "{\"node\":\"%s\",\"registered\":false,\"quarantined\":true", shex);
    VT_CHECK(strstr(out, want) != NULL, "stray quarantined key missing: %s", out);
    free(out);

    const char *a2[] = {"release", "--redis", rs.url, "--reason", "swapped the GPU", whex, NULL};
    VT_CHECK_EQ_INT(run(a2, &out), 0);
    free(out);
    bool q = true;
    VT_CHECK_OK(vt_arb_store_is_quarantined(r, w, &q, NULL));
    VT_CHECK(!q, "still quarantined after release");
    vt_arb_history *h = NULL;
    size_t n = 0;
    VT_REQUIRE_OK(vt_arb_store_history(r, 1, &h, &n, NULL));
    VT_CHECK(n == 1 && h[0].release && memcmp(h[0].pk, w, VT_PUBKEY_BYTES) == 0 &&
                 strcmp(h[0].reason, "swapped the GPU") == 0,
             "release not logged with its reason");
    free(h);

    VT_CHECK_EQ_INT(run(a2, &out), 1); /* not quarantined any more */
    VT_CHECK(strstr(out, "not quarantined") != NULL, "second release: %s", out);
    free(out);
    const char *a3[] = {"release", "--redis", rs.url, "abc", NULL};
    VT_CHECK_EQ_INT(run(a3, &out), 2);
    free(out);

    const char *a4[] = {"workers", "--redis", rs.url, "--history", "5", NULL};
    VT_CHECK_EQ_INT(run(a4, &out), 0);
    VT_CHECK(strstr(out, "quarantine history") && strstr(out, "swapped the GPU") &&
                 strstr(out, "audit failed") && strstr(out, "(unregistered)"),
             "text listing: %s", out);
    free(out);

    vt_redis_close(r);
    vt_ts_redis_stop(&rs);
    return vt_test_done();
}
