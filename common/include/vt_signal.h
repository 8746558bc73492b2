/* vt_signal.h - SIGTERM/SIGINT/SIGHUP as events a daemon's main loop waits on.
 *
 * No work happens in an asynchronous signal handler. vt_signals_start()
 * blocks SIGTERM, SIGINT and SIGHUP in the calling thread (call it from
 * main() BEFORE creating any thread, so every thread inherits the mask) and
 * starts one thread that receives them with sigtimedwait() and records them.
 * It also sets SIGPIPE to SIG_IGN (a peer closing a socket must not kill us).
 *
 *   vt_signals *sig;
 *   if (vt_signals_start(&sig, &ei) != 0) ...
 *   ... start threads, bind sockets ...
 *   for (;;) {
 *       int s = vt_signals_wait(sig, 1000);     // 0 on timeout
 *       if (s == SIGHUP) reload();
 *       if (vt_signals_stop_requested(sig)) break;
 *       periodic_work();
 *   }
 *   ... orderly shutdown ...
 *   vt_signals_stop(sig);
 */
#ifndef VT_SIGNAL_H
#define VT_SIGNAL_H

#include <stdbool.h>

#include "vt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_signals vt_signals;

/* Returns 0, VT_ERR_NOMEM or VT_ERR_INTERNAL (pthread failure). */
int vt_signals_start(vt_signals **out, vt_errinfo *ei);

/* Stop the signal thread and free. The signals stay blocked. NULL is fine. */
void vt_signals_stop(vt_signals *s);

/* Wait up to timeout_ms (negative: forever) for a signal not yet returned by
 * an earlier wait. Returns the signal number (SIGTERM, SIGINT, SIGHUP), or
 * 0 on timeout. Several threads may wait; each signal is returned once. */
int vt_signals_wait(vt_signals *s, int timeout_ms);

/* True once SIGTERM or SIGINT arrived (or vt_signals_raise asked to stop).
 * Cheap (atomic load): poll it from worker loops. */
bool vt_signals_stop_requested(const vt_signals *s);

/* How many SIGHUPs arrived so far (atomic load). */
unsigned vt_signals_hup_count(const vt_signals *s);

/* Inject a signal event from inside the process (e.g. a fatal error in a
 * thread asks for an orderly shutdown with SIGTERM). Does not call kill(). */
void vt_signals_raise(vt_signals *s, int signo);

#ifdef __cplusplus
}
#endif
#endif
