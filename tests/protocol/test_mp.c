/* test_mp.c - the bounded reader and the writer agree with msgpack-c
 * (encodings it produces, values it reads back), and the reader's limits. */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samples.h"

static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
                               4294967296LL, INT64_MAX, -1, -32, -33, -128, -129,
                               -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN};

/* msgpack-c packs; we read. */
static void test_read_msgpack_c(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t n = sizeof ints / sizeof ints[0];
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_int64(&pk, ints[i]);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, -2.25);
    msgpack_pack_true(&pk);
    msgpack_pack_nil(&pk);
    static char big[70000];
    memset(big, 'x', sizeof big);
    size_t lens[] = {0, 31, 32, 255, 256, 65535, 65536};
    for (size_t i = 0; i < 7; i++) {
        msgpack_pack_str(&pk, lens[i]);
        msgpack_pack_str_body(&pk, big, lens[i]);
        msgpack_pack_bin(&pk, lens[i]);
        msgpack_pack_bin_body(&pk, big, lens[i]);
    }
    msgpack_pack_map(&pk, 20);
    for (int i = 0; i < 20; i++) {
        msgpack_pack_int(&pk, i);
        msgpack_pack_array(&pk, 0);
    }
    msgpack_pack_ext(&pk, 3, 7);
    msgpack_pack_ext_body(&pk, "abc", 3);

    vt_mp_reader r;
    vt_mp_reader_init(&r, sb.data, sb.size);
    uint32_t cnt;
    CHECK(vt_mp_read_array(&r, &cnt) == 0 && cnt == n);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        CHECK(vt_mp_read_int(&r, &v) == 0 && v == ints[i]);
    }
    uint64_t u;
    int64_t s;
    vt_mp_reader save = r;
    CHECK(vt_mp_read_int(&r, &s) == VT_ERR_RANGE && r.p == save.p); /* no advance */
    CHECK(vt_mp_read_uint(&r, &u) == 0 && u == UINT64_MAX);
    double d;
    CHECK(vt_mp_read_float(&r, &d) == 0 && d == 1.5);
    CHECK(vt_mp_read_float(&r, &d) == 0 && d == -2.25);
    bool bv;
    CHECK(vt_mp_read_bool(&r, &bv) == 0 && bv);
    CHECK(vt_mp_read_uint(&r, &u) == VT_ERR_PROTO); /* nil is not a uint */
    CHECK(vt_mp_read_nil(&r) == 0);
    for (size_t i = 0; i < 7; i++) {
        const char *str;
        const uint8_t *bin;
        uint32_t len;
        CHECK(vt_mp_read_bin(&r, &bin, &len) == VT_ERR_PROTO); /* a str is not a bin */
        CHECK(vt_mp_read_str(&r, &str, &len) == 0 && len == lens[i]);
        CHECK(len == 0 || str[0] == 'x');
        CHECK(vt_mp_read_bin(&r, &bin, &len) == 0 && len == lens[i]);
    }
    CHECK(vt_mp_peek(&r) == VT_MP_MAP);
    CHECK(vt_mp_skip(&r) == 0);
    CHECK(vt_mp_peek(&r) == VT_MP_EXT && vt_mp_skip(&r) == 0);
    CHECK(vt_mp_left(&r) == 0 && vt_mp_peek(&r) == VT_MP_NONE);
    CHECK(vt_mp_skip(&r) == VT_ERR_TRUNCATED);
    msgpack_sbuffer_destroy(&sb);
}

/* We write; msgpack-c reads (our own trusted bytes) and we compare. */
static void test_write_for_msgpack_c(void)
{
    vt_buf w;
    vt_buf_init(&w, 0);
    size_t n = sizeof ints / sizeof ints[0];
    CHECK(vt_mp_write_array(&w, (uint32_t)(n + 8)) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(vt_mp_write_int(&w, ints[i]) == 0);
    CHECK(vt_mp_write_uint(&w, UINT64_MAX) == 0);
    CHECK(vt_mp_write_f32(&w, 0.1f) == 0);
    CHECK(vt_mp_write_f64(&w, 0.1) == 0);
    CHECK(vt_mp_write_str(&w, "hello", 5) == 0);
    CHECK(vt_mp_write_bin(&w, "\0\1", 2) == 0);
    CHECK(vt_mp_write_u64_fixed(&w, 5) == 0);
    CHECK(vt_mp_write_i32_fixed(&w, -5) == 0);
    CHECK(vt_mp_write_str_fixed(&w, "ab", 2) == 0);

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&up, (const char *)w.data, w.len, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == w.len);
    msgpack_object_array a = up.data.via.array;
    CHECK(up.data.type == MSGPACK_OBJECT_ARRAY && a.size == n + 8);
    for (size_t i = 0; i < n; i++) {
        msgpack_object o = a.ptr[i];
        int64_t v = o.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)o.via.u64 : o.via.i64;
        CHECK(v == ints[i]);
    }
    CHECK(a.ptr[n].via.u64 == UINT64_MAX);
    CHECK(a.ptr[n + 1].type == MSGPACK_OBJECT_FLOAT32 && (float)a.ptr[n + 1].via.f64 == 0.1f);
    CHECK(a.ptr[n + 2].type == MSGPACK_OBJECT_FLOAT64 && a.ptr[n + 2].via.f64 == 0.1);
    CHECK(a.ptr[n + 3].type == MSGPACK_OBJECT_STR && a.ptr[n + 3].via.str.size == 5);
    CHECK(a.ptr[n + 4].type == MSGPACK_OBJECT_BIN && a.ptr[n + 4].via.bin.size == 2);
    CHECK(a.ptr[n + 5].via.u64 == 5 && a.ptr[n + 6].via.i64 == -5);
    CHECK(a.ptr[n + 7].via.str.size == 2);
    msgpack_unpacked_destroy(&up);

    /* shortest encodings, exactly as the spec lists them */
    vt_buf_reset(&w);
    CHECK(vt_mp_write_uint(&w, 127) == 0 && w.len == 1);
    CHECK(vt_mp_write_uint(&w, 128) == 0 && w.len == 3 && w.data[1] == 0xcc);
    CHECK(vt_mp_write_int(&w, -32) == 0 && w.len == 4 && w.data[3] == 0xe0);
    vt_buf_reset(&w);
    CHECK(vt_mp_write_map(&w, 15) == 0 && w.data[0] == 0x8f);
    CHECK(vt_mp_write_map(&w, 16) == 0 && w.data[1] == 0xde);
    /* the whole-message samples also parse with msgpack-c */
    for (int t = VT_MSG_ERROR; t < VT_MSG__COUNT; t++) {
        vt_buf b;
        sample_encode((vt_msg_type)t, &b);
        msgpack_unpacked_init(&up);
        off = 0;
        CHECK(msgpack_unpack_next(&up, (const char *)b.data, b.len, &off) == MSGPACK_UNPACK_SUCCESS);
        CHECK(off == b.len && up.data.type == MSGPACK_OBJECT_MAP);
        msgpack_unpacked_destroy(&up);
        vt_buf_free(&b);
    }
    vt_buf_free(&w);
}

