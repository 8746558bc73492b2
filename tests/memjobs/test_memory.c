/* test_memory.c - memory-augmented jobs end to end (docs/memsync.md,
 * "Memory-augmented jobs"): real redis-server, verity-scheduler with
 * --memsync and --tokenizer, verity-memsync, one worker and one verifier on
 * the tiny synthetic model (context 1024 so a rendered prompt fits).
 *
 *   1. agent A stores memories, agent B stores look-alikes; A submits a text
 *      prompt with memory {k, query}: the job is verified, and its receipt
 *      (decoded and verified against the scheduler's key) records the memory
 *      head memsync reports for A and the exact memory block; that block is
 *      what A's own search renders with the documented template, it holds
 *      only A's memories, and the receipt's input tokens are the tokenized
 *      rendered prompt (memory block + prompt).
 *   2. remember:true stores "user: ...\nassistant: ..." as an episodic
 *      memory of A with source = the job id (A's search finds it, B's not).
 *   3. memory with a token prompt is refused (VT_ERR_INVAL).
 *   4. the scheduler crashes while a job waits in the memory stage: after
 *      the restart the job is recovered, retrieved again and verified.
 *   5. a cancel while the job waits in the memory stage cancels it; the
 *      retrieval that completes afterwards does not bring it back.
 *   6. memsync down: the memory job fails with VT_ERR_UNAVAILABLE.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "vt_client.h"
#include "vt_clock.h"
#include "vt_engine.h"
#include "vt_memsync.h"
#include "vt_receipt.h"
#include "vt_synth.h"
#include "vt_test.h"

typedef struct agent {
    char id[VT_AGENT_ID_BUFSZ];
    const char *key;
    vt_mem_cred cred;
    vt_client *cl;
} agent;

static void agent_init(agent *a, cl_cluster *c, int i)
{
    vt_errinfo ei = {0};
    memset(a, 0, sizeof *a);
    a->key = c->agent_key[i];
    VT_REQUIRE_OK(vt_api_key_parse(a->key, strlen(a->key), a->id, &ei));
    a->cred.agent = a->id;
    a->cred.key = a->key;
    VT_REQUIRE_OK(vt_client_open(c->agent_url, a->key, NULL, &a->cl, &ei));
}

static void add_memory(vt_memsync *ms, const agent *a, const char *text)
{
    vt_mem_item it;
    memset(&it, 0, sizeof it);
    it.type = VT_MEM_SEMANTIC;
    it.importance = 0.5f;
    it.source = "test";
    it.text = (char *)text;
    vt_errinfo ei = {0};
    uint64_t id = 0;
    int rv = vt_memsync_add(ms, &a->cred, &it, &id, NULL, &ei);
    VT_REQUIRE(rv == 0, "add memory: %s", vt_errinfo_msg(&ei));
}

/* Submit a text-prompt job; returns the submit's code. */
static int submit(agent *a, const char *prompt, uint32_t k, const char *query, bool remember,
                  char id[VT_JOB_ID_MAX + 1], vt_errinfo *ei)
{
    vt_job_spec s;
    vt_job_spec_default(&s);
    s.model = "tiny";
    s.prompt = prompt;
    s.prompt_len = strlen(prompt);
    s.max_tokens = 6;
    s.verify = "full:1";
    s.memory_k = k;
    s.memory_query = query;
    s.remember = remember;
    return vt_client_submit(a->cl, &s, id, NULL, ei);
}

static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(hay + i, needle, l) == 0)
            return true;
    return false;
}

