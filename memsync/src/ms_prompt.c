/* ms_prompt.c - the prompt template for memory-augmented jobs and the text
 * of remembered exchanges (docs/memsync.md, "Memory-augmented jobs"). The
 * bytes produced here are what the job's receipt records, so the template
 * is part of the contract: change it only with a new template version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms_buf.h"
#include "vt_memsync.h"

/* UTC "YYYY-MM-DDTHH:MM:SSZ" without libc locale or time zone state. */
static void iso_utc(int64_t ms, char buf[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "%lld", (long long)ms);
}

int vt_mem_prompt_render(const vt_mem_hits *hits, const char *prompt, char **out,
                         size_t *outlen)
{
    ms_buf b = {0};
    if (!prompt)
        prompt = "";
    if (hits && hits->n > 0) {
        char head[VT_MEM_HEAD_STRSZ], line[96], ts[32];
        vt_mem_head_format(&hits->head, head);
        ms_buf_put(&b, "<memory head=\"", 14);
        ms_buf_put(&b, head, strlen(head));
        ms_buf_put(&b, "\">\n", 3);
        for (size_t i = 0; i < hits->n; i++) {
            const vt_mem_item *it = &hits->v[i].item;
            iso_utc(it->created_ms, ts);
            int n = snprintf(line, sizeof line, "[%zu] (%s, %s) ", i + 1,
                             vt_mem_type_name(it->type), ts);
            ms_buf_put(&b, line, (size_t)n);
            /* One memory, one line: a stored newline must not be able to
             * forge another entry or close the block. */
            for (const char *p = it->text ? it->text : ""; *p; p++) {
                char c = (*p == '\n' || *p == '\r') ? ' ' : *p;
                ms_buf_put(&b, &c, 1);
            }
            ms_buf_put(&b, "\n", 1);
        }
        ms_buf_put(&b, "</memory>\n", 10);
    }
    ms_buf_put(&b, prompt, strlen(prompt));
    ms_buf_put(&b, "", 1);
    if (b.oom) {
        ms_buf_free(&b);
        return VT_ERR_NOMEM;
    }
    *out = (char *)b.p;
    if (outlen)
        *outlen = b.len - 1;
    return 0;
}

int vt_mem_episode_text(const char *prompt, const char *output, size_t max_bytes, char **out)
{
    ms_buf b = {0};
    ms_buf_put(&b, "user: ", 6);
    ms_buf_put(&b, prompt ? prompt : "", prompt ? strlen(prompt) : 0);
    ms_buf_put(&b, "\nassistant: ", 12);
    ms_buf_put(&b, output ? output : "", output ? strlen(output) : 0);
    if (b.oom) {
        ms_buf_free(&b);
        return VT_ERR_NOMEM;
    }
    size_t n = b.len;
    if (n > max_bytes) {
        n = max_bytes;
        /* back up to a UTF-8 lead byte so the text stays valid */
        while (n > 0 && (b.p[n] & 0xC0) == 0x80)
            n--;
    }
    /* A NUL inside the prompt/output would end the text early; drop it. */
    char *s = malloc(n + 1);
    if (!s) {
        ms_buf_free(&b);
        return VT_ERR_NOMEM;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (b.p[i])
            s[w++] = (char)b.p[i];
    s[w] = '\0';
    ms_buf_free(&b);
    *out = s;
    return 0;
}
