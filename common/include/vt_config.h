/* vt_config.h - declarative command-line + environment configuration.
 *
 * Each daemon describes its options in one table; this module parses argv
 * and the environment, validates every value, writes the results through
 * the destination pointers, and generates --help from the same table, so
 * the documentation (docs/configuration.md) and the code cannot drift.
 *
 *   static vt_common_opts common;
 *   static int64_t queue_max;
 *   static const char *redis_url;
 *   vt_opt opts[] = {
 *       VT_COMMON_OPTS(&common, "127.0.0.1:9400"),
 *       { .flag = "queue-max", .env = "VERITY_QUEUE_MAX", .type = VT_OPT_INT,
 *         .metavar = "N", .def = "10000", .min = 1, .max = 10000000,
 *         .help = "queued jobs before submit answers overloaded",
 *         .dest = &queue_max },
 *       { .flag = "redis", .env = "VERITY_REDIS", .type = VT_OPT_STRING,
 *         .metavar = "URL", .def = "redis://127.0.0.1:6379",
 *         .help = "...", .dest = &redis_url },
 *       VT_OPT_END
 *   };
 *   vt_config_or_exit(opts, argc, argv, "verity-scheduler", "Verity job scheduler");
 *
 * Precedence: flag > environment variable > default. A flag given twice:
 * the last one wins (LIST: flags accumulate). If a LIST flag is given at all,
 * its environment variable is ignored.
 *
 * Flag syntax: "--name value" or "--name=value". BOOL flags take no value
 * ("--identity") or an explicit one ("--identity=false"). "--" ends the
 * options. argv[0] is skipped.
 *
 * Value syntax:
 *   INT          decimal integer, checked against [min, max] (both 0 = no
 *                bounds check)
 *   DURATION_MS  integer milliseconds, optionally with a unit suffix:
 *                "250", "250ms", "2s", "5m", "1h"; checked against [min,max]
 *                in milliseconds (both 0 = no bounds check)
 *   BOOL         1/0, true/false, yes/no, on/off (case-insensitive)
 *   ENUM         one of `choices` (exact match); dest gets the index
 *   STRING       any non-empty string (empty is an error unless
 *                VT_OPT_ALLOW_EMPTY)
 *   LIST         flag repeatable; env var is comma-separated ("a,b,c");
 *                empty items are errors
 *   HOSTPORT     "host:port" (port 0..65535, host a name, IPv4 or [IPv6]) or
 *                the word "off"
 *   URL          an NNG address: tcp://host:port, ipc:///path, tls+tcp://,
 *                inproc://name; checked with nng_url_parse
 *   FILE         path of an existing readable regular file
 * Every type additionally runs `check` when set (e.g. the Redis URL parser).
 *
 * Destination types (dest):
 *   INT, DURATION_MS          int64_t *
 *   BOOL                      bool *
 *   ENUM                      int *  (index into choices)
 *   STRING, HOSTPORT, URL, FILE  const char **  (points into argv, the
 *                             environment or the table's default: valid for
 *                             the process lifetime; nothing to free)
 *   LIST                      vt_strlist *  (allocated; vt_config_free)
 * With def == NULL and no flag/env, dest is left as the caller initialised
 * it (so the caller can use a sentinel like 0 = "number of CPUs").
 *
 * Errors are one line naming where the bad value came from, e.g.
 *   --queue-max: 'abc' is not an integer
 *   VERITY_QUEUE_MAX: '-5' must be between 1 and 10000000
 *   --key (VERITY_KEY_FILE) is required
 *   --log-format: 'xml' is not one of text|json
 *   unknown option '--qeue-max' (see --help)
 * An environment variable set to "" counts as unset (Helm templates often
 * render optional values as empty strings). A bad default in the table is
 * reported as VT_ERR_INTERNAL ("default of --x: ...").
 *
 * --help format (STABLE: the Helm chart tests parse it). Lines:
 *   Usage: <prog> [options]
 *   <summary>
 *   <empty line>
 *   Options:
 *   then one line per option, in table order, exactly:
 *   "  --<flag>[ <METAVAR>]  (<ENV>, <DEFAULT>)  <help>"
 *     <ENV> is the variable name or "-" when the option has none;
 *     <DEFAULT> is "default <text>" (text = def_help, else def, else for BOOL
 *     "off"), or "required", or "no default";
 *     METAVAR is omitted for BOOL; for ENUM it is the choices joined by '|'.
 *   and finally "  --help  (-, no default)  show this help and exit".
 * Regex for an option line:
 *   ^  --([a-z0-9-]+)(?: (\S+))?  \(([A-Z0-9_]+|-), (default .*|required|no default)\)  (.*)$
 * Example:
 *   "  --queue-max N  (VERITY_QUEUE_MAX, default 10000)  queued jobs before..."
 */
