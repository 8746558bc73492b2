/* vt_sp.c - see vt_sp.h.
 *
 * The blocking connection waits in poll(2) on its socket and on an eventfd
 * that vt_sp_req_abort makes readable for good, so an abort from another
 * thread ends the call under way and every later one. A reply is returned
 * in place (no copy) and consumed at the start of the next call.
 */
#include "vt_sp.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "sp_wire.h"
#include "vt_clock.h"

#define RX_CHUNK 65536
#define CONNECT_RETRY_MIN_MS 50
#define CONNECT_RETRY_MAX_MS 1000

/* ------------------------------------------------------------ wire */

/* Split url into its scheme's family and host/port (tcp), or check the ipc
 * path. Nothing is resolved here. */
typedef struct url_parts {
    bool ipc;
    int family;      /* tcp: AF_UNSPEC, AF_INET, AF_INET6 */
    char host[256];  /* tcp */
    char port[16];   /* tcp */
    const char *path; /* ipc */
} url_parts;

static int split_url(const char *url, bool listen, url_parts *u, vt_errinfo *ei)
{
    memset(u, 0, sizeof *u);
    if (!url)
        return vt_fail(ei, VT_ERR_INVAL, "no address");
    if (strncmp(url, "ipc://", 6) == 0) {
        size_t n = strlen(url + 6);
        if (n == 0 || n >= sizeof((struct sockaddr_un *)0)->sun_path)
            return vt_fail(ei, VT_ERR_INVAL, "%s: ipc path empty or too long", url);
        u->ipc = true;
        u->path = url + 6;
        return 0;
    }
    const char *hp;
    if (strncmp(url, "tcp://", 6) == 0) {
        hp = url + 6;
        u->family = AF_UNSPEC;
    } else if (strncmp(url, "tcp4://", 7) == 0) {
        hp = url + 7;
        u->family = AF_INET;
    } else if (strncmp(url, "tcp6://", 7) == 0) {
        hp = url + 7;
        u->family = AF_INET6;
    } else {
        return vt_fail(ei, VT_ERR_UNSUPPORTED, "%s: spoken directly only over ipc:// and tcp://",
                       url);
    }
    const char *colon = strrchr(hp, ':');
    if (!colon || (colon == hp && !listen) || colon[1] == '\0' ||
        strlen(colon + 1) >= sizeof u->port)
        return vt_fail(ei, VT_ERR_INVAL, "%s: tcp:// needs HOST:PORT", url);
    size_t hl = (size_t)(colon - hp);
    if (hp[0] == '[' && hl >= 2 && hp[hl - 1] == ']') { /* [::1]:port */
        hp++;
        hl -= 2;
    }
    if (listen && (hl == 0 || (hl == 1 && hp[0] == '*'))) /* every address, as NNG */
        hl = 0;
    else if (hl == 0 || hl >= sizeof u->host)
        return vt_fail(ei, VT_ERR_INVAL, "%s: host name empty or too long", url);
    memcpy(u->host, hp, hl);
    u->host[hl] = '\0';
    memcpy(u->port, colon + 1, strlen(colon + 1) + 1);
    return 0;
}

static int resolve(const char *url, const url_parts *u, vt_sp_addr *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    if (u->ipc) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        size_t n = strlen(u->path);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, u->path, n + 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        out->ipc = true;
        return 0;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = u->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = u->host[0] ? 0 : AI_PASSIVE; /* an empty host only when listening */
    int e = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &ai);
    if (e != 0 || !ai)
        return vt_fail(ei, VT_ERR_UNAVAILABLE, "%s: %s", url, gai_strerror(e));
    memcpy(&out->sa, ai->ai_addr, ai->ai_addrlen);
    out->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int vt_sp_url_check(const char *url, vt_errinfo *ei)
{
    url_parts u;
    return split_url(url, false, &u, ei);
}

static int addr_parse(const char *url, bool listen, vt_sp_addr *out, vt_errinfo *ei)
{
    url_parts u;
    int rv = split_url(url, listen, &u, ei);
    if (rv) {
        memset(out, 0, sizeof *out);
        return rv;
    }
    return resolve(url, &u, out, ei);
}

int vt_sp_addr_parse(const char *url, vt_sp_addr *out, vt_errinfo *ei)
{
    return addr_parse(url, false, out, ei);
}

int vt_sp_listen_addr_parse(const char *url, vt_sp_addr *out, vt_errinfo *ei)
{
    return addr_parse(url, true, out, ei);
}

