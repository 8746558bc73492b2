/* vt_sp_rep.c - the REP side of the SP wire on one epoll thread (vt_sp.h).
 *
 * Threads: the server's thread owns the listener, every connection's
 * receive side (its rx buffer, handshake state, stall flag) and the list of
 * connections. A connection's send side (queued bytes, closed flag, epoll
 * mask) is shared with whichever thread replies and is guarded by the
 * connection's mutex; a reply is written straight from the replying thread
 * and only what the socket does not take at once is left for the server's
 * thread to flush. A connection's memory lives while the server's thread or
 * an unanswered request holds a reference; its descriptor is closed (under
 * its mutex, so no reply can write to a reused descriptor) when the server's
 * thread ends it.
 */
#define _GNU_SOURCE /* accept4 */
#include "vt_sp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sp_wire.h"
#include "vt_clock.h"
#include "vt_log.h"

#define RX_CHUNK 65536
#define RX_KEEP (1u << 20)         /* an idle connection gives back a larger rx buffer */
#define BT_MAX_HOPS 8              /* NNG's default NNG_OPT_MAXTTL */
#define HANDSHAKE_MS 10000         /* as NNG's tcp/ipc handshake timeout */
#define TX_CAP_MIN ((size_t)64 << 20)
#define ACCEPT_RETRY_MS 100
#define MAX_EVENTS 64
#define LISTEN_BACKLOG 4096

struct vt_sp_pipe {
    atomic_uint refs;
    uint32_t id;
    int epfd;
    bool ipc;           /* frames carry a type byte */
    size_t tx_max;      /* replies left unread beyond this end the connection */
    pthread_mutex_t mu; /* guards fd, closed, reading, tx, events */
    int fd;
    bool closed;
    bool reading;       /* false while stalled */
    uint32_t events;    /* the epoll mask registered */
    uint8_t *tx;
    size_t tx_off, tx_len, tx_cap;
    /* the server's thread only */
    bool hs_done;
    bool stalled;
    uint64_t hs_deadline_ms;
    sp_rx rx;
    vt_sp_pipe *prev, *next;       /* every connection */
    vt_sp_pipe *stall_next;        /* refused by `request`, waiting for resume */
    vt_sp_pipe *end_next;          /* ended, the server's reference dropped after the batch */
};

struct vt_sp_rep {
    vt_sp_rep_ops ops;
    size_t body_max, tx_cap;
    bool ipc;
    char ipc_path[sizeof((struct sockaddr_un *)0)->sun_path];
    int lfd, epfd, wake;
    pthread_t thread;
    atomic_bool stop;
    /* the server's thread only */
    uint32_t next_id;
    vt_sp_pipe *pipes;
    vt_sp_pipe *stalled;
    vt_sp_pipe *ended;
    uint64_t accept_retry_ms; /* 0 unless accepting is paused */
    uint64_t next_sweep_ms;
    char lfd_tag, wake_tag;   /* epoll tags of the listener and the eventfd */
};

/* ------------------------------------------------------------ connections */

static void pipe_unref(vt_sp_pipe *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p->tx);
    free(p->rx.p);
    free(p);
}

/* Register the epoll mask the connection needs now; with p->mu held. A
 * stalled connection still hears of its peer leaving (EPOLLRDHUP). */
static void pipe_arm(vt_sp_pipe *p)
{
    uint32_t ev = (p->reading ? EPOLLIN : EPOLLRDHUP) | (p->tx_len ? EPOLLOUT : 0);
    if (ev == p->events || p->closed)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = p};
    if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, p->fd, &e) == 0)
        p->events = ev;
}

/* Write what the socket takes of tx and then of iov, queue the rest of
 * iov; with p->mu held. Returns 0, or an errno (the connection is gone, or
 * ENOMEM). */
