/* sp_req.h - the load generator's client side of NNG's REQ/REP wire
 * protocol (SP over ipc:// and tcp://): many connections on one thread and
 * one epoll set.
 *
 * Why not NNG's REQ socket: in NNG 1.5.2 every request and every reply
 * crosses its poller thread and a task thread, so a round trip costs the
 * *client* four or more context switches. On a 2-vCPU machine that also
 * runs the cluster under test, that CPU came out of the scheduler's share
 * (0.05 ms of the cluster's ~0.3 ms per job at saturation, 0.12 ms at half
 * the rate). wrk and redis-benchmark speak HTTP and RESP from one event
 * loop for the same reason. The server side is the scheduler's REP socket or
 * the bench's echo server (both vt_sp_rep on ipc:// and tcp://).
 *
 * The wire itself (handshake, framing, request ids, addresses) is
 * vt_sp.h's, shared with the node daemons' blocking connections.
 */
#ifndef VT_SP_REQ_H
#define VT_SP_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "vt_err.h"

typedef struct sp_loop sp_loop;
typedef struct sp_conn sp_conn;

typedef struct sp_handlers {
    /* A reply to request `id` (body without the id). */
    void (*reply)(void *arg, sp_conn *c, uint32_t id, const uint8_t *body, size_t len);
    /* The connection dropped: requests sent on it will not be answered. It
     * reconnects by itself (50 ms, doubling to 1 s); until then sends fail
     * with VT_ERR_UNAVAILABLE (while a first connect is under way they queue). */
    void (*lost)(void *arg, sp_conn *c);
    void *arg;
} sp_handlers;

int sp_loop_open(const sp_handlers *h, sp_loop **out, vt_errinfo *ei);
void sp_loop_close(sp_loop *l); /* and every connection */

/* A connection to url (ipc://PATH, tcp://HOST:PORT), made in the background.
 * Replies larger than recv_max drop the connection, as NNG_OPT_RECVMAXSZ. */
int sp_conn_open(sp_loop *l, const char *url, size_t recv_max, sp_conn **out, vt_errinfo *ei);

/* Queue one request; sp_loop_poll writes it. id must have its high bit set.
 * VT_ERR_UNAVAILABLE while the connection is down. */
int sp_conn_send(sp_conn *c, uint32_t id, const void *body, size_t len);

/* Write what is queued, wait for I/O until the monotonic time until_us (us,
 * vt_mono_us) or the first events, handle them. Returns 0 or a vt_err. */
int sp_loop_poll(sp_loop *l, uint64_t until_us);

#endif
