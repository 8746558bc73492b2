/* test_text_prompt.c - text prompts through the real cluster: the scheduler
 * started with --tokenizer tokenizes at submit (the receipt then carries
 * the same token ids the model's own tokenizer gives, and the job is
 * replayed and verified like any other); a model without a loaded
 * tokenizer refuses text with VT_ERR_UNSUPPORTED naming the flag. Lives
 * here because it needs the real-daemon harness and a real GGUF. */
#include <stdio.h>
#include <string.h>

#include "adv_common.h"
#include "vt_receipt.h"
#include "vt_synth.h"
#include "vt_test.h"

int main(void)
{
    /* a second model whose tokenizer the scheduler does not load */
    char other[512];
    vt_model *mo = fx_tiny_model("other.gguf", VT_DTYPE_F32, 6, other, sizeof other);
    char ohex[65], alias[128];
    vt_hex(vt_model_get_info(mo)->sha256, 32, ohex);
    vt_model_free(mo);
    snprintf(alias, sizeof alias, "other=%s", ohex);
    static adv_env e;
    char tiny[512];
    vt_ts_path("tiny.gguf", tiny, sizeof tiny); /* adv_start writes the tiny model there */
    const char *sargs[] = {"--tokenizer", tiny, "--model-alias", alias, NULL};
    adv_start(&e, sargs, NULL, 0);
    cl_cluster *c = &e.c;
    vt_client *cl = e.cl;
    const char *mpath = e.mpath;
    const uint8_t *spk = e.spk;
    vt_model *m = e.m;
    vt_errinfo ei = {0};
    const char *wargs[] = {"--model", mpath, NULL};
    const char *vargs[] = {"--model", mpath, NULL};
    cl_node_start(c, 0, wargs);
    cl_node_start(c, 1, vargs);

    const char *text = "the quick brown fox";
    int32_t want[64];
    size_t n_want = 0;
    VT_REQUIRE_OK(vt_tok_encode(vt_model_tokenizer(m), text, strlen(text), 1, want, 64, &n_want));
    vt_job_spec s;
    vt_job_spec_default(&s);
    s.model = "tiny";
    s.prompt = text;
    s.prompt_len = strlen(text);
    s.max_tokens = 8;
    char id[VT_JOB_ID_MAX + 1];
    VT_REQUIRE_OK(vt_client_submit(cl, &s, id, NULL, &ei));
    vt_job_result res;
    int rv = vt_client_wait(cl, id, 60000, &res, &ei);
    VT_CHECK(rv == 0 && res.r.state == VT_JOB_VERIFIED, "text job: %s", vt_errname(rv));
    if (rv == 0 && res.r.state == VT_JOB_VERIFIED) {
        char why[300];
        VT_CHECK(adv_check_receipt(cl, &res.r, spk, why, sizeof why) == 0, "receipt: %s", why);
        vt_receipt_file rf;
        VT_REQUIRE_OK(vt_receipt_decode(res.r.receipt, res.r.receipt_len, &rf, &ei));
        VT_CHECK(rf.r.n_prompt == n_want && memcmp(rf.r.prompt, want, n_want * 4) == 0,
                 "receipt input is the model's tokenization (%u vs %zu tokens)", rf.r.n_prompt,
                 n_want);
        vt_receipt_file_free(&rf);
    }
    if (rv == 0 || rv == VT_ERR_TIMEOUT)
        vt_job_result_free(&res);

    /* No tokenizer for that model: refused, with what to do. */
    s.model = "other";
    rv = vt_client_submit(cl, &s, id, NULL, &ei);
    VT_CHECK_EQ_INT(rv, VT_ERR_UNSUPPORTED);
    VT_CHECK(strstr(vt_errinfo_msg(&ei), "--tokenizer") != NULL, "message names the flag: %s",
             vt_errinfo_msg(&ei));
    adv_finish(&e, NULL, 0);
    return vt_test_done();
}