void vt_sp_handshake(uint8_t out[VT_SP_HANDSHAKE_LEN], uint16_t proto)
{
    memset(out, 0, VT_SP_HANDSHAKE_LEN);
    out[1] = 'S';
    out[2] = 'P';
    sp_put_be(out + 4, proto, 2);
}

bool vt_sp_handshake_is(const uint8_t in[VT_SP_HANDSHAKE_LEN], uint16_t proto)
{
    uint8_t want[VT_SP_HANDSHAKE_LEN];
    vt_sp_handshake(want, proto);
    /* bytes 6 and 7 are reserved: NNG ignores them too */
    return memcmp(in, want, 6) == 0;
}

size_t vt_sp_request_header(uint8_t out[VT_SP_FRAME_HDR_MAX], bool ipc, uint32_t id,
                            size_t body_len)
{
    size_t n = 0;
    if (ipc)
        out[n++] = 0x01;
    sp_put_be(out + n, (uint64_t)body_len + 4, 8);
    n += 8;
    sp_put_be(out + n, id | 0x80000000u, 4);
    return n + 4;
}

int vt_sp_frame_parse(const uint8_t *p, size_t n, bool ipc, size_t body_max, size_t *hdr_len,
                      uint64_t *payload_len)
{
    size_t hl = ipc ? 9 : 8;
    if (n < hl)
        return VT_ERR_TRUNCATED;
    if (ipc && p[0] != 0x01)
        return VT_ERR_PROTO;
    uint64_t len = sp_get_be(p + hl - 8, 8);
    if (len < 4)
        return VT_ERR_PROTO;
    if (len - 4 > body_max)
        return VT_ERR_TOOBIG;
    *hdr_len = hl;
    *payload_len = len;
    return 0;
}

/* ------------------------------------------------------------ blocking REQ */

struct vt_sp_req {
    char *url;      /* resolved again at every connection attempt, as NNG's dialer */
    vt_sp_addr addr; /* of the last attempt */
    size_t body_max;
    int fd;         /* -1 while not connected */
    int wake;       /* eventfd, readable once aborted */
    atomic_bool aborted;
    bool hs_sent;   /* our handshake went out on this connection */
    bool hs_seen;   /* the peer's handshake was read */
    uint32_t next_id;
    sp_rx rx;
    size_t rx_skip; /* the reply handed out last: consumed by the next call */
};

int vt_sp_req_open(const char *url, size_t body_max, vt_sp_req **out, vt_errinfo *ei)
{
    *out = NULL;
    int rv = vt_sp_url_check(url, ei);
    if (rv)
        return rv;
    vt_sp_req *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url))) {
        free(r);
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    }
    r->body_max = body_max;
    r->fd = -1;
    r->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake < 0) {
        int e = errno;
        free(r->url);
        free(r);
        return vt_fail(ei, VT_ERR_INTERNAL, "eventfd: %s", strerror(e));
    }
    atomic_init(&r->aborted, false);
    /* ids differ between a process's connections and across restarts, so a
     * stray reply is unlikely to match by accident */
    r->next_id = (uint32_t)vt_mono_us() ^ (uint32_t)(uintptr_t)r;
    *out = r;
    return 0;
}

static void conn_drop(vt_sp_req *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->hs_sent = r->hs_seen = false;
    r->rx.off = r->rx.len = r->rx_skip = 0;
}

void vt_sp_req_close(vt_sp_req *r)
{
    if (!r)
        return;
    conn_drop(r);
    close(r->wake);
    free(r->rx.p);
    free(r->url);
    free(r);
}

void vt_sp_req_abort(vt_sp_req *r)
{
    if (!r)
        return;
    atomic_store(&r->aborted, true);
    uint64_t one = 1;
    ssize_t n = write(r->wake, &one, sizeof one);
    (void)n; /* a full counter is readable already */
}

/* Wait until fd (or, with fd < 0, nothing but an abort) is ready for `ev`.
 * 0: ready; VT_ERR_TIMEOUT: the deadline (vt_mono_ms) passed; VT_ERR_CLOSED. */
static int wait_ready(vt_sp_req *r, int fd, short ev, uint64_t deadline)
{
    for (;;) {
        if (atomic_load(&r->aborted))
            return VT_ERR_CLOSED;
        uint64_t now = vt_mono_ms();
        if (now >= deadline)
            return VT_ERR_TIMEOUT;
        struct pollfd p[2] = {{.fd = r->wake, .events = POLLIN}, {.fd = fd, .events = ev}};
        int n = poll(p, fd >= 0 ? 2 : 1, (int)(deadline - now));
        if (n < 0 && errno != EINTR)
            return VT_ERR_INTERNAL;
        if (n > 0 && p[0].revents)
            return VT_ERR_CLOSED;
        if (n > 0 && fd >= 0 && p[1].revents)
            return 0;
    }
}