static int pipe_write(vt_sp_pipe *p, const struct iovec *iov, int n)
{
    struct iovec all[4];
    int k = 0;
    if (p->tx_len)
        all[k++] = (struct iovec){p->tx + p->tx_off, p->tx_len};
    size_t iov_total = 0;
    for (int i = 0; i < n; i++) {
        all[k++] = iov[i];
        iov_total += iov[i].iov_len;
    }
    ssize_t w;
    do {
        struct msghdr mh = {.msg_iov = all, .msg_iovlen = (size_t)k};
        w = sendmsg(p->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return errno;
    size_t done = w > 0 ? (size_t)w : 0;
    size_t from_tx = done < p->tx_len ? done : p->tx_len;
    p->tx_off += from_tx;
    p->tx_len -= from_tx;
    if (p->tx_len == 0)
        p->tx_off = 0;
    done -= from_tx; /* bytes of iov sent */
    size_t left = iov_total - done;
    if (left == 0)
        return 0;
    if (p->tx_off + p->tx_len + left > p->tx_cap) {
        if (p->tx_off) {
            memmove(p->tx, p->tx + p->tx_off, p->tx_len);
            p->tx_off = 0;
        }
        size_t cap = p->tx_cap ? p->tx_cap : RX_CHUNK;
        while (cap < p->tx_len + left)
            cap *= 2;
        if (cap != p->tx_cap) {
            uint8_t *t = realloc(p->tx, cap);
            if (!t)
                return ENOMEM;
            p->tx = t;
            p->tx_cap = cap;
        }
    }
    for (int i = 0; i < n; i++) {
        size_t skip = done < iov[i].iov_len ? done : iov[i].iov_len;
        done -= skip;
        memcpy(p->tx + p->tx_off + p->tx_len, (const uint8_t *)iov[i].iov_base + skip,
               iov[i].iov_len - skip);
        p->tx_len += iov[i].iov_len - skip;
    }
    return 0;
}

static void emit(vt_sp_rep *srv, int ev, uint32_t id, const char *what)
{
    if (srv->ops.event && !atomic_load(&srv->stop))
        srv->ops.event(srv->ops.arg, ev, id, what);
}

/* End a connection (the server's thread). Its memory stays while requests
 * from it are unanswered (replies to them find it closed), and at least
 * until the current epoll batch is done (a later event may name it). */
static void pipe_end(vt_sp_rep *srv, vt_sp_pipe *p, const char *why)
{
    pthread_mutex_lock(&p->mu);
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
    p->closed = true;
    pthread_mutex_unlock(&p->mu);
    if (p->prev)
        p->prev->next = p->next;
    else
        srv->pipes = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->stalled) {
        for (vt_sp_pipe **pp = &srv->stalled; *pp; pp = &(*pp)->stall_next)
            if (*pp == p) {
                *pp = p->stall_next;
                break;
            }
    }
    p->end_next = srv->ended;
    srv->ended = p;
    if (p->hs_done)
        emit(srv, VT_SP_EV_PIPE_REM, p->id, why);
}

static void drop_ended(vt_sp_rep *srv)
{
    while (srv->ended) {
        vt_sp_pipe *p = srv->ended;
        srv->ended = p->end_next;
        pipe_unref(p);
    }
}

/* ------------------------------------------------------------ receiving */

/* Hand every whole request in rx to `request`. false: the connection was
 * ended (why says so). A refused request stays in rx and stalls the pipe. */
static bool pipe_consume(vt_sp_rep *srv, vt_sp_pipe *p, const char **why)
{
    for (;;) {
        const uint8_t *in = p->rx.p + p->rx.off;
        if (!p->hs_done) {
            if (p->rx.len < VT_SP_HANDSHAKE_LEN)
                return true;
            if (!vt_sp_handshake_is(in, VT_SP_PROTO_REQ)) {
                *why = "bad handshake (not an SP REQ peer)";
                return false;
            }
            sp_rx_consume(&p->rx, VT_SP_HANDSHAKE_LEN);
            p->hs_done = true;
            emit(srv, VT_SP_EV_PIPE_ADD, p->id, NULL);
            continue;
        }
        size_t hl = 0;
        uint64_t pl = 0;
        int rv = vt_sp_frame_parse(in, p->rx.len, srv->ipc, srv->body_max, &hl, &pl);
        if (rv == VT_ERR_TRUNCATED)
            return true;
        if (rv == VT_ERR_TOOBIG) {
            *why = "message over recv-max";
            return false;
        }
        if (rv) {
            *why = "malformed frame";
            return false;
        }
        if (p->rx.len < hl + pl) {
            if (sp_rx_reserve(&p->rx, hl + (size_t)pl - p->rx.len, RX_CHUNK) != 0) {
                *why = "out of memory";
                return false;
            }
            return true;
        }
        const uint8_t *pay = in + hl;
        vt_sp_rep_req rq = {.pipe = p, .pipe_id = p->id};
        for (uint32_t hop = 0;; hop++) {
            if (hop >= BT_MAX_HOPS || (hop + 1) * 4 > pl) {
                rq.bt_len = 0;
                break;
            }
            if (pay[hop * 4] & 0x80) {
                rq.bt_len = (uint8_t)((hop + 1) * 4);
                break;
            }
        }
        if (rq.bt_len == 0) { /* as NNG's REP socket: drop it, keep the peer */
            sp_rx_consume(&p->rx, hl + (size_t)pl);
            emit(srv, VT_SP_EV_DROPPED, p->id, "request without a valid backtrace");
            continue;
        }
        memcpy(rq.bt, pay, rq.bt_len);
        atomic_fetch_add(&p->refs, 1);
        if (!srv->ops.request(srv->ops.arg, &rq, pay + rq.bt_len, (size_t)pl - rq.bt_len)) {
            atomic_fetch_sub(&p->refs, 1); /* the server's own reference remains */
            if (!p->stalled) {
                p->stalled = true;
                p->stall_next = srv->stalled;
                srv->stalled = p;
                pthread_mutex_lock(&p->mu);
                p->reading = false;
                pipe_arm(p);
                pthread_mutex_unlock(&p->mu);
            }
            return true;
        }
        sp_rx_consume(&p->rx, hl + (size_t)pl);
    }
}

static void pipe_readable(vt_sp_rep *srv, vt_sp_pipe *p)
{
    const char *why = NULL;
    for (int round = 0; round < 4 && !p->stalled; round++) {
        if (sp_rx_reserve(&p->rx, RX_CHUNK / 2, RX_CHUNK) != 0) {
            pipe_end(srv, p, "out of memory");
            return;
        }
        size_t room = p->rx.cap - p->rx.off - p->rx.len;
        ssize_t k = recv(p->fd, p->rx.p + p->rx.off + p->rx.len, room, MSG_DONTWAIT);
        if (k == 0) {
            pipe_end(srv, p, "closed by the peer");
            return;
        }
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            pipe_end(srv, p, strerror(errno));
            return;
        }
        p->rx.len += (size_t)k;
        if (!pipe_consume(srv, p, &why)) {
            pipe_end(srv, p, why);
            return;
        }
        if ((size_t)k < room)
            break;
    }
    if (p->rx.len == 0 && p->rx.cap > RX_KEEP) {
        free(p->rx.p);
        memset(&p->rx, 0, sizeof p->rx);
    }
}

