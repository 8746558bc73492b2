/* enums.c - names of the enums that travel as strings, and the
 * verification policy syntax. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_protocol.h"
#include "wire.h"

const char *const vt_job_state_names[VT_JOB_STATE__COUNT + 1] = {
    "queued", "leased", "computed", "verifying", "verified",
    "failed", "cancelled", "expired", NULL};
const char *const vt_job_kind_names[3] = {"generate", "embed", NULL};
/* indexed by vt_node_role value; the same words as vt_node_role_name() */
const char *const vt_hello_role_names[4] = {NULL, "worker", "verifier", NULL};
const char *const vt_fault_names[6] = {"none", "wrong_token", "wrong_digest", "wrong_model",
                                       "malformed", NULL};
const char *const vt_ack_names[5] = {"accepted", "duplicate", "stale", "rejected", NULL};
const char *const vt_stop_names[5] = {"max", "eos", "string", "cancel", NULL};

static const char *const msg_type_names[VT_MSG__COUNT] = {
    [VT_MSG_ERROR] = "error",
    [VT_MSG_SUBMIT] = "submit",       [VT_MSG_SUBMIT_OK] = "submit_ok",
    [VT_MSG_STATUS] = "status",       [VT_MSG_STATUS_OK] = "status_ok",
    [VT_MSG_RESULT] = "result",       [VT_MSG_RESULT_OK] = "result_ok",
    [VT_MSG_CANCEL] = "cancel",       [VT_MSG_CANCEL_OK] = "cancel_ok",
    [VT_MSG_HELLO] = "hello",         [VT_MSG_HELLO_OK] = "hello_ok",
    [VT_MSG_FETCH] = "fetch",         [VT_MSG_FETCH_OK] = "fetch_ok",
    [VT_MSG_RESULTS] = "results",     [VT_MSG_RESULTS_OK] = "results_ok",
    [VT_MSG_HEARTBEAT] = "heartbeat", [VT_MSG_HEARTBEAT_OK] = "heartbeat_ok",
    [VT_MSG_RELEASE] = "release",     [VT_MSG_RELEASE_OK] = "release_ok",
    [VT_MSG_VFETCH] = "vfetch",       [VT_MSG_VFETCH_OK] = "vfetch_ok",
    [VT_MSG_VERDICTS] = "verdicts",   [VT_MSG_VERDICTS_OK] = "verdicts_ok",
};

/* Index of name in a NULL-terminated table (NULL holes allowed before the
 * end marker only where listed in `count`), or -1. */
int vt_enum_lookup(const char *const *names, int count, const char *s, size_t len)
{
    for (int i = 0; i < count; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

static const char *name_of(const char *const *names, int count, int v)
{
    return (v >= 0 && v < count && names[v]) ? names[v] : "?";
}

const char *vt_job_state_name(vt_job_state s) { return name_of(vt_job_state_names, VT_JOB_STATE__COUNT, (int)s); }
const char *vt_job_kind_name(vt_job_kind k) { return name_of(vt_job_kind_names, 2, (int)k); }
const char *vt_fault_name(vt_fault f) { return name_of(vt_fault_names, 5, (int)f); }
const char *vt_ack_name(vt_ack a) { return name_of(vt_ack_names, 4, (int)a); }
const char *vt_stop_name(int stop_reason) { return name_of(vt_stop_names, 4, stop_reason); }

int vt_job_state_parse(const char *s, size_t len, vt_job_state *out)
{
    int i = vt_enum_lookup(vt_job_state_names, VT_JOB_STATE__COUNT, s, len);
    if (i < 0)
        return VT_ERR_INVAL;
    *out = (vt_job_state)i;
    return 0;
}

bool vt_job_state_done(vt_job_state s)
{
    return s == VT_JOB_VERIFIED || s == VT_JOB_FAILED || s == VT_JOB_CANCELLED ||
           s == VT_JOB_EXPIRED;
}

const char *vt_msg_type_name(vt_msg_type t)
{
    return (t > VT_MSG_NONE && t < VT_MSG__COUNT) ? msg_type_names[t] : NULL;
}

vt_msg_type vt_msg_type_parse(const char *s, size_t len)
{
    int i = vt_enum_lookup(msg_type_names, VT_MSG__COUNT, s, len);
    return i < 0 ? VT_MSG_NONE : (vt_msg_type)i;
}

int vt_verify_policy_parse(const char *s, vt_verify_policy *out, vt_errinfo *ei)
{
    if (!s)
        return vt_fail(ei, VT_ERR_INVAL, "verify policy missing");
    if (strcmp(s, "none") == 0) {
        *out = (vt_verify_policy){.mode = VT_VERIFY_NONE};
        return 0;
    }
    char *end;
    if (strncmp(s, "full:", 5) == 0) {
        const char *n = s + 5;
        if (*n < '0' || *n > '9')
            return vt_fail(ei, VT_ERR_INVAL, "verify policy '%.40s': K must be a number", s);
        unsigned long k = strtoul(n, &end, 10);
        if (*end || k < 1 || k > 16)
            return vt_fail(ei, VT_ERR_INVAL, "verify policy '%.40s': K must be 1..16", s);
        *out = (vt_verify_policy){.mode = VT_VERIFY_FULL, .k = (uint32_t)k};
        return 0;
    }
    if (strncmp(s, "sampled:", 8) == 0) {
        const char *n = s + 8;
        if (!((*n >= '0' && *n <= '9') || *n == '.'))
            return vt_fail(ei, VT_ERR_INVAL, "verify policy '%.40s': P must be a number", s);
        double p = strtod(n, &end);
        if (*end || !(p > 0.0 && p <= 1.0))
            return vt_fail(ei, VT_ERR_INVAL, "verify policy '%.40s': P must be in (0, 1]", s);
        *out = (vt_verify_policy){.mode = VT_VERIFY_SAMPLED, .p = p};
        return 0;
    }
    return vt_fail(ei, VT_ERR_INVAL,
                   "verify policy '%.40s': expected full:K, sampled:P or none", s);
}

int vt_verify_policy_format(const vt_verify_policy *p, char *out, size_t cap)
{
    int n;
    switch (p->mode) {
    case VT_VERIFY_FULL: n = snprintf(out, cap, "full:%u", (unsigned)p->k); break;
    case VT_VERIFY_SAMPLED: n = snprintf(out, cap, "sampled:%g", p->p); break;
    case VT_VERIFY_NONE: n = snprintf(out, cap, "none"); break;
    default: return VT_ERR_INVAL;
    }
    return (n < 0 || (size_t)n >= cap) ? VT_ERR_RANGE : 0;
}

int vt_ident_valid(const char *s, size_t len, size_t max)
{
    if (!s || len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}
