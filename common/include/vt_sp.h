/* vt_sp.h - NNG's REQ/REP wire protocol (SP over ipc:// and tcp://) spoken
 * directly on sockets, without libnng's threads: the REQ side (vt_sp_req)
 * and a REP server (vt_sp_rep). Peers on the other side may be libnng.
 *
 * Why: NNG 1.5.2 hands every message between its poller thread and its task
 * threads, so a round trip costs four or more context switches on each
 * side; on the 2-vCPU machines the cluster runs on, those came out of the
 * scheduler's share. A program that keeps one request outstanding per
 * thread (the node daemons: vt_node_call), drives many connections from one
 * loop (the bench's agents) or answers from whichever thread finishes the
 * work (the scheduler) needs none of that machinery. Schemes this file does
 * not speak (tls+tcp://, abstract://, inproc://, ws://) stay with libnng.
 *
 * Wire: on connect both sides send eight bytes {0x00, 'S', 'P', 0x00,
 * protocol (u16 BE), 0x00, 0x00}; REQ is 0x30, REP 0x31. Then every message
 * is a frame: over ipc a 0x01 type byte and a u64 BE length, over tcp a u64
 * BE length. A request's payload starts with a 4-byte BE request id with the
 * high bit set, which the REP socket echoes in front of the reply.
 */
#ifndef VT_SP_H
#define VT_SP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vt_err.h"

#define VT_SP_PROTO_REQ 0x30
#define VT_SP_PROTO_REP 0x31
#define VT_SP_HANDSHAKE_LEN 8
#define VT_SP_FRAME_HDR_MAX 13 /* type byte + u64 length + request id */

typedef struct vt_sp_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    bool ipc; /* ipc framing: a type byte before the length */
} vt_sp_addr;

/* ipc://PATH, tcp://HOST:PORT (tcp4://, tcp6://; [v6]:PORT). vt_sp_url_check
 * only reads the address: VT_ERR_UNSUPPORTED for any other scheme (callers
 * use libnng for those), VT_ERR_INVAL for a malformed one. vt_sp_addr_parse
 * also resolves it: VT_ERR_UNAVAILABLE for a name that does not resolve. */
int vt_sp_url_check(const char *url, vt_errinfo *ei);
int vt_sp_addr_parse(const char *url, vt_sp_addr *out, vt_errinfo *ei);
/* The same for an address to listen on, where a host of '*' or none
 * (tcp://:PORT) means every local address, as in NNG. */
int vt_sp_listen_addr_parse(const char *url, vt_sp_addr *out, vt_errinfo *ei);

/* The eight handshake bytes announcing `proto`; whether `in` announces it. */
void vt_sp_handshake(uint8_t out[VT_SP_HANDSHAKE_LEN], uint16_t proto);
bool vt_sp_handshake_is(const uint8_t in[VT_SP_HANDSHAKE_LEN], uint16_t proto);

/* The frame header of a request with `id` (high bit set here) and a body of
 * body_len bytes; returns the header's length. */
size_t vt_sp_request_header(uint8_t out[VT_SP_FRAME_HDR_MAX], bool ipc, uint32_t id,
                            size_t body_len);

/* Read the frame header at p[0..n): on 0, *hdr_len bytes of header precede a
 * payload of *payload_len bytes (request id included). VT_ERR_TRUNCATED: not
 * all of the header is there yet. VT_ERR_PROTO: not a frame (bad ipc type
 * byte, no room for an id). VT_ERR_TOOBIG: the body would exceed body_max
 * (NNG drops the connection then: NNG_OPT_RECVMAXSZ). */
int vt_sp_frame_parse(const uint8_t *p, size_t n, bool ipc, size_t body_max, size_t *hdr_len,
                      uint64_t *payload_len);

/* ---- a blocking REQ connection, for one thread ----
 * Connects on the first call and again after a loss, resolving the name
 * each time and retrying (50 ms, doubling to 1 s) until that call's
 * deadline, as NNG's dialer would while a send waits. A connection the
 * peer closed while no call was under way (a restarted server) is replaced
 * before sending. One request at a time; a reply to an earlier request that
 * timed out is recognised by its id and skipped. Requests are not resent:
 * a connection lost during a call fails it (VT_ERR_TRANSPORT) and the
 * caller decides, as with NNG_OPT_REQ_RESENDTIME off. */
typedef struct vt_sp_req vt_sp_req;

/* VT_ERR_INVAL or VT_ERR_UNSUPPORTED as vt_sp_url_check; nothing is
 * resolved or connected yet. */
int vt_sp_req_open(const char *url, size_t body_max, vt_sp_req **out, vt_errinfo *ei);
void vt_sp_req_close(vt_sp_req *r);
/* From any thread: the call under way and every later one return
 * VT_ERR_CLOSED. */
void vt_sp_req_abort(vt_sp_req *r);
/* Send req[0..len), wait up to timeout_ms for connecting and sending, then
 * up to timeout_ms for the reply. *reply points into the connection's
 * buffer, valid until the next call. VT_ERR_TIMEOUT (also when no connection
 * could be made in time: refused attempts are retried), VT_ERR_TRANSPORT
 * (lost, not an SP REP peer, a reply over body_max), VT_ERR_CLOSED. */