static void pipe_writable(vt_sp_rep *srv, vt_sp_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    int err = p->closed ? 0 : pipe_write(p, NULL, 0);
    if (!err)
        pipe_arm(p);
    pthread_mutex_unlock(&p->mu);
    if (err)
        pipe_end(srv, p, strerror(err));
}

/* Give stalled connections another go, the latest refused first; stop at
 * the first that is refused again (no context is free yet). */
static void resume_stalled(vt_sp_rep *srv)
{
    while (srv->stalled) {
        vt_sp_pipe *p = srv->stalled;
        srv->stalled = p->stall_next;
        p->stall_next = NULL;
        p->stalled = false;
        const char *why = NULL;
        if (!pipe_consume(srv, p, &why)) {
            pipe_end(srv, p, why);
            continue;
        }
        if (p->stalled) /* refused again: nothing more to take for now */
            return;
        pthread_mutex_lock(&p->mu);
        p->reading = true;
        pipe_arm(p);
        pthread_mutex_unlock(&p->mu);
    }
}

/* ------------------------------------------------------------ accepting */

static void accept_all(vt_sp_rep *srv)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* out of descriptors or memory: pause rather than spin */
            emit(srv, VT_SP_EV_ACCEPT_FAIL, 0, strerror(errno));
            struct epoll_event e = {.events = 0, .data.ptr = &srv->lfd_tag};
            epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &e);
            srv->accept_retry_ms = vt_mono_ms() + ACCEPT_RETRY_MS;
            return;
        }
        if (!srv->ipc) {
            int one = 1; /* as NNG_OPT_TCP_NODELAY, on by default there too */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        vt_sp_pipe *p = calloc(1, sizeof *p);
        if (!p) {
            close(fd);
            continue;
        }
        atomic_init(&p->refs, 1);
        pthread_mutex_init(&p->mu, NULL);
        p->fd = fd;
        p->epfd = srv->epfd;
        p->ipc = srv->ipc;
        p->tx_max = srv->tx_cap;
        p->reading = true;
        do /* 31 bits, never 0, as NNG's pipe ids */
            p->id = srv->next_id++ & 0x7fffffffu;
        while (p->id == 0);
        p->hs_deadline_ms = vt_mono_ms() + HANDSHAKE_MS;
        p->events = EPOLLIN;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = p};
        uint8_t hs[VT_SP_HANDSHAKE_LEN];
        vt_sp_handshake(hs, VT_SP_PROTO_REP);
        struct iovec iov = {hs, sizeof hs};
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) != 0 || pipe_write(p, &iov, 1) != 0) {
            close(fd);
            pipe_unref(p);
            continue;
        }
        if (p->tx_len) /* a fresh socket takes 8 bytes; but be correct */
            pipe_arm(p);
        p->next = srv->pipes;
        if (srv->pipes)
            srv->pipes->prev = p;
        srv->pipes = p;
    }
}

