/* vt_types.c - hex and node roles (see vt_types.h). */
#include "vt_types.h"

#include <string.h>

#include "vt_err.h"

void vt_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vt_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
    if (!hex || !out || hexlen != 2 * n)
        return VT_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return VT_ERR_INVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

const char *vt_node_role_name(vt_node_role role)
{
    switch (role) {
    case VT_ROLE_WORKER:
        return "worker";
    case VT_ROLE_VERIFIER:
        return "verifier";
    }
    return "?";
}

int vt_node_role_parse(const char *s, vt_node_role *out)
{
    if (!s || !out)
        return VT_ERR_INVAL;
    if (strcmp(s, "worker") == 0)
        *out = VT_ROLE_WORKER;
    else if (strcmp(s, "verifier") == 0)
        *out = VT_ROLE_VERIFIER;
    else
        return VT_ERR_INVAL;
    return 0;
}
