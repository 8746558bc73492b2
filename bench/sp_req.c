/* sp_req.c - see sp_req.h.
 *
 * A connection is CLOSED (reconnect due at `retry_us`), CONNECTING (tcp:
 * non-blocking connect in progress), or OPEN. Sends are refused while it
 * is CLOSED, so a connection starts with nothing queued: its handshake is
 * queued first, requests follow at once (the peer's handshake is the first
 * thing read, so they need not wait for it). Writes go out when the loop
 * polls: requests queued by one round of callbacks leave in one write per
 * connection.
 */
#include "sp_req.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vt_clock.h"
#include "vt_sp.h"

#define RX_MIN 65536
#define RETRY_MIN_US 50000u
#define RETRY_MAX_US 1000000u

enum { ST_CLOSED, ST_CONNECTING, ST_OPEN };

typedef struct bytes {
    uint8_t *p;
    size_t off, len, cap; /* live bytes are p[off .. off+len) */
} bytes;

struct sp_conn {
    sp_loop *l;
    int fd;
    int state;
    bool hs_seen;      /* the peer's handshake was read */
    bool want_out;     /* EPOLLOUT registered */
    bool dirty;        /* on the loop's flush list */
    size_t recv_max;
    vt_sp_addr addr;
    uint64_t retry_us, backoff_us;
    bytes tx, rx;
    sp_conn *next, *next_dirty;
};

struct sp_loop {
    int ep;
    sp_handlers h;
    sp_conn *conns, *dirty;
    int n_closed; /* connections waiting to reconnect: polls look for them only then */
};

