/* vt_signal.c - signals received by one thread with sigtimedwait(), handed
 * to the daemon through a mutex + condition variable (see vt_signal.h).
 * No asynchronous handler is installed, so nothing runs in signal context. */
#include "vt_signal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define QUEUE_LEN 16
#define POLL_NS 100000000L /* the thread re-checks `closing` every 100 ms */

struct vt_signals {
    pthread_t thread;
    sigset_t set;
    atomic_bool closing;
    atomic_bool stop_requested;
    atomic_uint hups;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int queue[QUEUE_LEN]; /* guarded by mu */
    unsigned head, count;
};

static void record(vt_signals *s, int signo)
{
    if (signo == SIGTERM || signo == SIGINT)
        atomic_store(&s->stop_requested, true);
    else if (signo == SIGHUP)
        atomic_fetch_add(&s->hups, 1);
    pthread_mutex_lock(&s->mu);
    if (s->count == QUEUE_LEN) { /* nobody is waiting: drop the oldest */
        s->head = (s->head + 1) % QUEUE_LEN;
        s->count--;
    }
    s->queue[(s->head + s->count) % QUEUE_LEN] = signo;
    s->count++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *signal_thread(void *arg)
{
    vt_signals *s = arg;
    struct timespec poll = {0, POLL_NS};
    while (!atomic_load(&s->closing)) {
        siginfo_t info;
        int signo = sigtimedwait(&s->set, &info, &poll);
        if (signo > 0)
            record(s, signo);
    }
    return NULL;
}

int vt_signals_start(vt_signals **out, vt_errinfo *ei)
{
    vt_signals *s = calloc(1, sizeof(*s));
    if (!s)
        return vt_fail(ei, VT_ERR_NOMEM, "signals: out of memory");
    sigemptyset(&s->set);
    sigaddset(&s->set, SIGTERM);
    sigaddset(&s->set, SIGINT);
    sigaddset(&s->set, SIGHUP);
    int rv = pthread_sigmask(SIG_BLOCK, &s->set, NULL);
    if (rv != 0) {
        free(s);
        return vt_fail(ei, VT_ERR_INTERNAL, "pthread_sigmask failed (%d)", rv);
    }
    /* A peer closing a socket must produce EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->closing, false);
    atomic_init(&s->stop_requested, false);
    atomic_init(&s->hups, 0);
    rv = pthread_create(&s->thread, NULL, signal_thread, s);
    if (rv != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return vt_fail(ei, VT_ERR_INTERNAL, "cannot start signal thread (%d)", rv);
    }
    *out = s;
    return 0;
}

void vt_signals_stop(vt_signals *s)
{
    if (!s)
        return;
    atomic_store(&s->closing, true);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int vt_signals_wait(vt_signals *s, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    int signo = 0;
    pthread_mutex_lock(&s->mu);
    while (s->count == 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&s->cv, &s->mu);
        } else if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (s->count > 0) {
        signo = s->queue[s->head];
        s->head = (s->head + 1) % QUEUE_LEN;
        s->count--;
    }
    pthread_mutex_unlock(&s->mu);
    return signo;
}

bool vt_signals_stop_requested(const vt_signals *s)
{
    return atomic_load((atomic_bool *)&s->stop_requested);
}

unsigned vt_signals_hup_count(const vt_signals *s)
{
    return atomic_load((atomic_uint *)&s->hups);
}

void vt_signals_raise(vt_signals *s, int signo)
{
    record(s, signo);
}