int main(void)
{
    VT_REQUIRE_OK(vt_protocol_init());
    vt_errinfo ei = {0};
    char mpath[512];
    vt_ts_path("tiny1k.gguf", mpath, sizeof mpath);
    vt_synth_config cfg;
    VT_REQUIRE_OK(vt_synth_preset("tiny", &cfg));
    cfg.ctx_len = 1024; /* room for the memory block */
    VT_REQUIRE_OK(vt_synth_write_cfg(&cfg, VT_DTYPE_F32, 5, mpath, &ei));
    vt_model *model = NULL;
    VT_REQUIRE_OK(vt_model_load(mpath, &model, &ei));

    char ms_sock[512], ms_url[600], ms_http[64];
    snprintf(ms_url, sizeof ms_url, "ipc://%s", vt_ts_path("memsync.ipc", ms_sock, sizeof ms_sock));
    snprintf(ms_http, sizeof ms_http, "127.0.0.1:%d", vt_ts_free_port());
    cl_cluster c;
    const char *sargs[] = {"--memsync", ms_url, "--memsync-timeout-ms", "4000", "--tokenizer",
                           mpath, NULL};
    cl_start(&c, mpath, sargs);
    const char *margv[] = {"--listen", ms_url, "--http", ms_http, "--redis", c.rs.url,
                           "--auth-secret", c.secret_path, "--workers", "2", NULL};
    char bin[512];
    vt_proc *msd = vt_proc_spawn("memsync", vt_ts_bin("verity-memsync", bin, sizeof bin), margv,
                                 NULL);
    VT_REQUIRE(msd != NULL, "spawn verity-memsync");
    VT_REQUIRE(vt_ts_wait_ready(ms_http, 60000) == 0, "verity-memsync not ready");
    const char *wargs[] = {"--model", mpath, "--slots", "2", NULL};
    const char *vargs[] = {"--model", mpath, NULL};
    cl_node_start(&c, 0, wargs);
    cl_node_start(&c, 1, vargs);
    vt_keypair skp;
    VT_REQUIRE_OK(vt_key_load(c.key_path, &skp, &ei));

    vt_memsync *ms = NULL;
    VT_REQUIRE_OK(vt_memsync_open(&ms, ms_url, 10000, &ei));
    agent A, B;
    agent_init(&A, &c, 0);
    agent_init(&B, &c, 1);
    add_memory(ms, &A, "the zebra in the garden likes pizza");
    add_memory(ms, &A, "my favourite pizza has olives\nand capers"); /* newline: one line */
    add_memory(ms, &A, "the weather today is cloudy");
    add_memory(ms, &B, "secret of agent B: the zebra pizza code is 4242");

    /* ---- 1. retrieval, rendering, receipt ---- */
    const char *prompt = "Tell me about the zebra.";
    const char *query = "zebra pizza";
    char id[VT_JOB_ID_MAX + 1];
    int rv = submit(&A, prompt, 2, query, false, id, &ei);
    VT_REQUIRE(rv == 0, "submit memory job: %s", vt_errinfo_msg(&ei));
    vt_job_result res;
    rv = vt_client_wait(A.cl, id, 60000, &res, &ei);
    VT_REQUIRE(rv == 0, "wait: %s", vt_errinfo_msg(&ei));
    VT_CHECK(res.r.state == VT_JOB_VERIFIED, "memory job state %s err %s %s",
             vt_job_state_name(res.r.state), vt_errname(res.r.error),
             res.r.error_msg ? res.r.error_msg : "");
    VT_REQUIRE(res.r.receipt_len > 0, "memory job has no receipt");
    vt_receipt_file rf;
    VT_REQUIRE_OK(vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei));
    vt_receipt_report rep;
    rv = vt_receipt_verify(&rf, skp.pk, &rep, &ei);
    VT_CHECK(rv == 0, "receipt verify: %s", vt_errinfo_msg(&ei));
    VT_CHECK(rf.r.has_memory, "receipt has no memory");

    /* The same search as the agent itself: same head, same block. */
    vt_mem_query q;
    memset(&q, 0, sizeof q);
    q.text = query;
    q.k = 2;
    vt_mem_hits hits;
    VT_REQUIRE_OK(vt_memsync_search(ms, &A.cred, &q, &hits, &ei));
    VT_CHECK(hits.n == 2, "A's search: %zu hits", hits.n);
    VT_CHECK(memcmp(rf.r.memory_head, hits.head.hash, 32) == 0,
             "receipt memory head is not A's memsync head");
    char *rendered = NULL;
    size_t rlen = 0;
    VT_REQUIRE_OK(vt_mem_prompt_render(&hits, prompt, &rendered, &rlen));
    size_t blen = rlen - strlen(prompt);
    VT_CHECK(rf.r.memory_text_len == blen && memcmp(rf.r.memory_text, rendered, blen) == 0,
             "receipt memory text differs from A's rendered memory block:\n%.*s",
             (int)rf.r.memory_text_len, rf.r.memory_text ? rf.r.memory_text : "");
    char headstr[VT_MEM_HEAD_STRSZ];
    vt_mem_head_format(&hits.head, headstr);
    VT_CHECK(contains(rf.r.memory_text, rf.r.memory_text_len, headstr), "block names the head");
    VT_CHECK(contains(rf.r.memory_text, rf.r.memory_text_len, "zebra in the garden"),
             "A's memory in the block");
    VT_CHECK(contains(rf.r.memory_text, rf.r.memory_text_len, "olives and capers"),
             "newline in a memory became a space");
    VT_CHECK(!contains(rf.r.memory_text, rf.r.memory_text_len, "4242") &&
                 !contains(rf.r.memory_text, rf.r.memory_text_len, "agent B"),
             "B's memory leaked into A's job");
    /* The job's input is exactly the tokenized rendered prompt. */
    int32_t *tok = malloc(sizeof(int32_t) * (rlen + 1));
    size_t ntok = 0;
    VT_REQUIRE_OK(vt_tok_encode(vt_model_tokenizer(model), rendered, rlen, 1, tok, rlen + 1, &ntok));
    VT_CHECK(rf.r.n_prompt == ntok && memcmp(rf.r.prompt, tok, ntok * sizeof(int32_t)) == 0,
             "receipt input: %u tokens, rendered prompt: %zu", rf.r.n_prompt, ntok);
    free(tok);
    free(rendered);
    vt_mem_hits_clear(&hits);
    vt_receipt_file_free(&rf);
    vt_job_result_free(&res);

    /* ---- 2. remember:true ---- */
    const char *rprompt = "Remember that the llama is called Dolly.";
    rv = submit(&A, rprompt, 1, NULL, true, id, &ei);
    VT_REQUIRE(rv == 0, "submit remember job: %s", vt_errinfo_msg(&ei));
    rv = vt_client_wait(A.cl, id, 60000, &res, &ei);
    VT_REQUIRE(rv == 0, "wait: %s", vt_errinfo_msg(&ei));
    VT_CHECK(res.r.state == VT_JOB_VERIFIED, "remember job state %s",
             vt_job_state_name(res.r.state));
    char *episode = NULL;
    char *out = strndup(res.r.text ? res.r.text : "", res.r.text_len);
    VT_REQUIRE_OK(vt_mem_episode_text(rprompt, out, 16384, &episode));
    free(out);
    vt_job_result_free(&res);
    memset(&q, 0, sizeof q);
    q.text = "llama Dolly";
    q.k = 5;
    q.filter.type = VT_MEM_EPISODIC;
    bool found = false;
    uint64_t until = vt_mono_ms() + 15000; /* the episode is stored after delivery */
    while (!found && vt_mono_ms() < until) {
        VT_REQUIRE_OK(vt_memsync_search(ms, &A.cred, &q, &hits, &ei));
        for (size_t i = 0; i < hits.n; i++)
            if (strcmp(hits.v[i].item.source, id) == 0) {
                found = true;
                VT_CHECK_EQ_STR(hits.v[i].item.text, episode);
            }
        vt_mem_hits_clear(&hits);
        if (!found)
            vt_sleep_ms(50);
    }
    VT_CHECK(found, "remember:true did not store the episode (source %s)", id);
    VT_REQUIRE_OK(vt_memsync_search(ms, &B.cred, &q, &hits, &ei));
    for (size_t i = 0; i < hits.n; i++)
        VT_CHECK(strcmp(hits.v[i].item.source, id) != 0, "A's episode in B's memory");
    vt_mem_hits_clear(&hits);
    free(episode);

    /* ---- 3. memory needs a text prompt ---- */
    {
        vt_job_spec s;
        vt_job_spec_default(&s);
        int32_t toks[3] = {1, 100, 200};
        s.model = "tiny";
        s.prompt_tokens = toks;
        s.n_prompt_tokens = 3;
        s.max_tokens = 2;
        s.memory_k = 2;
        rv = vt_client_submit(A.cl, &s, id, NULL, &ei);
        VT_CHECK(rv == VT_ERR_INVAL, "memory job with tokens: %s (%s)", vt_errname(rv),
                 vt_errinfo_msg(&ei));
    }

    /* ---- 4. a scheduler crash while a job waits in the memory stage: the
     * restarted scheduler recovers it from the journal and retrieves again ---- */
    VT_REQUIRE_OK(vt_proc_kill(msd, SIGSTOP)); /* retrieval hangs (up to the 4 s timeout) */
    rv = submit(&A, prompt, 2, query, false, id, &ei);
    VT_REQUIRE(rv == 0, "submit before the crash: %s", vt_errinfo_msg(&ei));
    cl_sched_restart(&c, 1);
    VT_REQUIRE_OK(vt_proc_kill(msd, SIGCONT));
    rv = vt_client_wait(A.cl, id, 60000, &res, &ei);
    VT_REQUIRE(rv == 0, "wait after the restart: %s", vt_errinfo_msg(&ei));
    VT_CHECK(cl_metric(c.http, "verity_scheduler_memory_total{op=\"retrieve\",result=\"ok\"}") ==
                 1,
             "the restarted scheduler retrieved the recovered job's memory");
    VT_CHECK(res.r.state == VT_JOB_VERIFIED, "recovered memory job: state %s err %s %s",
             vt_job_state_name(res.r.state), vt_errname(res.r.error),
             res.r.error_msg ? res.r.error_msg : "");
    if (res.r.state == VT_JOB_VERIFIED) {
        VT_REQUIRE_OK(vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei));
        memset(&q, 0, sizeof q);
        q.text = query;
        q.k = 2;
        VT_REQUIRE_OK(vt_memsync_search(ms, &A.cred, &q, &hits, &ei));
        VT_REQUIRE_OK(vt_mem_prompt_render(&hits, prompt, &rendered, &rlen));
        blen = rlen - strlen(prompt);
        VT_CHECK(rf.r.has_memory && memcmp(rf.r.memory_head, hits.head.hash, 32) == 0 &&
                     rf.r.memory_text_len == blen && memcmp(rf.r.memory_text, rendered, blen) == 0,
                 "recovered job's receipt memory");
        free(rendered);
        vt_mem_hits_clear(&hits);
        vt_receipt_file_free(&rf);
    }
    vt_job_result_free(&res);

    /* ---- 5. cancel in the memory stage ---- */
    {
        const char *ok_metric = "verity_scheduler_memory_total{op=\"retrieve\",result=\"ok\"}";
        double retrieved = cl_metric(c.http, ok_metric);
        VT_REQUIRE_OK(vt_proc_kill(msd, SIGSTOP));
        rv = submit(&A, prompt, 2, query, false, id, &ei);
        VT_REQUIRE(rv == 0, "submit: %s", vt_errinfo_msg(&ei));
        vt_job_state st = VT_JOB_QUEUED;
        rv = vt_client_cancel(A.cl, id, &st, &ei);
        VT_CHECK(rv == 0 && st == VT_JOB_CANCELLED, "cancel in the memory stage: %s, state %s",
                 vt_errname(rv), vt_job_state_name(st));
        VT_REQUIRE_OK(vt_proc_kill(msd, SIGCONT));
        uint64_t until = vt_mono_ms() + 10000;
        while (cl_metric(c.http, ok_metric) < retrieved + 1 && vt_mono_ms() < until)
            vt_sleep_ms(20);
        VT_CHECK(cl_metric(c.http, ok_metric) == retrieved + 1,
                 "the retrieval under way completed");
        rv = vt_client_wait(A.cl, id, 5000, &res, &ei);
        VT_CHECK(rv == 0 && res.r.state == VT_JOB_CANCELLED && res.r.error == VT_ERR_CANCELLED,
                 "still cancelled after the retrieval: %s state %s", vt_errname(rv),
                 vt_job_state_name(res.r.state));
        if (rv == 0 || rv == VT_ERR_TIMEOUT)
            vt_job_result_free(&res);
    }

    /* ---- 6. memsync down: the job fails as unavailable ---- */
    VT_CHECK_EQ_INT(vt_proc_stop(msd, 10000), 0);
    vt_proc_free(msd);
    rv = submit(&A, prompt, 2, query, false, id, &ei);
    VT_REQUIRE(rv == 0, "submit with memsync down: %s", vt_errinfo_msg(&ei));
    rv = vt_client_wait(A.cl, id, 30000, &res, &ei);
    VT_REQUIRE(rv == 0, "wait: %s", vt_errinfo_msg(&ei));
    VT_CHECK(res.r.state == VT_JOB_FAILED && res.r.error == VT_ERR_UNAVAILABLE,
             "memsync down: state %s err %s", vt_job_state_name(res.r.state),
             vt_errname(res.r.error));
    VT_CHECK(res.r.error_msg && strstr(res.r.error_msg, "memsync"), "error names memsync: %s",
             res.r.error_msg ? res.r.error_msg : "(none)");
    vt_job_result_free(&res);

    vt_memsync_close(ms);
    vt_client_close(A.cl);
    vt_client_close(B.cl);
    vt_model_free(model);
    cl_stop(&c);
    return vt_test_done();
}
