/* vt_sp.h - the REQ side of NNG's wire protocol (SP over ipc:// and tcp://)
 * spoken directly on a socket, without libnng's threads.
 *
 * Why: NNG 1.5.2 hands every message between its poller thread and its task
 * threads, so on the REQ side one round trip costs four or more context
 * switches; on the 2-vCPU machines the cluster runs on, those come out of
 * the scheduler's share. A program that keeps one request outstanding per
 * thread (the node daemons: vt_node_call) or drives many connections from
 * one loop (the bench's agents) needs none of that machinery. The peer is
 * still NNG's REP socket (the scheduler); schemes this file does not speak
 * (tls+tcp://, abstract://, inproc://, ws://) stay with libnng.
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
 * deadline, as NNG's dialer would while a send waits. One request at a time; a reply to an earlier request that
 * timed out is recognised by its id and skipped. Requests are not resent:
 * a lost connection fails the call (VT_ERR_TRANSPORT) and the caller
 * decides, as with NNG_OPT_REQ_RESENDTIME off. */
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

#endif
