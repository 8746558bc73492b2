#!/usr/bin/env bash
# Verity demo: installs what is missing, builds, starts a local cluster on
# loopback (redis, scheduler, 2 workers, 2 verifiers), runs a batch of
# verified jobs from three agents in parallel, prints a short throughput and
# latency measurement, and stops everything again (also on failure or ^C).
#
#   scripts/demo.sh                  # synthesizes a small model (15m, q8_0)
#   scripts/demo.sh --model PATH     # or: scripts/demo.sh PATH  (a llama GGUF)
#
# Environment: BUILD_DIR (default build), BUILD_TYPE (RelWithDebInfo), CMAKE_ARGS
# (extra configure flags, e.g. -DVT_CUDA=OFF), KEEP=1 keeps the work dir (logs).
# Needs only bash and coreutils besides the build (no python, no curl).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
JOBS=${JOBS:-$(nproc)}
MODEL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=${2:?--model needs a path}; shift 2 ;;
    --model=*) MODEL=${1#--model=}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
    *) MODEL=$1; shift ;;
  esac
done
if [ -n "$MODEL" ] && [ ! -r "$MODEL" ]; then
  echo "demo.sh: cannot read model $MODEL" >&2; exit 2
fi
[ -z "$MODEL" ] || MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")

T0=$(date +%s)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }

# ---------------------------------------------------------------- clean-up
WORK=""
PIDS=()    # started daemons, in start order
NAMES=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#PIDS[@]} -gt 0 ]; then
    step "stopping the cluster (SIGTERM, then wait)"
    # Nodes first (they hand back their leases), then the scheduler, redis last.
    local i
    for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
      kill -TERM "${PIDS[$i]}" 2>/dev/null || true
      local n=0
      while kill -0 "${PIDS[$i]}" 2>/dev/null && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done
      if kill -0 "${PIDS[$i]}" 2>/dev/null; then
        info "${NAMES[$i]} did not stop in 20 s: SIGKILL"
        kill -KILL "${PIDS[$i]}" 2>/dev/null || true
      fi
      wait "${PIDS[$i]}" 2>/dev/null || true
      info "${NAMES[$i]} stopped"
    done
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
      info "logs and data kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  if [ $rc -eq 0 ]; then
    step "demo finished in $(( $(date +%s) - T0 )) s"
  else
    echo "demo.sh: failed (status $rc)" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ helpers
