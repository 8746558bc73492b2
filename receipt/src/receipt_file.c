/* receipt_file.c - the receipt file around the canonical body: scheduler
 * signature, log index, and optionally a signed tree head with the inclusion
 * proof of the receipt in the transparency log. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "receipt_internal.h"

void vt_receipt_hash(const uint8_t *body, size_t len, uint8_t out[VT_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, VT_HASH_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)RECEIPT_DOMAIN, sizeof RECEIPT_DOMAIN - 1);
    crypto_generichash_update(&st, body, len);
    crypto_generichash_final(&st, out, VT_HASH_BYTES);
}

void receipt_sig_message(const uint8_t hash[VT_HASH_BYTES], uint64_t log_index, uint8_t msg[64])
{
    size_t o = sizeof RECEIPT_SIG_DOMAIN - 1;
    memcpy(msg, RECEIPT_SIG_DOMAIN, o);
    memcpy(msg + o, hash, VT_HASH_BYTES);
    o += VT_HASH_BYTES;
    for (int i = 7; i >= 0; i--)
        msg[o++] = (uint8_t)(log_index >> (8 * i));
}

#define TRY(x)                                                                             \
    do {                                                                                   \
        int rv_ = (x);                                                                     \
        if (rv_)                                                                           \
            goto fail;                                                                     \
    } while (0)

static int write_file(vt_buf *out, const uint8_t *body, size_t body_len, uint64_t log_index,
                      const uint8_t pk[VT_PUBKEY_BYTES], const uint8_t *sig,
                      const vt_tree_head *head, const vt_tlog_proof *incl)
{
    uint32_t n = 5 + (sig ? 1 : 0) + (head ? 1 : 0) + (incl ? 1 : 0);
    TRY(vt_mp_write_map(out, n));
    TRY(vt_mp_write_cstr(out, "v"));
    TRY(vt_mp_write_uint(out, VT_RECEIPT_VERSION));
    TRY(vt_mp_write_cstr(out, "t"));
    TRY(vt_mp_write_cstr(out, "receipt"));
    TRY(vt_mp_write_cstr(out, "body"));
    TRY(vt_mp_write_bin(out, body, body_len));
    TRY(vt_mp_write_cstr(out, "log_index"));
    TRY(vt_mp_write_uint(out, log_index));
    TRY(vt_mp_write_cstr(out, "scheduler"));
    TRY(vt_mp_write_bin(out, pk, VT_PUBKEY_BYTES));
    if (sig) {
        TRY(vt_mp_write_cstr(out, "sig"));
        TRY(vt_mp_write_bin(out, sig, VT_SIG_BYTES));
    }
    if (head) {
        TRY(vt_mp_write_cstr(out, "head"));
        TRY(vt_mp_write_array(out, 4));
        TRY(vt_mp_write_uint(out, head->size));
        TRY(vt_mp_write_uint(out, head->time_ms));
        TRY(vt_mp_write_bin(out, head->root, VT_TLOG_HASH));
        TRY(vt_mp_write_bin(out, head->sig, 64));
    }
    if (incl) {
        TRY(vt_mp_write_cstr(out, "inclusion"));
        TRY(vt_mp_write_array(out, incl->n));
        for (uint32_t i = 0; i < incl->n; i++)
            TRY(vt_mp_write_bin(out, incl->hash[i], VT_TLOG_HASH));
    }
    return 0;
fail:
    return VT_ERR_TOOBIG;
}

int vt_receipt_seal(const uint8_t *body, size_t body_len, uint64_t log_index,
                    const uint8_t scheduler_pk[VT_PUBKEY_BYTES], const vt_tree_head *head,
                    const vt_tlog_proof *inclusion, vt_buf *out, vt_errinfo *ei)
{
    if (!body || !scheduler_pk || !head || !inclusion || !out)
        return vt_fail(ei, VT_ERR_INVAL, "receipt seal: missing argument");
    int rv = write_file(out, body, body_len, log_index, scheduler_pk, NULL, head, inclusion);
    return rv ? vt_fail(ei, rv, "receipt seal: receipt too large") : 0;
}

int vt_receipt_sign(const uint8_t *body, size_t body_len, uint64_t log_index,
                    const vt_keypair *scheduler, vt_buf *out, vt_errinfo *ei)
{
    if (!body || !scheduler || !out)
        return vt_fail(ei, VT_ERR_INVAL, "receipt seal: missing argument");
    uint8_t hash[VT_HASH_BYTES], msg[64], sig[VT_SIG_BYTES];
    vt_receipt_hash(body, body_len, hash);
    receipt_sig_message(hash, log_index, msg);
    int rv = vt_sign(scheduler, msg, RECEIPT_SIG_MSG_LEN, sig);
    if (rv)
        return vt_fail(ei, rv, "receipt seal: signing failed");
    rv = write_file(out, body, body_len, log_index, scheduler->pk, sig, NULL, NULL);
    return rv ? vt_fail(ei, rv, "receipt seal: receipt too large") : 0;
}

int vt_receipt_attach_proof(const vt_receipt_file *f, const vt_tree_head *head,
                            const vt_tlog_proof *inclusion, vt_buf *out, vt_errinfo *ei)
{
    if (!f || !head || !inclusion || !out)
        return vt_fail(ei, VT_ERR_INVAL, "receipt: missing argument");
    int rv = write_file(out, f->body, f->body_len, f->log_index, f->scheduler_pk,
                        f->has_sig ? f->sig : NULL, head, inclusion);
    return rv ? vt_fail(ei, rv, "receipt: too large") : 0;
}

static int bad(vt_errinfo *ei, const char *field, int rv)
{
    return vt_fail(ei, rv == VT_ERR_NOMEM ? rv : VT_ERR_FORMAT, "receipt file: field '%s': %s",
                   field, vt_strerror(rv));
}

static int read_fixed_bin(vt_mp_reader *r, uint8_t *out, uint32_t want)
{
    const uint8_t *b;
    uint32_t n;
    int rv = vt_mp_read_bin(r, &b, &n);
    if (rv)
        return rv;
    if (n != want)
        return VT_ERR_FORMAT;
    memcpy(out, b, n);
    return 0;
}

int vt_receipt_decode(const uint8_t *buf, size_t len, vt_receipt_file *out, vt_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    if (!buf || len == 0 || len > VT_RECEIPT_MAX_BYTES)
        return vt_fail(ei, VT_ERR_FORMAT, "receipt file: empty or larger than %u bytes",
                       VT_RECEIPT_MAX_BYTES);
    receipt_mem *mem = calloc(1, sizeof *mem);
    if (!mem || !(mem->file = malloc(len))) {
        free(mem);
        return vt_fail(ei, VT_ERR_NOMEM, "receipt file: out of memory");
    }
    memcpy(mem->file, buf, len);
    out->mem_ = mem;

    vt_mp_reader r;
    vt_mp_reader_init(&r, mem->file, len);
    uint32_t n_fields;
    int rv = vt_mp_read_map(&r, &n_fields);
    if (rv) {
        rv = bad(ei, "(top-level map)", rv);
        goto fail;
    }
    bool have_body = false, have_idx = false, have_pk = false, have_sig = false, have_t = false;
    uint64_t version = 0;
    for (uint32_t i = 0; i < n_fields; i++) {
        const char *k;
        uint32_t kl;
        if ((rv = vt_mp_read_str(&r, &k, &kl)) != 0) {
            rv = bad(ei, "(key)", rv);
            goto fail;
        }
        const char *field = "?";
        if (vt_mp_str_eq(k, kl, "v")) {
            field = "v";
            rv = vt_mp_read_uint(&r, &version);
        } else if (vt_mp_str_eq(k, kl, "t")) {
            field = "t";
            const char *t;
            uint32_t tl;
            rv = vt_mp_read_str(&r, &t, &tl);
            if (!rv && !vt_mp_str_eq(t, tl, "receipt"))
                rv = VT_ERR_FORMAT;
            have_t = rv == 0;
        } else if (vt_mp_str_eq(k, kl, "body")) {
            field = "body";
            uint32_t bl;
            rv = vt_mp_read_bin(&r, &out->body, &bl);
            out->body_len = bl;
            have_body = rv == 0;
        } else if (vt_mp_str_eq(k, kl, "log_index")) {
            field = "log_index";
            rv = vt_mp_read_uint(&r, &out->log_index);
            have_idx = rv == 0;
        } else if (vt_mp_str_eq(k, kl, "scheduler")) {
            field = "scheduler";
            rv = read_fixed_bin(&r, out->scheduler_pk, VT_PUBKEY_BYTES);
            have_pk = rv == 0;
        } else if (vt_mp_str_eq(k, kl, "sig")) {
            field = "sig";
            rv = read_fixed_bin(&r, out->sig, VT_SIG_BYTES);
            have_sig = out->has_sig = rv == 0;
        } else if (vt_mp_str_eq(k, kl, "head")) {
            field = "head";
            uint32_t an;
            rv = vt_mp_read_array(&r, &an);
            if (!rv && an != 4)
                rv = VT_ERR_FORMAT;
            if (!rv)
                rv = vt_mp_read_uint(&r, &out->head.size);
            if (!rv)
                rv = vt_mp_read_uint(&r, &out->head.time_ms);
            if (!rv)
                rv = read_fixed_bin(&r, out->head.root, VT_TLOG_HASH);
            if (!rv)
                rv = read_fixed_bin(&r, out->head.sig, 64);
            out->has_head = rv == 0;
        } else if (vt_mp_str_eq(k, kl, "inclusion")) {
            field = "inclusion";
            uint32_t an;
            rv = vt_mp_read_array(&r, &an);
            if (!rv && an > VT_TLOG_MAX_PROOF)
                rv = VT_ERR_RANGE;
            for (uint32_t j = 0; !rv && j < an; j++)
                rv = read_fixed_bin(&r, out->inclusion.hash[j], VT_TLOG_HASH);
            out->inclusion.n = an;
            out->has_inclusion = rv == 0;
        } else {
            field = "(unknown)";
            rv = vt_mp_skip(&r); /* unknown fields are ignored */
        }
        if (rv) {
            rv = bad(ei, field, rv);
            goto fail;
        }
    }
    if (version != VT_RECEIPT_VERSION) {
        rv = vt_fail(ei, VT_ERR_VERSION, "receipt file: version %llu not supported (this build reads %d)",
                     (unsigned long long)version, VT_RECEIPT_VERSION);
        goto fail;
    }
    if (!have_t || !have_body || !have_idx || !have_pk ||
        !(have_sig || (out->has_head && out->has_inclusion))) {
        rv = vt_fail(ei, VT_ERR_FORMAT, "receipt file: missing %s",
                     !have_t ? "t" : !have_body ? "body" : !have_idx ? "log_index"
                     : !have_pk ? "scheduler" : "an attestation (sig, or head + inclusion)");
        goto fail;
    }
    if ((rv = vt_receipt_body_decode(out->body, out->body_len, &out->r, mem, ei)) != 0)
        goto fail;
    vt_receipt_hash(out->body, out->body_len, out->hash);
    return 0;
fail:
    vt_receipt_file_free(out);
    return rv;
}

void vt_receipt_file_free(vt_receipt_file *f)
{
    if (!f)
        return;
    receipt_mem_free(f->mem_);
    free(f->mem_);
    memset(f, 0, sizeof *f);
}
