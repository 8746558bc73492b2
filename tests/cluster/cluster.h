/* cluster.h - a real Verity cluster on loopback for the integration tests:
 * redis-server, verity-scheduler, verity-worker and verity-verifier
 * processes, with node keys on the allow-list and agent API keys. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include "fixture.h"
#include "vt_client.h"
#include "vt_protocol.h"
#include "vt_registry.h"
#include "vt_testsupport.h"

#define CL_MAX_NODES 32

typedef struct cl_node {
    vt_proc *proc;
    char http[64];
    char key_path[512];
    char name[32];
} cl_node;

typedef struct cl_cluster {
    vt_ts_redis rs;
    char model_path[512];
    char model_hex[65];
    char secret_path[512], key_path[512];
    char agent_url[64], worker_url[64], verifier_url[64], http[64];
    char agent_key[2][VT_API_KEY_BUFSZ];
    vt_proc *sched;
    char sched_args[24][512]; /* for restarts */
    int n_sched_args;
    cl_node nodes[CL_MAX_NODES];
    int n_nodes;
} cl_cluster;

/* Start redis and the scheduler (extra args NULL-terminated, may be NULL),
 * register two agents. model_path's hash becomes the alias "tiny". Aborts
 * the test on failure. */
void cl_start(cl_cluster *c, const char *model_path, const char *const *sched_args);
/* A worker or verifier with a fresh allow-listed key, waiting until /readyz.
 * args: its own extra flags (NULL-terminated). Returns the node. */
/* Stop the scheduler (SIGTERM, or SIGKILL when crash) and start it again
 * with the same flags, addresses, key and Redis; waits until ready. */
void cl_sched_restart(cl_cluster *c, int crash);
cl_node *cl_node_start(cl_cluster *c, int verifier, const char *const *args);
void cl_stop(cl_cluster *c);
/* Register one more agent `name` (besides cl_start's two, agent_key[0..1])
 * in the cluster's Redis; its API key goes to key. */
void cl_agent_add(cl_cluster *c, const char *name, char key[VT_API_KEY_BUFSZ]);

/* The submit spec of fx_job j (prompt tokens, sampling, stops) for model
 * alias "tiny" with the given verify policy (NULL: the scheduler's). */
void cl_job_spec(const fx_job *j, const char *verify, vt_job_spec *s);
/* Submit fx_job j for model alias "tiny" with the given verify policy;
 * aborts the test if the scheduler refuses it. */
void cl_submit(vt_client *cl, const fx_job *j, const char *verify, char id[VT_JOB_ID_MAX + 1]);

/* Value of the first sample line "name value" (name includes any {labels})
 * in hostport's /metrics; -1 when absent or unreachable. */
double cl_metric(const char *hostport, const char *name);

#endif