# A loopback port nothing listens on (tiny race, fine for a demo).
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768+)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
# HTTP status of GET http://127.0.0.1:PORT/PATH (bash /dev/tcp, no curl).
http_status() {
  ( exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
    read -r -t 2 _ code _ <&3 || exit 1
    echo "$code" ) 2>/dev/null
}
# start NAME CMD...: run in the background, output to $WORK/NAME.log.
start() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  NAMES+=("$name")
}
# wait_ready NAME PORT: until /readyz says 200 (the process must stay alive).
wait_ready() {
  local name=$1 port=$2 pid=${PIDS[${#PIDS[@]}-1]} n=0
  until [ "$(http_status "$port" /readyz)" = 200 ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo.sh: $name exited; its log ($WORK/$name.log):" >&2
      tail -n 20 "$WORK/$name.log" >&2; return 1
    fi
    n=$((n+1))
    if [ $n -gt 600 ]; then
      echo "demo.sh: $name not ready after 60 s; its log:" >&2
      tail -n 20 "$WORK/$name.log" >&2; return 1
    fi
    sleep 0.1
  done
  info "$name ready (pid $pid, http 127.0.0.1:$port, log $WORK/$name.log)"
}
# start_http NAME CMD...: start() with @PORT@ in CMD replaced by a free port, then
# wait_ready; another port is tried if that one was taken meanwhile.
start_http() {
  local name=$1 try port a; shift
  for try in 1 2 3; do
    port=$(free_port)
    local args=()
    for a in "$@"; do args+=("${a//@PORT@/$port}"); done
    start "$name" "${args[@]}"
    if wait_ready "$name" "$port"; then return 0; fi
    grep -q "Address in use" "$WORK/$name.log" || return 1
    info "port $port was taken meanwhile; trying another"
    unset "PIDS[${#PIDS[@]}-1]" "NAMES[${#NAMES[@]}-1]"
  done
  return 1
}

# ---------------------------------------------------------- install, build
step "installing missing packages (scripts/install-deps.sh)"
scripts/install-deps.sh
info "ok"

step "building ($BUILD_DIR, $BUILD_TYPE, -j$JOBS)"
# shellcheck disable=SC2086 # CMAKE_ARGS is a list of flags
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DVT_SKIP= ${CMAKE_ARGS:-} >"$ROOT/.demo-configure.log" 2>&1 ||
  { cat "$ROOT/.demo-configure.log"; exit 1; }
rm -f "$ROOT/.demo-configure.log"
# Only what the demo runs: the daemons and the tools (the tests build with scripts/test.sh).
cmake --build "$BUILD_DIR" -j"$JOBS" --target verity-scheduler verity-worker verity-verifier \
  verity verity-model verity-bench
case "$BUILD_DIR" in /*) BIN=$BUILD_DIR/bin ;; *) BIN=$ROOT/$BUILD_DIR/bin ;; esac
for b in verity-scheduler verity-worker verity-verifier verity verity-model verity-bench; do
  [ -x "$BIN/$b" ] || { echo "demo.sh: $BIN/$b was not built" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/verity-demo.XXXXXX")
info "work dir $WORK (sockets, keys, logs)"

# ------------------------------------------------------------------ model
if [ -z "$MODEL" ]; then
  step "synthesizing a model (15m preset, Q8_0, seed 1)"
  MODEL=$WORK/model.gguf
  "$BIN/verity-model" synth --preset 15m --type q8_0 --seed 1 -o "$MODEL"
else
  step "using model $MODEL"
fi
SHA=$(sha256sum "$MODEL" | cut -d' ' -f1)
info "model sha256 $SHA (its identity; agents call it 'demo')"

# ------------------------------------------------------------------ redis
# The journal settings the chart gives Redis (docs/operations.md, "Redis for the journal").
step "starting redis-server (unix socket only, AOF on, appendfsync always)"
mkdir -p "$WORK/redis"
REDIS_URL=unix://$WORK/redis.sock
start redis redis-server --port 0 --unixsocket "$WORK/redis.sock" --unixsocketperm 700 \
  --save '' --appendonly yes --appendfsync always --rdbcompression no \
  --hz 100 --auto-aof-rewrite-percentage 100 --auto-aof-rewrite-min-size 2gb --dir "$WORK/redis" --daemonize no
n=0
until [ -S "$WORK/redis.sock" ] && grep -qi "ready to accept connections" "$WORK/redis.log"; do
  kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$WORK/redis.log" >&2; exit 1; }
  n=$((n+1)); [ $n -lt 100 ] || { echo "demo.sh: redis did not start" >&2; exit 1; }
  sleep 0.1
done
info "redis ready on $WORK/redis.sock"

# ------------------------------------------------------------------- keys
step "creating keys and registering nodes and agents (verity keygen / node add / agent add)"
V=(--redis "$REDIS_URL")
"$BIN/verity" keygen --secret -o "$WORK/auth.secret" >/dev/null
info "auth secret: $WORK/auth.secret (keys the API-key MACs)"
"$BIN/verity" keygen -o "$WORK/scheduler.key" >/dev/null
info "scheduler key: $WORK/scheduler.key"
# Independent operators: the scheduler never lets an organisation verify its
# own work, so the workers (acme) and the two verifiers (audit-a, audit-b) differ.
for node in worker0:acme worker1:acme verifier0:audit-a verifier1:audit-b; do
  op=${node#*:}; node=${node%%:*}
  pk=$("$BIN/verity" keygen -o "$WORK/$node.key")
  role=${node%?}
  "$BIN/verity" node add "${V[@]}" --role "$role" --operator "$op" "$pk" >/dev/null
  info "$node: key ${pk:0:16}... on the allow-list as $role of $op"
done
KEYS=()
for a in alice bob carol; do
  KEYS+=("$("$BIN/verity" agent add "${V[@]}" --auth-secret "$WORK/auth.secret" "$a" 2>/dev/null)")
  info "agent $a: API key ${KEYS[${#KEYS[@]}-1]:0:12}..."
done

# ---------------------------------------------------------------- daemons
step "starting verity-scheduler (agent, worker and verifier sockets on ipc://; it tokenizes text prompts with the model's tokenizer)"
AGENT_URL=ipc://$WORK/agent.ipc
start_http scheduler "$BIN/verity-scheduler" --agent-listen "$AGENT_URL" \
  --worker-listen "ipc://$WORK/worker.ipc" --verifier-listen "ipc://$WORK/verifier.ipc" \
  --http "127.0.0.1:@PORT@" --redis "$REDIS_URL" --key "$WORK/scheduler.key" \
  --auth-secret "$WORK/auth.secret" --model-alias "demo=$SHA" --tokenizer "$MODEL" --log-level warn

step "starting 2 workers and 2 verifiers (1 engine thread each; verifier1 on the portable scalar path)"
for i in 0 1; do
  start_http "worker$i" "$BIN/verity-worker" --scheduler "ipc://$WORK/worker.ipc" --model "$MODEL@$SHA" \
    --key "$WORK/worker$i.key" --http "127.0.0.1:@PORT@" --threads 1 --slots 8 --device cpu --log-level warn
done
for i in 0 1; do
  isa=native; [ $i = 1 ] && isa=scalar
  start_http "verifier$i" "$BIN/verity-verifier" --scheduler "ipc://$WORK/verifier.ipc" \
    --model "$MODEL@$SHA" --key "$WORK/verifier$i.key" --http "127.0.0.1:@PORT@" --threads 1 \
    --isa "$isa" --log-level warn
done

# ------------------------------------------------------------------- jobs
step "submitting 12 jobs: 3 agents x 4 prompts, in parallel, verify=full:2 (both verifiers replay each)"
PROMPTS=("Once upon a time" "The little robot" "In a quiet village" "She opened the door")
AGENTS=(alice bob carol)
SUBS=()
for a in 0 1 2; do
  for p in 0 1 2 3; do
    out=$WORK/job-$a-$p.out
    "$BIN/verity" submit --url "$AGENT_URL" --api-key "${KEYS[$a]}" --model demo \
      --prompt "${PROMPTS[$p]}" --max-tokens 24 --seed $((a * 4 + p)) \
      --temp 0.8 --verify full:2 --timeout-ms 120000 >"$out" 2>&1 &
    SUBS+=($!)
  done
done
failed=0
for pid in "${SUBS[@]}"; do wait "$pid" || failed=$((failed + 1)); done

step "results (output text, then the job's verification status)"
for a in 0 1 2; do
  for p in 0 1 2 3; do
    printf '\n  [%s] "%s"\n' "${AGENTS[$a]}" "${PROMPTS[$p]}"
    sed 's/^/    /' "$WORK/job-$a-$p.out"
  done
done
if [ $failed -ne 0 ]; then
  echo "demo.sh: $failed of 12 jobs did not end verified" >&2
  exit 1
fi
info ""
info "all 12 jobs verified by 2 independent replays each"

# ------------------------------------------------------------ measurement
step "throughput and latency: verity-bench load, 8 agents, 5 s closed loop on this cluster"
"$BIN/verity-bench" load --url "$AGENT_URL" --api-key "${KEYS[0]}" --api-key "${KEYS[1]}" \
  --api-key "${KEYS[2]}" --model demo --concurrency 8 --duration 5s --warmup 1s \
  --prompt-tokens 16 --max-tokens 16 --verify sampled:0.1 --stages 4 --no-ceiling --quiet |
  grep -v '^targets\|^  >=\|^  p99 at half\|^load average\|^takes CPU\|^$' | sed 's/^/    /'
info "(jobs of 16 prompt + 16 output tokens on the 15m model, verify=sampled:0.1: one job in ten"
info " replayed by a verifier picked at random, one of them on the slower scalar path; all on 2 cores"
info " shared by 4 daemons, redis and the load generator)"