#ifndef VT_CONFIG_H
#define VT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vt_err.h"
#include "vt_log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_opt_type {
    VT_OPT_STRING = 1,
    VT_OPT_INT,
    VT_OPT_DURATION_MS,
    VT_OPT_BOOL,
    VT_OPT_ENUM,
    VT_OPT_LIST,
    VT_OPT_HOSTPORT,
    VT_OPT_URL,
    VT_OPT_FILE
} vt_opt_type;

/* vt_opt.flags */
#define VT_OPT_REQUIRED 0x1u    /* must be given by flag or env (def ignored) */
#define VT_OPT_ALLOW_EMPTY 0x2u /* STRING may be "" */

/* A list of strings (LIST options). items[i] are owned by the list. */
typedef struct vt_strlist {
    char **items;
    size_t n;
} vt_strlist;

int vt_strlist_push(vt_strlist *l, const char *s); /* 0 or VT_ERR_NOMEM */
void vt_strlist_free(vt_strlist *l);               /* back to {NULL, 0} */

/* Extra validation hook: return 0, or a vt_err code with a detail in ei
 * (the detail should describe the value, e.g. "scheme must be redis:// or
 * unix://"; the parser prefixes the flag/variable name). */
typedef int (*vt_opt_check_fn)(const char *value, vt_errinfo *ei);

typedef struct vt_opt {
    const char *flag;    /* without the leading "--": "queue-max"; NULL ends the table */
    const char *env;     /* "VERITY_QUEUE_MAX" or NULL */
    vt_opt_type type;
    const char *metavar; /* "N", "URL", "FILE"... NULL: derived from the type */
    const char *def;     /* default, written like user input; NULL: none */
    const char *def_help;/* shown in --help instead of def ("number of CPUs") */
    const char *help;    /* one line, no newline */
    void *dest;
    int64_t min, max;                  /* INT, DURATION_MS */
    const char *const *choices;        /* ENUM: NULL-terminated */
    vt_opt_check_fn check;             /* optional */
    unsigned flags;                    /* VT_OPT_REQUIRED, VT_OPT_ALLOW_EMPTY */
} vt_opt;

#define VT_OPT_END { .flag = NULL }

/* Optional compile-time check of a destination's type (dest is void*, so a
 * plain `int` behind an INT option would be silently overrun):
 *   .dest = VT_DEST_I64(&cf->queue_max)    INT, DURATION_MS
 *   .dest = VT_DEST_BOOL(&cf->identity)    BOOL
 *   .dest = VT_DEST_ENUM(&cf->device)      ENUM
 *   .dest = VT_DEST_STR(&cf->redis_url)    STRING, HOSTPORT, URL, FILE
 *   .dest = VT_DEST_LIST(&cf->models)      LIST
 * A wrong pointer type fails to compile ("_Generic selector ... not
 * compatible"). */
#define VT_DEST_I64(p) _Generic((p), int64_t *: (void *)(p))
#define VT_DEST_BOOL(p) _Generic((p), bool *: (void *)(p))
#define VT_DEST_ENUM(p) _Generic((p), int *: (void *)(p))
#define VT_DEST_STR(p) _Generic((p), const char **: (void *)(p))
#define VT_DEST_LIST(p) _Generic((p), vt_strlist *: (void *)(p))

