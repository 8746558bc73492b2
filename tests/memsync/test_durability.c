/* test_durability.c - a write is acknowledged only after Redis accepted it.
 * Two writers add items while redis-server (AOF, appendfsync always) is
 * killed with SIGKILL and restarted; every acknowledged item must be there
 * afterwards with its exact text, verify must find the memory consistent
 * (no half-applied write: item, index, log and head agree), and the same
 * must hold after memsync itself restarts. While Redis is down, requests
 * fail with VT_ERR_UNAVAILABLE. Bounded: at most 300 adds per writer and
 * 20 s. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms_testutil.h"
#include "vt_clock.h"
#include "vt_test.h"

#define WRITERS 2
#define PER_WRITER 300
#define DEADLINE_MS 20000

static ms_env env;
static ms_agent ag[WRITERS];

typedef struct acked {
    uint64_t id;
    char text[48];
} acked;

typedef struct writer {
    int n;
    acked *ok;
    int nok, nfail;
    pthread_t th;
} writer;

static atomic_int total_acked;
static uint64_t t_start;

static void *write_loop(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < PER_WRITER && vt_mono_ms() - t_start < DEADLINE_MS; i++) {
        char text[48];
        snprintf(text, sizeof text, "writer %d note %d", w->n, i);
        vt_mem_item it = ms_item(text, NULL, 0);
        uint64_t id = 0;
        vt_errinfo ei = {0};
        int rv = vt_memsync_add(env.client, &ag[w->n].cred, &it, &id, NULL, &ei);
        if (rv == 0) {
            w->ok[w->nok].id = id;
            snprintf(w->ok[w->nok].text, sizeof w->ok[w->nok].text, "%s", text);
            w->nok++;
            atomic_fetch_add(&total_acked, 1);
        } else {
            VT_CHECK(rv == VT_ERR_UNAVAILABLE || rv == VT_ERR_TIMEOUT || rv == VT_ERR_CONFLICT,
                     "write failed with %s: %s", vt_errname(rv), ei.detail);
            w->nfail++;
            vt_sleep_ms(20);
        }
    }
    return NULL;
}

static void check_all(writer *ws, const char *when)
{
    int missing = 0;
    for (int t = 0; t < WRITERS; t++) {
        for (int i = 0; i < ws[t].nok; i++) {
            vt_mem_item got;
            int rv = vt_memsync_get(env.client, &ag[t].cred, ws[t].ok[i].id, &got, NULL, NULL);
            if (rv != 0 || strcmp(got.text, ws[t].ok[i].text) != 0)
                missing++;
            if (rv == 0)
                vt_mem_item_clear(&got);
        }
        vt_mem_verify vr;
        VT_REQUIRE_OK(vt_memsync_verify(env.client, &ag[t].cred, &vr, NULL));
        VT_CHECK(vr.ok, "%s: writer %d memory inconsistent: %s", when, t, vr.problem);
    }
    VT_CHECK_EQ_INT(missing, 0);
    printf("%s: %d acknowledged items checked\n", when, ws[0].nok + ws[1].nok);
}

int main(void)
{
    ms_env_start(&env, NULL);
    for (int t = 0; t < WRITERS; t++)
        ms_agent_new(&env, t ? "writer1" : "writer0", &ag[t]);
    writer ws[WRITERS];
    memset(ws, 0, sizeof ws);
    t_start = vt_mono_ms();
    for (int t = 0; t < WRITERS; t++) {
        ws[t].n = t;
        ws[t].ok = calloc(PER_WRITER, sizeof *ws[t].ok);
        pthread_create(&ws[t].th, NULL, write_loop, &ws[t]);
    }
    /* let some writes land, then crash Redis mid-load */
    while (atomic_load(&total_acked) < 100 && vt_mono_ms() - t_start < DEADLINE_MS)
        vt_sleep_ms(5);
    VT_REQUIRE_OK(vt_ts_redis_kill(&env.redis, SIGKILL));
    vt_sleep_ms(200);
    vt_mem_list l;
    vt_errinfo ei = {0};
    VT_CHECK_ERR(vt_memsync_list(env.client, &ag[0].cred, NULL, 0, 1, &l, &ei), VT_ERR_UNAVAILABLE);
    printf("while down: %s\n", ei.detail);
    VT_REQUIRE_OK(vt_ts_redis_restart(&env.redis));
    for (int t = 0; t < WRITERS; t++)
        pthread_join(ws[t].th, NULL);
    printf("acknowledged %d + %d, failed %d + %d\n", ws[0].nok, ws[1].nok, ws[0].nfail,
           ws[1].nfail);
    VT_CHECK(ws[0].nfail + ws[1].nfail > 0, "the crash was not noticed by any writer");
    check_all(ws, "after redis restart");

    /* memsync restart: nothing lives only in its memory */
    VT_CHECK_EQ_INT(vt_proc_stop(env.daemon, 10000), 0);
    vt_proc_free(env.daemon);
    ms_env_start_daemon(&env, NULL);
    check_all(ws, "after memsync restart");

    /* the daemon's own health follows Redis */
    for (int t = 0; t < WRITERS; t++)
        free(ws[t].ok);
    ms_env_stop(&env);
    return vt_test_done();
}
