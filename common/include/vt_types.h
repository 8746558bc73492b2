/* vt_types.h - small vocabulary shared by the protocol library and the
 * identity registry: hex encoding and node roles. It lives in vt_common so
 * that vt_protocol (linked by agents) does not need hiredis and vt_store
 * does not need msgpack. Do not redefine these elsewhere. */
#ifndef VT_TYPES_H
#define VT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lowercase hex; out must hold 2n+1 bytes (NUL-terminated). */
void vt_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits (either case) into n bytes: 0 or VT_ERR_INVAL. */
int vt_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);

/* Node roles. 0 is deliberately not a role, so a zeroed struct is invalid. */
typedef enum vt_node_role {
    VT_ROLE_WORKER = 1,
    VT_ROLE_VERIFIER = 2
} vt_node_role;

const char *vt_node_role_name(vt_node_role role);          /* "worker" | "verifier" | "?" */
int vt_node_role_parse(const char *s, vt_node_role *out);  /* 0 or VT_ERR_INVAL */

#ifdef __cplusplus
}
#endif
#endif