static void test_reader_limits(void)
{
    vt_mp_reader r;
    uint32_t n;
    /* counts that cannot fit are refused without moving */
    static const uint8_t arr[] = {0xdd, 0, 0, 0, 3, 1, 2};
    vt_mp_reader_init(&r, arr, sizeof arr);
    CHECK(vt_mp_read_array(&r, &n) == VT_ERR_TRUNCATED && vt_mp_offset(&r) == 0);
    static const uint8_t map[] = {0x82, 1, 2, 3};
    vt_mp_reader_init(&r, map, sizeof map);
    CHECK(vt_mp_read_map(&r, &n) == VT_ERR_TRUNCATED); /* 2 entries need >= 4 bytes */
    static const uint8_t map_ok[] = {0x82, 1, 2, 3, 4};
    vt_mp_reader_init(&r, map_ok, sizeof map_ok);
    CHECK(vt_mp_read_map(&r, &n) == 0 && n == 2);
    static const uint8_t str[] = {0xd9, 10, 'a'};
    const char *s;
    vt_mp_reader_init(&r, str, sizeof str);
    CHECK(vt_mp_read_str(&r, &s, &n) == VT_ERR_TRUNCATED && vt_mp_offset(&r) == 0);
    static const uint8_t u64[] = {0xcf, 1, 2, 3};
    uint64_t u;
    vt_mp_reader_init(&r, u64, sizeof u64);
    CHECK(vt_mp_read_uint(&r, &u) == VT_ERR_TRUNCATED);
    static const uint8_t reserved[] = {0xc1};
    vt_mp_reader_init(&r, reserved, 1);
    CHECK(vt_mp_peek(&r) == VT_MP_INVALID && vt_mp_skip(&r) == VT_ERR_PROTO);
    vt_mp_reader_init(&r, NULL, 0);
    CHECK(vt_mp_read_map(&r, &n) == VT_ERR_TRUNCATED);

    /* skip's depth cap: 16 nested containers pass, 17 do not */
    uint8_t deep[40];
    for (int depth = 15; depth <= 18; depth++) {
        memset(deep, 0x91, (size_t)depth); /* fixarray of 1 */
        deep[depth] = 0xc0;
        vt_mp_reader_init(&r, deep, (size_t)depth + 1);
        int rv = vt_mp_skip(&r);
        CHECK(depth <= VT_MP_MAX_DEPTH ? rv == 0 : rv == VT_ERR_PROTO);
        CHECK(rv != 0 || vt_mp_left(&r) == 0);
        CHECK(rv == 0 || vt_mp_offset(&r) == 0);
    }

    /* envelope peek for modules with their own messages */
    vt_buf w;
    vt_buf_init(&w, 0);
    CHECK(vt_mp_write_envelope(&w, "mem_put", 1) == 0);
    CHECK(vt_mp_write_cstr(&w, "k") == 0 && vt_mp_write_uint(&w, 1) == 0);
    uint32_t minor, tl;
    const char *type;
    CHECK(vt_mp_read_envelope(w.data, w.len, &minor, &type, &tl, NULL) == 0);
    CHECK(minor == VT_PROTO_MINOR && vt_mp_str_eq(type, tl, "mem_put"));
    /* a memsync type is not one of ours */
    vt_msg m;
    CHECK(vt_msg_decode(w.data, w.len, &m, NULL) == VT_ERR_PROTO);
    vt_buf_free(&w);

    /* vt_buf cap */
    vt_buf_init(&w, 8);
    CHECK(vt_buf_append(&w, "12345678", 8) == 0);
    CHECK(vt_buf_append(&w, "9", 1) == VT_ERR_TOOBIG && w.len == 8);
    vt_buf_free(&w);
}

int main(void)
{
    test_read_msgpack_c();
    test_write_for_msgpack_c();
    test_reader_limits();
    printf("test_mp: ok\n");
    return 0;
}
