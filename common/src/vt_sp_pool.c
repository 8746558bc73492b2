/* vt_sp_pool.c - REQ connections to one URL shared by threads (vt_sp.h).
 *
 * A vt_sp_req serves one call at a time, so a client used from several
 * threads takes a connection per call in flight: an idle one if there is
 * one, else a new one. Every connection goes back after any outcome, since
 * vt_sp_req reconnects after a loss and skips a late reply to a call that
 * timed out; beyond idle_max the extra ones are closed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vt_sp.h"

struct vt_sp_pool {
    char *url;
    size_t body_max;
    size_t idle_max;
    pthread_mutex_t mu; /* guards idle / n_idle */
    size_t n_idle;
    vt_sp_req *idle[]; /* idle_max slots */
};

int vt_sp_pool_open(const char *url, size_t body_max, size_t idle_max, vt_sp_pool **out,
                    vt_errinfo *ei)
{
    *out = NULL;
    int rv = vt_sp_url_check(url, ei);
    if (rv)
        return rv;
    vt_sp_pool *p = calloc(1, sizeof *p + idle_max * sizeof p->idle[0]);
    if (!p || !(p->url = strdup(url))) {
        free(p);
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    p->body_max = body_max;
    p->idle_max = idle_max;
    pthread_mutex_init(&p->mu, NULL);
    *out = p; /* connects on the first call: the server may start later */
    return 0;
}

void vt_sp_pool_close(vt_sp_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        vt_sp_req_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p->url);
    free(p);
}

const char *vt_sp_pool_url(const vt_sp_pool *p) { return p->url; }

int vt_sp_pool_take(vt_sp_pool *p, vt_sp_req **conn, vt_errinfo *ei)
{
    pthread_mutex_lock(&p->mu);
    *conn = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (*conn)
        return 0;
    return vt_sp_req_open(p->url, p->body_max, conn, ei);
}

void vt_sp_pool_give(vt_sp_pool *p, vt_sp_req *conn)
{
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < p->idle_max) {
        p->idle[p->n_idle++] = conn;
        conn = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    vt_sp_req_close(conn);
}
