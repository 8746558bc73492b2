/* wire.h - internal: the message schemas that drive both the encoder and
 * the decoder (one table per struct, so the two can never disagree). */
#ifndef VT_WIRE_H
#define VT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vt_protocol.h"

/* How a field is stored in its C struct and on the wire. */
typedef enum vt_fkind {
    FK_U32,      /* uint32_t                                 uint          */
    FK_U64,      /* uint64_t                                 uint          */
    FK_I32,      /* int32_t                                  int           */
    FK_BOOL,     /* bool                                     bool          */
    FK_F32,      /* float (finite)                           float         */
    FK_ID,       /* char[max+1], vt_ident_valid              str           */
    FK_CSTR,     /* char[max+1], no NUL inside               str           */
    FK_PSTR,     /* const char *, no NUL inside; NULL=absent str           */
    FK_TEXT,     /* const char * + size_t at off2            str           */
    FK_FIXBIN,   /* uint8_t[max]                             bin, exactly max bytes */
    FK_VBIN,     /* const uint8_t * + uint32_t at off2       bin           */
    FK_TOKENS,   /* const int32_t * + uint32_t count at off2 bin, int32 LE */
    FK_FLOATS,   /* const float * + uint32_t count at off2   bin, f32 LE   */
    FK_DIGESTS,  /* const uint8_t * + uint32_t count at off2 bin, count*32 */
    FK_STRLIST,  /* const char *const * + uint32_t at off2   array of str  */
    FK_U64LIST,  /* const uint64_t * + uint32_t at off2      array of uint */
    FK_ENUM,     /* int-sized enum; names in sub             str           */
    FK_ENUMLIST, /* const <enum> * + uint32_t at off2        array of str  */
    FK_OBJ,      /* inline struct; schema in sub             map           */
    FK_OBJS,     /* <struct> * + uint32_t at off2            array of map  */
    FK_PATH      /* uint8_t[max][32] + uint32_t at off2      array of bin32 */
} vt_fkind;

#define FF_REQ 0x1u /* decoder: must be present; encoder: pointer must be set */

typedef struct vt_field {
    const char *name;
    uint8_t kind;
    uint8_t flags;
    uint32_t off;
    uint32_t off2;
    uint32_t max;      /* bytes / elements / digits; 0 = no limit of its own */
    uint32_t max2;     /* FK_STRLIST: bytes per string */
    const void *sub;   /* FK_OBJ(S): const vt_schema *; FK_ENUM(LIST): names */
    int n_names;       /* FK_ENUM(LIST): table size */
} vt_field;

typedef struct vt_schema {
    const char *name;
    const vt_field *fields;
    uint32_t n_fields;
    uint32_t size; /* sizeof the struct (FK_OBJS elements) */
    /* Cross-field validation after decode and before encode. */
    int (*check)(const void *obj, vt_errinfo *ei);
} vt_schema;

/* Schema of a message type's fields (without the envelope); NULL for
 * VT_MSG_NONE. release_ok has a schema with zero fields. */
const vt_schema *vt_msg_schema(vt_msg_type t);

int vt_enum_lookup(const char *const *names, int count, const char *s, size_t len);
extern const char *const vt_job_state_names[];
extern const char *const vt_job_kind_names[];
extern const char *const vt_hello_role_names[];
extern const char *const vt_fault_names[];
extern const char *const vt_ack_names[];
extern const char *const vt_stop_names[];

/* Header of a bin of len bytes (payload appended by the caller). */
int vt_mp_write_bin_header(vt_buf *w, size_t len);


#endif