/* Drop connections whose handshake is overdue; resume accepting. */
static void sweep(vt_sp_rep *srv, uint64_t now)
{
    if (srv->accept_retry_ms && now >= srv->accept_retry_ms) {
        srv->accept_retry_ms = 0;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &srv->lfd_tag};
        epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &e);
    }
    if (now < srv->next_sweep_ms)
        return;
    srv->next_sweep_ms = now + 1000;
    for (vt_sp_pipe *p = srv->pipes, *nx; p; p = nx) {
        nx = p->next;
        if (!p->hs_done && now >= p->hs_deadline_ms)
            pipe_end(srv, p, "no handshake in time");
    }
}

static void *serve(void *arg)
{
    vt_sp_rep *srv = arg;
    vt_thread_name(srv->ops.name ? srv->ops.name : "sp-rep");
    struct epoll_event evs[MAX_EVENTS];
    while (!atomic_load(&srv->stop)) {
        int timeout = srv->accept_retry_ms ? ACCEPT_RETRY_MS : 1000;
        int n = epoll_wait(srv->epfd, evs, MAX_EVENTS, timeout);
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &srv->lfd_tag) {
                accept_all(srv);
                continue;
            }
            if (tag == &srv->wake_tag) {
                uint64_t v;
                ssize_t r = read(srv->wake, &v, sizeof v);
                (void)r;
                resume_stalled(srv);
                continue;
            }
            vt_sp_pipe *p = tag;
            if (p->fd < 0)
                continue; /* ended by an earlier event of this batch */
            uint32_t ev = evs[i].events;
            if (ev & EPOLLOUT)
                pipe_writable(srv, p);
            if (p->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !p->stalled)
                pipe_readable(srv, p);
            else if (p->fd >= 0 && (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                pipe_end(srv, p, "closed by the peer");
        }
        sweep(srv, vt_mono_ms());
        drop_ended(srv);
    }
    return NULL;
}

/* ------------------------------------------------------------ public */

/* An ipc:// path that exists: replace it only if it is a socket nobody
 * answers on (never a file that is not a socket). */
