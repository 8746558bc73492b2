/* render.c - per-node reputation as Prometheus text (vt_arbiter.h,
 * "metrics"), for the scheduler's /metrics. */
#include <stdio.h>

#include "vt_arbiter.h"
#include "vt_metrics.h"

static const char *const HELP[VT_ARB_C__COUNT] = {
    "results accepted from this worker",
    "worker results that ended verified",
    "worker results judged faulty by the verifiers' majority",
    "verdicts given by this verifier",
    "verdicts of this verifier that the majority overruled",
    "audit tasks this verifier answered right",
    "audit tasks this verifier answered wrong",
    "times this node was quarantined"};

static void labels(const vt_arb_node_rep *n, char *out, size_t cap)
{
    char id[VT_NODE_ID_SHORT + 1];
    vt_node_id_short(n->pk, id);
    /* Roles come from the registry ("worker"/"verifier"): no escaping needed,
     * but anything else is shown as "?" rather than trusted. */
    const char *role = n->role ? n->role : "?";
    bool plain = true;
    for (const char *p = role; *p; p++)
        plain &= (*p >= 'a' && *p <= 'z');
    snprintf(out, cap, "node=\"%s\",role=\"%s\"", id, plain && *role ? role : "?");
}

void vt_arb_render_metrics(vt_strbuf *out, const vt_arb_node_rep *nodes, size_t n)
{
    char name[96], lab[96];
    for (int c = 0; c < VT_ARB_C__COUNT; c++) {
        snprintf(name, sizeof name, "verity_node_%s_total", vt_arb_counter_name((vt_arb_counter)c));
        vt_metrics_write_header(out, name, HELP[c], "counter");
        for (size_t i = 0; i < n; i++) {
            labels(&nodes[i], lab, sizeof lab);
            vt_metrics_write_sample(out, name, lab, (double)nodes[i].rep.c[c]);
        }
    }
    vt_metrics_write_header(out, "verity_node_quarantined", "1 while the node is quarantined",
                            "gauge");
    for (size_t i = 0; i < n; i++) {
        labels(&nodes[i], lab, sizeof lab);
        vt_metrics_write_sample(out, "verity_node_quarantined", lab, nodes[i].quarantined ? 1 : 0);
    }
}
