/* vt_err.h - Verity error codes and human-readable messages.
 *
 * Every Verity function returns 0 on success or a negative vt_err code.
 * The text for people comes from one place: vt_strerror(). When a caller
 * needs to know *which* field, offset or key was bad, the function also
 * fills a vt_errinfo with a one-line detail ("tensor 'blk.3.attn_q.weight':
 * offset 812 past end of file (size 640)").
 *
 * Error codes are part of the wire protocol (docs/protocol.md): never
 * renumber one, only append.
 */
#ifndef VT_ERR_H
#define VT_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vt_err {
    VT_OK = 0,
    VT_ERR_NOMEM = -1,        /* out of memory */
    VT_ERR_INVAL = -2,        /* invalid argument or value */
    VT_ERR_IO = -3,           /* I/O error (open, read, mmap, write) */
    VT_ERR_FORMAT = -4,       /* malformed file or data */
    VT_ERR_UNSUPPORTED = -5,  /* valid but not supported (type, arch, tokenizer) */
    VT_ERR_RANGE = -6,        /* value out of range / limit exceeded */
    VT_ERR_TRUNCATED = -7,    /* input ends early */
    VT_ERR_PROTO = -8,        /* malformed protocol message */
    VT_ERR_VERSION = -9,      /* unknown major protocol or file version */
    VT_ERR_AUTH = -10,        /* unknown, revoked or bad credentials */
    VT_ERR_DENIED = -11,      /* authenticated but not allowed */
    VT_ERR_NOTFOUND = -12,    /* no such job, key, item or model */
    VT_ERR_OVERLOADED = -13,  /* queue full; retry later */
    VT_ERR_TIMEOUT = -14,     /* operation timed out */
    VT_ERR_CANCELLED = -15,   /* job was cancelled */
    VT_ERR_EXPIRED = -16,     /* job passed its deadline */
    VT_ERR_UNAVAILABLE = -17, /* backing store (Redis) or peer unreachable */
    VT_ERR_NOMODEL = -18,     /* no live worker serves the model */
    VT_ERR_CLOSED = -19,      /* object or connection closed / shutting down */
    VT_ERR_BADSIG = -20,      /* signature or Merkle path does not verify */
    VT_ERR_MISMATCH = -21,    /* replay or hash mismatch */
    VT_ERR_RATELIMIT = -22,   /* per-client rate limit exceeded */
    VT_ERR_EXISTS = -23,      /* already exists */
    VT_ERR_INTERNAL = -24,    /* bug or invariant violation */
    VT_ERR_TRANSPORT = -25,   /* NNG transport error */
    VT_ERR_CUDA = -26,        /* CUDA runtime error or no device */
    VT_ERR_QUARANTINED = -27, /* node is quarantined */
    VT_ERR_CONFLICT = -28,    /* concurrent update lost a compare-and-set */
    VT_ERR_TOOBIG = -29,      /* message or item exceeds size limit */
    VT_ERR__LAST = -29
};

/* Static English text for an error code; never NULL. */
const char *vt_strerror(int err);

/* Short stable identifier ("overloaded", "auth", ...) for logs, metrics
 * labels and JSON output. Never NULL. */
const char *vt_errname(int err);

/* Optional detail for a failure. A NULL vt_errinfo* is always accepted. */
typedef struct vt_errinfo {
    int code;
    char detail[256];
} vt_errinfo;

/* Record code and a printf-style detail in ei (if non-NULL); returns code so
 * callers can write `return vt_fail(ei, VT_ERR_FORMAT, "bad magic");`. */
int vt_fail(vt_errinfo *ei, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "detail" if set, else vt_strerror(ei->code). */
const char *vt_errinfo_msg(const vt_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
