/* tokenizer_open.c - a tokenizer without its model (vt_tokenizer_open). */
#include "tokenizer.h"
#include "vt_gguf.h"

int vt_tokenizer_open(const char *path, vt_tokenizer **out, uint8_t sha256[32], vt_errinfo *ei)
{
    vt_gguf *g = NULL;
    *out = NULL;
    int rv = vt_gguf_open(path, &g, ei);
    if (rv)
        return rv;
    vt_gguf_sha256(g, sha256);
    /* vt_tokenizer_load copies the pieces: the mapping can go. */
    rv = vt_tokenizer_load(g, out, ei);
    vt_gguf_close(g);
    return rv;
}

void vt_tokenizer_close(vt_tokenizer *t)
{
    vt_tokenizer_free(t);
}