int vt_sp_req_call(vt_sp_req *r, const void *req, size_t len, int timeout_ms,
                   const uint8_t **reply, size_t *reply_len, vt_errinfo *ei);

/* ---- REQ connections to one URL, shared by threads ----
 * A call takes a connection (an idle one, else a new one that connects on
 * its first call) and gives it back after any outcome; up to idle_max idle
 * ones are kept, more are closed. Thread-safe; close only when no call is
 * under way. open: as vt_sp_url_check (VT_ERR_UNSUPPORTED for a scheme
 * vt_sp_req does not speak). */
typedef struct vt_sp_pool vt_sp_pool;
int vt_sp_pool_open(const char *url, size_t body_max, size_t idle_max, vt_sp_pool **out,
                    vt_errinfo *ei);
void vt_sp_pool_close(vt_sp_pool *p);
const char *vt_sp_pool_url(const vt_sp_pool *p);
int vt_sp_pool_take(vt_sp_pool *p, vt_sp_req **conn, vt_errinfo *ei);
void vt_sp_pool_give(vt_sp_pool *p, vt_sp_req *conn);

/* ---- a REP server on its own thread ----
 * Listens on ipc:// or tcp:// and speaks the REP side to any REQ peer (NNG's
 * REQ sockets and contexts, vt_sp_req): one epoll thread accepts, reads and
 * parses; `request` runs on that thread for every request, which the
 * callee answers now or later from any thread with vt_sp_rep_reply (one
 * sendmsg on the caller's thread: no hand-off to another thread, which is
 * the point: NNG 1.5.2's REP socket costs several per message). A peer may
 * have many requests outstanding (NNG REQ contexts); replies go out in the
 * order they are made, each behind its request's backtrace.
 *
 * What NNG's REP socket does is kept: a request over body_max, or a peer
 * that is not a REQ socket, ends its connection; a request whose backtrace
 * is malformed (no word with the high bit within 8 hops) is dropped and the
 * connection kept; a peer that has not sent its handshake within 10 s is
 * dropped. In addition a peer that lets more than max(64 MiB, 4 * body_max)
 * of replies pile up unread is dropped. */
typedef struct vt_sp_rep vt_sp_rep;
typedef struct vt_sp_pipe vt_sp_pipe;

/* One request to answer: copy it out of the `request` callback and pass it
 * to vt_sp_rep_reply or vt_sp_rep_drop exactly once. */
typedef struct vt_sp_rep_req {
    vt_sp_pipe *pipe; /* holds a reference until replied or dropped */
    uint32_t pipe_id;
    uint8_t bt_len;
    uint8_t bt[32]; /* the backtrace: up to 8 4-byte hops */
} vt_sp_rep_req;

enum vt_sp_event {
    VT_SP_EV_PIPE_ADD = 1, /* handshake done */
    VT_SP_EV_PIPE_REM,     /* connection ended; `what` says why */
    VT_SP_EV_DROPPED,      /* a malformed request was dropped, connection kept */
    VT_SP_EV_ACCEPT_FAIL   /* accept(2) failed (e.g. out of descriptors); retried in 100 ms */
};

typedef struct vt_sp_rep_ops {
    /* On the server's thread. Return false to leave the request unread for
     * now (no room to take it): the connection is not read again until
     * vt_sp_rep_resume. body is valid during the call only. */
    bool (*request)(void *arg, const vt_sp_rep_req *rq, const uint8_t *body, size_t len);
    /* On the server's thread; may be NULL. Not called once closing. */
    void (*event)(void *arg, int ev, uint32_t pipe_id, const char *what);
    void *arg;
    const char *name; /* the server thread's name (vt_thread_name); may be NULL */
} vt_sp_rep_ops;

/* Bind and listen (errors are returned here: VT_ERR_INVAL / UNSUPPORTED as
 * vt_sp_url_check, VT_ERR_UNAVAILABLE for a name that does not resolve,
 * VT_ERR_TRANSPORT when bind or listen fails), then start the thread. A
 * stale ipc:// socket file nobody answers on is replaced, as NNG does. */
int vt_sp_rep_open(const char *url, size_t body_max, const vt_sp_rep_ops *ops, vt_sp_rep **out,
                   vt_errinfo *ei);
/* Stop the thread and end every connection; requests not answered yet can
 * still be given to vt_sp_rep_reply / _drop (which then send nothing) and
 * must be, to free their connections. An ipc:// path is removed. */
void vt_sp_rep_close(vt_sp_rep *srv);
/* From any thread. 0, or VT_ERR_CLOSED (the connection ended: nothing
 * sent), VT_ERR_NOMEM. Consumes rq either way. */
int vt_sp_rep_reply(vt_sp_rep_req *rq, const void *body, size_t len);
void vt_sp_rep_drop(vt_sp_rep_req *rq);
/* From any thread: read again the connections a `request` call refused. */
void vt_sp_rep_resume(vt_sp_rep *srv);
/* The TCP port listened on (tcp://HOST:0 picks a free one), 0 for ipc. */
int vt_sp_rep_port(const vt_sp_rep *srv);

#endif