#define NOT_RESOLVED (-2)

/* One connection attempt: 0 connected, else errno, NOT_RESOLVED, or -1 for
 * an abort or the deadline, with *rv set. */
static int try_connect(vt_sp_req *r, uint64_t deadline, int *rv)
{
    if (vt_sp_addr_parse(r->url, &r->addr, NULL) != 0)
        return NOT_RESOLVED;
    int fd = socket(r->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (!r->addr.ipc) {
        int one = 1; /* as NNG_OPT_TCP_NODELAY, on by default there too */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int err = connect(fd, (struct sockaddr *)&r->addr.sa, r->addr.len) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
        int w = wait_ready(r, fd, POLLOUT, deadline);
        if (w) {
            close(fd);
            *rv = w;
            return -1;
        }
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            err = errno;
    }
    if (err) {
        close(fd);
        return err;
    }
    r->fd = fd;
    return 0;
}

/* Connect, retrying refused attempts (the scheduler restarting, or not up
 * yet) until the deadline, as NNG's dialer does while a send waits. */
static int conn_open(vt_sp_req *r, uint64_t deadline, vt_errinfo *ei)
{
    uint64_t backoff = CONNECT_RETRY_MIN_MS;
    for (;;) {
        int rv = 0;
        int err = try_connect(r, deadline, &rv);
        if (err == 0)
            return 0;
        if (err == -1)
            return rv == VT_ERR_CLOSED ? vt_fail(ei, rv, "closed")
                                       : vt_fail(ei, rv, "connecting: no answer in time");
        uint64_t now = vt_mono_ms();
        uint64_t until = now + backoff < deadline ? now + backoff : deadline;
        rv = wait_ready(r, -1, 0, until);
        if (rv == VT_ERR_CLOSED)
            return vt_fail(ei, rv, "closed");
        if (vt_mono_ms() >= deadline)
            return vt_fail(ei, VT_ERR_TIMEOUT, "connecting: %s",
                           err == NOT_RESOLVED ? "the name does not resolve" : strerror(err));
        backoff = backoff * 2 > CONNECT_RETRY_MAX_MS ? CONNECT_RETRY_MAX_MS : backoff * 2;
    }
}

static int send_all(vt_sp_req *r, struct iovec *iov, int n, uint64_t deadline, vt_errinfo *ei)
{
    while (n > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(r->fd, &mh, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_ready(r, r->fd, POLLOUT, deadline);
            if (w)
                return vt_fail(ei, w, w == VT_ERR_CLOSED ? "closed" : "send: no room in time");
            continue;
        }
        if (k < 0)
            return vt_fail(ei, VT_ERR_TRANSPORT, "send: %s", strerror(errno));
        size_t left = (size_t)k;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Look for the reply to `id` among the bytes read: 0 found, VT_ERR_TRUNCATED
 * (read more; *need says how much at least), or a reason to drop. */
static int rx_scan(vt_sp_req *r, uint32_t id, const uint8_t **reply, size_t *reply_len,
                   size_t *need, vt_errinfo *ei)
{
    if (!r->hs_seen) {
        if (r->rx.len < VT_SP_HANDSHAKE_LEN) {
            *need = VT_SP_HANDSHAKE_LEN - r->rx.len;
            return VT_ERR_TRUNCATED;
        }
        if (!vt_sp_handshake_is(r->rx.p + r->rx.off, VT_SP_PROTO_REP))
            return vt_fail(ei, VT_ERR_TRANSPORT, "the peer is not an SP REP socket");
        sp_rx_consume(&r->rx, VT_SP_HANDSHAKE_LEN);
        r->hs_seen = true;
    }
    for (;;) {
        size_t hl = 0;
        uint64_t pl = 0;
        int rv = vt_sp_frame_parse(r->rx.p + r->rx.off, r->rx.len, r->addr.ipc, r->body_max, &hl,
                                   &pl);
        if (rv == VT_ERR_TRUNCATED) {
            *need = 1; /* any read helps; vt_sp_frame_parse knows the header's size */
            return rv;
        }
        if (rv == VT_ERR_TOOBIG)
            return vt_fail(ei, VT_ERR_TRANSPORT, "reply over the %zu-byte receive limit",
                           r->body_max);
        if (rv)
            return vt_fail(ei, VT_ERR_TRANSPORT, "malformed frame from the peer");
        if (r->rx.len < hl + pl) {
            *need = hl + (size_t)pl - r->rx.len;
            return VT_ERR_TRUNCATED;
        }
        const uint8_t *p = r->rx.p + r->rx.off;
        if ((uint32_t)sp_get_be(p + hl, 4) == (id | 0x80000000u)) {
            *reply = p + hl + 4;
            *reply_len = (size_t)pl - 4;
            r->rx_skip = hl + (size_t)pl;
            return 0;
        }
        sp_rx_consume(&r->rx, hl + (size_t)pl); /* the late reply to a call that timed out */
    }
}

static int recv_reply(vt_sp_req *r, uint32_t id, uint64_t deadline, const uint8_t **reply,
                      size_t *reply_len, vt_errinfo *ei)
{
    for (;;) {
        size_t need = 0;
        int rv = rx_scan(r, id, reply, reply_len, &need, ei);
        if (rv != VT_ERR_TRUNCATED)
            return rv;
        if (sp_rx_reserve(&r->rx, need > RX_CHUNK / 2 ? need : RX_CHUNK / 2, RX_CHUNK) != 0)
            return vt_fail(ei, VT_ERR_NOMEM, "out of memory for a reply");
        size_t room = r->rx.cap - r->rx.off - r->rx.len;
        ssize_t k = recv(r->fd, r->rx.p + r->rx.off + r->rx.len, room, 0);
        if (k > 0) {
            r->rx.len += (size_t)k;
            continue;
        }
        if (k == 0)
            return vt_fail(ei, VT_ERR_TRANSPORT, "connection closed by the peer");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return vt_fail(ei, VT_ERR_TRANSPORT, "recv: %s", strerror(errno));
        int w = wait_ready(r, r->fd, POLLIN, deadline);
        if (w)
            return vt_fail(ei, w, w == VT_ERR_CLOSED ? "closed" : "no reply in time");
    }
}

/* Whether the peer closed (or reset) the connection while it sat idle
 * between calls: a restarted server, or one that dropped us. NNG's dialer
 * reconnects in the background then, so a request made afterwards never
 * meets the dead pipe; checking before each send gives the same. */
static bool conn_peer_gone(vt_sp_req *r)
{
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLERR))
        return true;
    /* Readable: end of stream, or bytes (a late reply, skipped by its id
     * once this call reads; an end of stream behind it shows then). */
    uint8_t b;
    ssize_t k = recv(r->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int vt_sp_req_call(vt_sp_req *r, const void *req, size_t len, int timeout_ms,
                   const uint8_t **reply, size_t *reply_len, vt_errinfo *ei)
{
    *reply = NULL;
    *reply_len = 0;
    if (atomic_load(&r->aborted))
        return vt_fail(ei, VT_ERR_CLOSED, "closed");
    sp_rx_consume(&r->rx, r->rx_skip);
    r->rx_skip = 0;
    uint64_t deadline = vt_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int rv = 0;
    if (r->fd >= 0 && conn_peer_gone(r))
        conn_drop(r);
    if (r->fd < 0 && (rv = conn_open(r, deadline, ei)) != 0)
        return rv;
    uint8_t hs[VT_SP_HANDSHAKE_LEN], hdr[VT_SP_FRAME_HDR_MAX];
    uint32_t id = r->next_id++ & 0x7fffffffu;
    struct iovec iov[3];
    int n = 0;
    if (!r->hs_sent) { /* the peer reads our handshake first: no need to wait for its */
        vt_sp_handshake(hs, VT_SP_PROTO_REQ);
        iov[n++] = (struct iovec){hs, sizeof hs};
    }
    iov[n].iov_base = hdr;
    iov[n++].iov_len = vt_sp_request_header(hdr, r->addr.ipc, id, len);
    iov[n++] = (struct iovec){(void *)req, len};
    rv = send_all(r, iov, n, deadline, ei);
    if (rv) {
        conn_drop(r); /* a frame cut short would garble the stream */
        return rv;
    }
    r->hs_sent = true;
    deadline = vt_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    rv = recv_reply(r, id, deadline, reply, reply_len, ei);
    if (rv && rv != VT_ERR_TIMEOUT)
        conn_drop(r); /* a late reply is skipped by its id, so a timeout keeps it */
    return rv;
}
