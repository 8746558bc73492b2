/* load_echo.h - the bench's own ceiling: a bare REP server in this process,
 * on the transport the scheduler uses (vt_sp_rep), that answers every agent
 * request at once with a canned reply of the right type (submit ->
 * submit_ok, result -> result_ok "verified" with the job's output tokens).
 * Driving it with the same load_driver machinery measures what the client,
 * the transport and this machine allow before any scheduler work: the
 * scheduler's figure is printed as a fraction of it.
 */
#ifndef VT_LOAD_ECHO_H
#define VT_LOAD_ECHO_H

#include <stdint.h>

#include "vt_err.h"

typedef struct ld_echo ld_echo;

/* Listen on url (ipc:// or loopback tcp://); result_ok replies carry
 * n_tokens output tokens. */
int ld_echo_start(const char *url, uint32_t n_tokens, ld_echo **out, vt_errinfo *ei);
void ld_echo_stop(ld_echo *e);

#endif
