/* bench_cmds.h - the verity-bench subcommands, one line each:
 *   BENCH_CMD(name, "one-line description")
 * implemented as `int vt_bench_<name>(int argc, char **argv)` in
 * bench_<name>.c (argv[0] is the subcommand name). bench/CMakeLists.txt
 * compiles bench_<name>.c when the libraries it lists for <name> are built;
 * a subcommand whose file was left out answers "not built". */
BENCH_CMD(engine, "engine decode/prefill tok/s against bandwidth and compute bounds")
BENCH_CMD(memsync, "memsync search p99 and adds/s against Redis PING/SET baselines")
BENCH_CMD(load, "scheduler jobs/s and latency: closed/open loop, vs an NNG echo ceiling")
BENCH_CMD(verify, "verification cost: verifier vs worker CPU per job, sampled overhead, detection")