/* Parse argv (argv[0] skipped) and the environment into the table's
 * destinations. Non-option arguments are appended to *positional when it is
 * non-NULL, else they are errors. *help (may be NULL) is set when --help was
 * given; the rest is then not validated (required options may be missing).
 * Returns 0, VT_ERR_INVAL (bad user input, one-line detail in ei),
 * VT_ERR_INTERNAL (bad table, e.g. a default that fails its own type) or
 * VT_ERR_NOMEM. On error LIST destinations may hold partial results;
 * call vt_config_free. */
int vt_config_parse(const vt_opt *opts, int argc, char *const argv[],
                    vt_strlist *positional, bool *help, vt_errinfo *ei);

/* Print the --help text described above. */
void vt_config_help(FILE *fp, const char *prog, const char *summary,
                    const vt_opt *opts);

/* Daemon convenience: parse; on --help print help to stdout and exit(0); on
 * error print "<prog>: <detail>" to stderr and exit(2). Positional args are
 * errors. */
void vt_config_or_exit(const vt_opt *opts, int argc, char *const argv[],
                       const char *prog, const char *summary);

/* Free LIST destinations of the table. */
void vt_config_free(const vt_opt *opts);

/* Parse helpers used by the table parser, exported for other code that reads
 * user values (CLI sub-commands, protocol fields). 0 or VT_ERR_INVAL. */
int vt_parse_int64(const char *s, int64_t *out);
int vt_parse_duration_ms(const char *s, int64_t *out);
int vt_parse_bool(const char *s, bool *out);
/* Bounded, printable copy of a user-supplied value for one-line error
 * messages: control bytes become \xNN, more than 80 bytes end in "...".
 * out always NUL-terminated (outsz >= 8). */
void vt_printable(const char *v, char *out, size_t outsz);
/* "host:port" -> host (brackets of [IPv6] removed) and port. */
int vt_parse_hostport(const char *s, char *host, size_t hostsz, int *port);

/* ---- Options every daemon has (docs/configuration.md, "Common") -------- */

typedef struct vt_common_opts {
    const char *http;       /* "host:port" or "off" */
    int log_format;         /* vt_log_format (index into text|json) */
    int log_level;          /* vt_log_level  (index into debug|info|warn|error) */
    int64_t recv_max;       /* NNG_OPT_RECVMAXSZ, bytes */
} vt_common_opts;

extern const char *const vt_log_format_choices[]; /* "text","json",NULL */
extern const char *const vt_log_level_choices[];  /* "debug","info","warn","error",NULL */

/* Expands to the four table entries --http, --log-format, --log-level,
 * --recv-max writing into *(c); http_default is the daemon's default
 * address string. recv-max is bounded to [1024, 1 GiB]. */
#define VT_COMMON_OPTS(c, http_default)                                          \
    { .flag = "http", .env = "VERITY_HTTP", .type = VT_OPT_HOSTPORT,             \
      .metavar = "ADDR", .def = (http_default),                                  \
      .help = "host:port serving /healthz, /readyz, /metrics; off disables",     \
      .dest = VT_DEST_STR(&(c)->http) },                                                      \
    { .flag = "log-format", .env = "VERITY_LOG_FORMAT", .type = VT_OPT_ENUM,     \
      .def = "text", .choices = vt_log_format_choices,                           \
      .help = "one line per event", .dest = VT_DEST_ENUM(&(c)->log_format) },                  \
    { .flag = "log-level", .env = "VERITY_LOG_LEVEL", .type = VT_OPT_ENUM,       \
      .def = "info", .choices = vt_log_level_choices,                            \
      .help = "lowest level logged", .dest = VT_DEST_ENUM(&(c)->log_level) },                  \
    { .flag = "recv-max", .env = "VERITY_RECV_MAX", .type = VT_OPT_INT,          \
      .metavar = "BYTES", .def = "4194304", .min = 1024, .max = 1073741824,      \
      .help = "NNG_OPT_RECVMAXSZ on every socket", .dest = VT_DEST_I64(&(c)->recv_max) }

/* Open the daemon's logger from the common options (to stderr). */
int vt_common_log_open(const vt_common_opts *c, const char *component,
                       vt_log **out);

#ifdef __cplusplus
}
#endif
#endif