static int bytes_reserve(bytes *b, size_t need)
{
    if (b->off + b->len + need <= b->cap)
        return 0;
    if (b->off) { /* compact first */
        memmove(b->p, b->p + b->off, b->len);
        b->off = 0;
        if (b->len + need <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + need)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return VT_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int bytes_append(bytes *b, const void *p, size_t n)
{
    int rv = bytes_reserve(b, n);
    if (!rv) {
        memcpy(b->p + b->off + b->len, p, n);
        b->len += n;
    }
    return rv;
}

static void bytes_consume(bytes *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

/* ------------------------------------------------------------ states */

static void set_events(sp_conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(c->l->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = out;
}

/* The next connection attempt after the back-off, which then doubles. */
static void retry_later(sp_conn *c)
{
    c->retry_us = vt_mono_us() + c->backoff_us;
    c->backoff_us = c->backoff_us * 2 > RETRY_MAX_US ? RETRY_MAX_US : c->backoff_us * 2;
}

/* Lost: every request on the wire is gone; the peer sees a closed pipe. */
static void conn_drop(sp_conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    if (c->state != ST_CLOSED)
        c->l->n_closed++;
    c->state = ST_CLOSED;
    c->want_out = false;
    c->hs_seen = false;
    c->tx.off = c->tx.len = 0;
    c->rx.off = c->rx.len = 0;
    retry_later(c);
    if (c->l->h.lost)
        c->l->h.lost(c->l->h.arg, c);
}

static void mark_dirty(sp_conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = c->l->dirty;
        c->l->dirty = c;
    }
}

/* Start a connection (from CLOSED, so nothing is queued yet). */
static void conn_start(sp_conn *c)
{
    int fd = socket(c->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        retry_later(c);
        return;
    }
    if (!c->addr.ipc) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc = connect(fd, (struct sockaddr *)&c->addr.sa, c->addr.len);
    uint8_t hs[VT_SP_HANDSHAKE_LEN];
    vt_sp_handshake(hs, VT_SP_PROTO_REQ);
    if ((rc != 0 && errno != EINPROGRESS) /* refused, or the listener's backlog is full */ ||
        bytes_append(&c->tx, hs, sizeof hs) != 0) {
        close(fd);
        c->tx.off = c->tx.len = 0;
        retry_later(c);
        return;
    }
    c->fd = fd;
    c->state = rc == 0 ? ST_OPEN : ST_CONNECTING;
    c->l->n_closed--;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(c->l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_drop(c);
        return;
    }
    c->want_out = true;
}

static void conn_flush(sp_conn *c)
{
    while (c->state == ST_OPEN && c->tx.len > 0) {
        ssize_t n = send(c->fd, c->tx.p + c->tx.off, c->tx.len, MSG_NOSIGNAL);
        if (n > 0) {
            bytes_consume(&c->tx, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                set_events(c, true);
            return;
        }
        conn_drop(c);
        return;
    }
    if (c->state == ST_OPEN && c->want_out)
        set_events(c, false);
}

/* Parse what arrived: the peer's handshake, then framed replies. */
static void conn_parse(sp_conn *c)
{
    const sp_handlers *h = &c->l->h;
    if (!c->hs_seen) {
        if (c->rx.len < VT_SP_HANDSHAKE_LEN)
            return;
        if (!vt_sp_handshake_is(c->rx.p + c->rx.off, VT_SP_PROTO_REP)) {
            conn_drop(c); /* not an SP REP socket */
            return;
        }
        bytes_consume(&c->rx, VT_SP_HANDSHAKE_LEN);
        c->hs_seen = true;
        c->backoff_us = RETRY_MIN_US; /* a good connection resets the back-off */
    }
    while (c->fd >= 0) {
        const uint8_t *p = c->rx.p + c->rx.off;
        size_t hl = 0;
        uint64_t len = 0;
        int rv = vt_sp_frame_parse(p, c->rx.len, c->addr.ipc, c->recv_max, &hl, &len);
        if (rv == VT_ERR_TRUNCATED)
            return;
        if (rv) {
            conn_drop(c); /* garbled, or past the limit: as NNG does past NNG_OPT_RECVMAXSZ */
            return;
        }
        if (c->rx.len < hl + len) {
            if (bytes_reserve(&c->rx, hl + len - c->rx.len) != 0)
                conn_drop(c);
            return;
        }
        uint32_t id = (uint32_t)p[hl] << 24 | (uint32_t)p[hl + 1] << 16 |
                      (uint32_t)p[hl + 2] << 8 | p[hl + 3];
        bytes_consume(&c->rx, hl + len); /* the bytes stay valid until the next read */
        if (h->reply)
            h->reply(h->arg, c, id, p + hl + 4, (size_t)len - 4);
    }
}

static void conn_readable(sp_conn *c)
{
    for (;;) {
        if (bytes_reserve(&c->rx, RX_MIN / 2) != 0) {
            conn_drop(c);
            return;
        }
        size_t room = c->rx.cap - c->rx.off - c->rx.len;
        ssize_t n = recv(c->fd, c->rx.p + c->rx.off + c->rx.len, room, 0);
        if (n > 0) {
            c->rx.len += (size_t)n;
            conn_parse(c);
            if (c->fd < 0 || (size_t)n < room)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_drop(c); /* closed by the peer, or an error */
        return;
    }
}

static void conn_event(sp_conn *c, uint32_t ev)
{
    if (c->state == ST_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            conn_drop(c);
            return;
        }
        c->state = ST_OPEN;
    }
    if (c->state == ST_OPEN && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        conn_readable(c);
    if (c->state == ST_OPEN && (ev & EPOLLOUT))
        conn_flush(c);
}

/* ------------------------------------------------------------ public */

int sp_loop_open(const sp_handlers *h, sp_loop **out, vt_errinfo *ei)
{
    sp_loop *l = calloc(1, sizeof *l);
    if (!l)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    l->h = *h;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        free(l);
        return vt_fail(ei, VT_ERR_INTERNAL, "epoll_create1: %s", strerror(errno));
    }
    *out = l;
    return 0;
}

void sp_loop_close(sp_loop *l)
{
    if (!l)
        return;
    while (l->conns) {
        sp_conn *c = l->conns;
        l->conns = c->next;
        if (c->fd >= 0)
            close(c->fd);
        free(c->tx.p);
        free(c->rx.p);
        free(c);
    }
    close(l->ep);
    free(l);
}

int sp_conn_open(sp_loop *l, const char *url, size_t recv_max, sp_conn **out, vt_errinfo *ei)
{
    sp_conn *c = calloc(1, sizeof *c);
    if (!c)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    int rv = vt_sp_addr_parse(url, &c->addr, ei);
    if (rv) {
        free(c);
        return rv;
    }
    c->l = l;
    c->fd = -1;
    c->recv_max = recv_max;
    c->backoff_us = RETRY_MIN_US;
    c->next = l->conns;
    l->conns = c;
    l->n_closed++; /* calloc'd as ST_CLOSED */
    conn_start(c);
    *out = c;
    return 0;
}

int sp_conn_send(sp_conn *c, uint32_t id, const void *body, size_t len)
{
    /* Lost and not reconnected yet: fail now rather than queue a request
     * that might go out long after its sender gave up on it. */
    if (c->state == ST_CLOSED)
        return VT_ERR_UNAVAILABLE;
    uint8_t hdr[VT_SP_FRAME_HDR_MAX];
    size_t hl = vt_sp_request_header(hdr, c->addr.ipc, id, len);
    int rv = bytes_reserve(&c->tx, hl + len);
    if (rv)
        return rv;
    bytes_append(&c->tx, hdr, hl);
    bytes_append(&c->tx, body, len);
    mark_dirty(c);
    return 0;
}

int sp_loop_poll(sp_loop *l, uint64_t until_us)
{
    uint64_t now = vt_mono_us();
    uint64_t wake = until_us;
    for (sp_conn *c = l->n_closed ? l->conns : NULL; c; c = c->next)
        if (c->state == ST_CLOSED) {
            if (c->retry_us <= now)
                conn_start(c);
            if (c->state == ST_CLOSED && c->retry_us < wake)
                wake = c->retry_us;
        }
    while (l->dirty) {
        sp_conn *c = l->dirty;
        l->dirty = c->next_dirty;
        c->dirty = false;
        conn_flush(c);
    }
    struct epoll_event evs[256];
    struct timespec ts = {0, 0};
    if (wake > now) {
        uint64_t d = wake - now;
        ts.tv_sec = (time_t)(d / 1000000u);
        ts.tv_nsec = (long)(d % 1000000u) * 1000;
    }
    /* epoll_pwait2 (Linux 5.11): microsecond waits; an open loop's arrivals
     * are a few hundred us apart, and a 1 ms tick would add to their latency. */
    int n = epoll_pwait2(l->ep, evs, 256, &ts, NULL);
    if (n < 0 && errno == ENOSYS)
        n = epoll_wait(l->ep, evs, 256, (int)((ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 999) / 1000));
    if (n < 0)
        return errno == EINTR ? 0 : VT_ERR_INTERNAL;
    for (int i = 0; i < n; i++)
        conn_event(evs[i].data.ptr, evs[i].events);
    return 0;
}
