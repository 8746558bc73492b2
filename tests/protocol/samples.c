/* samples.c - fully populated sample messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samples.h"

static const int32_t prompt_toks[] = {1, 15043, 29892, -7, 2147483647, 0};
static const int32_t out_toks[] = {450, 4996, 17354, 1701, 29916, 2};
static const char *const stops[] = {"\n\n", "User:", "</s>"};
static const float emb[] = {0.5f, -1.25f, 3.0e-8f, 1024.0f};
static uint8_t layers[4 * VT_DIGEST_BYTES];
static const uint8_t receipt[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
static const uint64_t lease_ids[] = {1, 2, 0xffffffffffffffffull, 300};
static const vt_ack acks[] = {VT_ACK_ACCEPTED, VT_ACK_DUPLICATE, VT_ACK_STALE, VT_ACK_REJECTED};
static vt_job_verdict jverdicts[2];
static vt_model_ref models[2];
static vt_wire_job jobs[2];
static vt_wire_result results[3];
static vt_wire_task tasks[2];
static vt_wire_verdict verdicts[2];

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + 7 * i);
}

static vt_sampling sampling(void)
{
    vt_sampling s = {.temperature = 0.75f, .top_k = 40, .top_p = 0.9f, .seed = 0x123456789abcull};
    return s;
}

static void fill_proof(vt_merkle_proof *p, uint32_t index, uint32_t n)
{
    p->index = index;
    p->n = n;
    p->path_len = 2;
    fill(p->path[0], 32, (uint8_t)(index + 1));
    fill(p->path[1], 32, (uint8_t)(index + 2));
}

void sample_msg(vt_msg_type t, vt_msg *m)
{
    vt_msg_init(m, t);
    fill(layers, sizeof layers, 9);
    switch (t) {
    case VT_MSG_ERROR:
        m->u.error.code = VT_ERR_OVERLOADED;
        snprintf(m->u.error.msg, sizeof m->u.error.msg, "queue full (10000 jobs)");
        m->u.error.retry_ms = 250;
        break;
    case VT_MSG_SUBMIT: {
        vt_msg_submit *s = &m->u.submit;
        s->api_key = "vtk_ag_k3j2mq7xzt4a_00112233";
        s->job.model = "tiny";
        s->job.prompt = "Hello, world";
        s->job.prompt_len = 12;
        s->job.max_tokens = 32;
        s->job.sampling = sampling();
        s->job.stop = stops;
        s->job.n_stop = 3;
        s->job.priority = -5;
        s->job.deadline_ms = 60000;
        s->job.verify = "full:2";
        s->job.delivery = "optimistic";
        s->job.kind = VT_KIND_GENERATE;
        s->job.memory_k = 4;
        s->job.memory_query = "what did I say about cats";
        s->job.remember = true;
        fill(s->job.request_token, 16, 3);
        break;
    }
    case VT_MSG_SUBMIT_OK:
        snprintf(m->u.submit_ok.job_id, sizeof m->u.submit_ok.job_id, "j_0123456789abcdef");
        m->u.submit_ok.duplicate = true;
        break;
    case VT_MSG_STATUS: case VT_MSG_RESULT: case VT_MSG_CANCEL:
        m->u.status.api_key = "vtk_ag_k3j2mq7xzt4a_00112233";
        snprintf(m->u.status.job_id, sizeof m->u.status.job_id, "j_0123456789abcdef");
        m->u.status.wait_ms = t == VT_MSG_RESULT ? 30000 : 0;
        break;
    case VT_MSG_STATUS_OK: {
        vt_msg_status_ok *s = &m->u.status_ok;
        snprintf(s->job_id, sizeof s->job_id, "j_0123456789abcdef");
        s->state = VT_JOB_VERIFYING;
        s->submitted_ms = 1764000000000ull;
        s->leased_ms = s->submitted_ms + 5;
        s->computed_ms = s->submitted_ms + 900;
        s->finished_ms = 0;
        memset(s->worker, 'a', 64);
        s->attempts = 2;
        s->verify = (vt_verify_summary){2, 1, 0, 1};
        break;
    }
    case VT_MSG_RESULT_OK: {
        vt_msg_result_ok *r = &m->u.result_ok;
        snprintf(r->job_id, sizeof r->job_id, "j_0123456789abcdef");
        r->state = VT_JOB_VERIFIED;
        r->error = 0;
        r->error_msg = "none";
        r->tokens = out_toks;
        r->n_tokens = 6;
        r->text = "The quick\0brown"; /* text may hold any bytes */
        r->text_len = 15;
        r->embedding = emb;
        r->n_embedding = 4;
        r->stop_reason = VT_STOP_EOS;
        fill(r->model_sha256, 32, 1);
        fill(r->trace_digest, 32, 2);
        fill(r->worker, 32, 3);
        r->verify = (vt_verify_summary){2, 2, 0, 0};
        fill(jverdicts[0].verifier, 32, 4);
        jverdicts[0].pass = true;
        jverdicts[0].fault = VT_FAULT_NONE;
        jverdicts[0].first_divergence = VT_POS_NONE;
        fill(jverdicts[1].verifier, 32, 5);
        jverdicts[1].pass = false;
        jverdicts[1].fault = VT_FAULT_WRONG_DIGEST;
        jverdicts[1].first_divergence = 17;
        r->verdicts = jverdicts;
        r->n_verdicts = 2;
        r->receipt = receipt;
        r->receipt_len = sizeof receipt;
        r->submitted_ms = 1764000000000ull;
        r->finished_ms = 1764000001000ull;
        break;
    }
    case VT_MSG_CANCEL_OK:
        snprintf(m->u.cancel_ok.job_id, sizeof m->u.cancel_ok.job_id, "j_0123456789abcdef");
        m->u.cancel_ok.state = VT_JOB_CANCELLED;
        break;
    case VT_MSG_HELLO: {
        vt_msg_hello *h = &m->u.hello;
        fill(h->node_pk, 32, 11);
        h->role = VT_HELLO_WORKER;
        fill(models[0].sha256, 32, 12);
        models[0].name = "tiny";
        fill(models[1].sha256, 32, 13);
        models[1].name = "";
        h->models = models;
        h->n_models = 2;
        h->device = "cpu avx2 2 threads";
        h->slots = 8;
        h->version = "0.1.0";
        h->time_ms = 1764000000123ull;
        fill(h->nonce, 16, 14);
        fill(h->sig, 64, 15);
        break;
    }
    case VT_MSG_HELLO_OK:
        snprintf(m->u.hello_ok.session, sizeof m->u.hello_ok.session, "s_42");
        m->u.hello_ok.lease_ms = 30000;
        m->u.hello_ok.heartbeat_ms = 2000;
        fill(m->u.hello_ok.scheduler_pk, 32, 16);
        break;
    case VT_MSG_FETCH: case VT_MSG_VFETCH:
        snprintf(m->u.fetch.session, sizeof m->u.fetch.session, "s_42");
        m->u.fetch.free_slots = 6;
        m->u.fetch.max_jobs = 16;
        m->u.fetch.wait_ms = 20000;
        break;
    case VT_MSG_FETCH_OK:
        for (int i = 0; i < 2; i++) {
            vt_wire_job *j = &jobs[i];
            memset(j, 0, sizeof *j);
            snprintf(j->job_id, sizeof j->job_id, "j_%d", i);
            j->lease_id = 1000 + (uint64_t)i;
            j->kind = i ? VT_KIND_EMBED : VT_KIND_GENERATE;
            fill(j->model_sha256, 32, (uint8_t)(20 + i));
            j->prompt = prompt_toks;
            j->n_prompt = 6;
            j->max_tokens = 64;
            j->sampling = sampling();
            j->stop = stops;
            j->n_stop = (uint32_t)(2 + i);
            j->lease_ms = 30000;
            j->deadline_ms = (uint32_t)(i * 1000);
        }
        m->u.fetch_ok.jobs = jobs;
        m->u.fetch_ok.n_jobs = 2;
        break;
    case VT_MSG_RESULTS:
        for (int i = 0; i < 3; i++) {
            vt_wire_result *r = &results[i];
            memset(r, 0, sizeof *r);
            snprintf(r->job_id, sizeof r->job_id, "j_%d", i);
            r->lease_id = 1000 + (uint64_t)i;
            r->status = i == 2 ? VT_ERR_NOMODEL : 0;
            fill(r->model_sha256, 32, 20);
            vt_hash_tokens(prompt_toks, 6, r->prompt_digest);
            r->tokens = out_toks;
            r->n_tokens = (uint32_t)(6 - i);
            r->text = "The quick";
            r->text_len = 9;
            r->embedding = i == 1 ? emb : NULL;
            r->n_embedding = i == 1 ? 4 : 0;
            r->stop_reason = VT_STOP_STRING;
            fill(r->trace_digest, 32, (uint8_t)(30 + i));
            r->layer_digests = layers;
            r->n_layers = 4;
            r->queue_us = 10;
            r->prefill_us = 2000;
            r->decode_us = 30000;
            fill_proof(&r->proof, (uint32_t)i, 3);
        }
        snprintf(m->u.results.session, sizeof m->u.results.session, "s_42");
        m->u.results.results = results;
        m->u.results.n_results = 3;
        fill(m->u.results.root, 32, 40);
        fill(m->u.results.sig, 64, 41);
        break;
    case VT_MSG_RESULTS_OK: case VT_MSG_VERDICTS_OK:
        m->u.acks.acks = acks;
        m->u.acks.n_acks = 4;
        break;
    case VT_MSG_HEARTBEAT:
        snprintf(m->u.heartbeat.session, sizeof m->u.heartbeat.session, "s_42");
        m->u.heartbeat.lease_ids = lease_ids;
        m->u.heartbeat.n_lease_ids = 4;
        m->u.heartbeat.busy_slots = 3;
        m->u.heartbeat.free_slots = 5;
        break;
    case VT_MSG_HEARTBEAT_OK:
        m->u.heartbeat_ok.cancel = lease_ids;
        m->u.heartbeat_ok.n_cancel = 2;
        m->u.heartbeat_ok.lease_ms = 30000;
        break;
    case VT_MSG_RELEASE:
        snprintf(m->u.release.session, sizeof m->u.release.session, "s_42");
        m->u.release.lease_ids = lease_ids;
        m->u.release.n_lease_ids = 3;
        break;
    case VT_MSG_RELEASE_OK:
        break;
    case VT_MSG_VFETCH_OK:
        for (int i = 0; i < 2; i++) {
            vt_wire_task *k = &tasks[i];
            memset(k, 0, sizeof *k);
            k->task_id = 77 + (uint64_t)i;
            k->lease_id = 5000 + (uint64_t)i;
            snprintf(k->job_id, sizeof k->job_id, "j_%d", i);
            fill(k->model_sha256, 32, 20);
            k->prompt = prompt_toks;
            k->n_prompt = 6;
            k->output = out_toks;
            k->n_output = 6;
            k->sampling = sampling();
            k->max_tokens = 64;
            k->stop = stops;
            k->n_stop = 1;
            k->stop_reason = VT_STOP_MAX;
            fill(k->trace_digest, 32, 50);
            k->layer_digests = layers;
            k->n_layers = 4;
            fill(k->worker, 32, 51);
            k->lease_ms = 30000;
        }
        m->u.vfetch_ok.tasks = tasks;
        m->u.vfetch_ok.n_tasks = 2;
        break;
    case VT_MSG_VERDICTS:
        for (int i = 0; i < 2; i++) {
            vt_wire_verdict *v = &verdicts[i];
            memset(v, 0, sizeof *v);
            v->task_id = 77 + (uint64_t)i;
            v->lease_id = 5000 + (uint64_t)i;
            snprintf(v->job_id, sizeof v->job_id, "j_%d", i);
            v->pass = i == 0;
            v->fault = i == 0 ? VT_FAULT_NONE : VT_FAULT_WRONG_TOKEN;
            v->first_divergence = i == 0 ? VT_POS_NONE : 3;
            fill(v->replay_trace_digest, 32, 60);
            fill(v->final_at_div, 32, 61);
            v->layers_at_div = i ? layers : NULL;
            v->n_layers = i ? 4 : 0;
            v->replay_us = 12345;
            fill_proof(&v->proof, (uint32_t)i, 2);
        }
        snprintf(m->u.verdicts.session, sizeof m->u.verdicts.session, "s_42");
        m->u.verdicts.verdicts = verdicts;
        m->u.verdicts.n_verdicts = 2;
        fill(m->u.verdicts.root, 32, 62);
        fill(m->u.verdicts.sig, 64, 63);
        break;
    default:
        break;
    }
}

void sample_encode(vt_msg_type t, vt_buf *b)
{
    vt_msg m;
    vt_errinfo ei = {0};
    sample_msg(t, &m);
    vt_buf_init(b, 0);
    int rv = vt_msg_encode(&m, b, &ei);
    if (rv) {
        fprintf(stderr, "encode %s: %s\n", vt_msg_type_name(t), vt_errinfo_msg(&ei));
        exit(1);
    }
}