static bool ipc_stale(const vt_sp_addr *a)
{
    struct stat st;
    if (lstat(((const struct sockaddr_un *)&a->sa)->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool stale = connect(fd, (const struct sockaddr *)&a->sa, a->len) != 0 &&
                 errno == ECONNREFUSED;
    close(fd);
    return stale;
}

static int listen_on(vt_sp_rep *srv, const char *url, vt_errinfo *ei)
{
    vt_sp_addr a;
    int rv = vt_sp_listen_addr_parse(url, &a, ei);
    if (rv)
        return rv;
    srv->ipc = a.ipc;
    int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vt_fail(ei, VT_ERR_TRANSPORT, "%s: socket: %s", url, strerror(errno));
    if (!a.ipc) {
        int one = 1; /* a restarted scheduler rebinds over TIME_WAIT, as NNG's listener */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    int err = bind(fd, (struct sockaddr *)&a.sa, a.len) == 0 ? 0 : errno;
    if (err == EADDRINUSE && a.ipc && ipc_stale(&a)) {
        unlink(((struct sockaddr_un *)&a.sa)->sun_path);
        err = bind(fd, (struct sockaddr *)&a.sa, a.len) == 0 ? 0 : errno;
    }
    /* A deep backlog: over ipc:// a connect to a full backlog fails at once
     * (EAGAIN) rather than waiting, and agents connect in bursts (hundreds
     * at a client's start). The kernel caps it at net.core.somaxconn. */
    if (!err && listen(fd, LISTEN_BACKLOG) != 0)
        err = errno;
    if (err) {
        close(fd);
        return vt_fail(ei, VT_ERR_TRANSPORT, "cannot listen on %s: %s", url, strerror(err));
    }
    if (a.ipc)
        snprintf(srv->ipc_path, sizeof srv->ipc_path, "%s",
                 ((struct sockaddr_un *)&a.sa)->sun_path);
    srv->lfd = fd;
    return 0;
}

int vt_sp_rep_open(const char *url, size_t body_max, const vt_sp_rep_ops *ops, vt_sp_rep **out,
                   vt_errinfo *ei)
{
    *out = NULL;
    if (!ops || !ops->request)
        return vt_fail(ei, VT_ERR_INVAL, "no request handler");
    vt_sp_rep *srv = calloc(1, sizeof *srv);
    if (!srv)
        return vt_fail(ei, VT_ERR_NOMEM, "out of memory");
    srv->ops = *ops;
    srv->body_max = body_max;
    srv->tx_cap = 4 * body_max > TX_CAP_MIN ? 4 * body_max : TX_CAP_MIN;
    srv->lfd = srv->epfd = srv->wake = -1;
    atomic_init(&srv->stop, false);
    srv->next_id = ((uint32_t)vt_mono_us() & 0xffffu) << 8 | 1; /* not 0, as NNG's pipe ids */
    int rv = listen_on(srv, url, ei);
    if (rv) {
        free(srv);
        return rv;
    }
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &srv->lfd_tag};
    struct epoll_event we = {.events = EPOLLIN, .data.ptr = &srv->wake_tag};
    if (srv->epfd < 0 || srv->wake < 0 || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &le) ||
        epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wake, &we) ||
        pthread_create(&srv->thread, NULL, serve, srv) != 0) {
        int e = errno;
        if (srv->epfd >= 0)
            close(srv->epfd);
        if (srv->wake >= 0)
            close(srv->wake);
        close(srv->lfd);
        if (srv->ipc_path[0])
            unlink(srv->ipc_path);
        free(srv);
        return vt_fail(ei, VT_ERR_INTERNAL, "%s: server thread: %s", url, strerror(e));
    }
    *out = srv;
    return 0;
}

void vt_sp_rep_resume(vt_sp_rep *srv)
{
    uint64_t one = 1;
    ssize_t n = write(srv->wake, &one, sizeof one);
    (void)n; /* a full counter is readable already */
}

int vt_sp_rep_port(const vt_sp_rep *srv)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (srv->ipc || getsockname(srv->lfd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void vt_sp_rep_close(vt_sp_rep *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stop, true);
    vt_sp_rep_resume(srv);
    pthread_join(srv->thread, NULL);
    while (srv->pipes)
        pipe_end(srv, srv->pipes, "server closed");
    drop_ended(srv);
    close(srv->lfd);
    if (srv->ipc_path[0])
        unlink(srv->ipc_path);
    close(srv->epfd);
    close(srv->wake);
    free(srv);
}

int vt_sp_rep_reply(vt_sp_rep_req *rq, const void *body, size_t len)
{
    vt_sp_pipe *p = rq->pipe;
    rq->pipe = NULL;
    if (!p)
        return VT_ERR_INVAL;
    uint8_t hdr[9 + sizeof rq->bt];
    size_t hl = 0;
    if (p->ipc)
        hdr[hl++] = 0x01;
    sp_put_be(hdr + hl, (uint64_t)rq->bt_len + len, 8);
    hl += 8;
    memcpy(hdr + hl, rq->bt, rq->bt_len);
    hl += rq->bt_len;
    struct iovec iov[2] = {{hdr, hl}, {(void *)body, len}};
    int rv = 0;
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        rv = VT_ERR_CLOSED;
    } else {
        int err = pipe_write(p, iov, 2);
        if (err == ENOMEM) {
            rv = VT_ERR_NOMEM;
        } else if (err || p->tx_len > p->tx_max) {
            /* gone, or a peer that does not read its replies: the server's
             * thread sees the shutdown and ends the connection */
            shutdown(p->fd, SHUT_RDWR);
            rv = VT_ERR_CLOSED;
        } else {
            pipe_arm(p);
        }
    }
    pthread_mutex_unlock(&p->mu);
    pipe_unref(p);
    return rv;
}

void vt_sp_rep_drop(vt_sp_rep_req *rq)
{
    if (rq->pipe)
        pipe_unref(rq->pipe);
    rq->pipe = NULL;
}
