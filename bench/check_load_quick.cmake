# Runs `verity-bench load --spawn --sweep` for two seconds a phase on a tiny
# identity cluster (redis, scheduler, one worker, verify=none): the closed
# loop, its echo ceiling, half its rate and that on the echo server; and
# checks the JSON: jobs completed, no errors; then again with agents that
# submit and wait, a verifier and --curve. No timing is checked.
find_program(REDIS_SERVER redis-server)
if(NOT REDIS_SERVER)
  message(STATUS "SKIP: redis-server not installed")
  return()
endif()
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
execute_process(COMMAND ${BENCH} load --spawn --workers 1 --verifiers 0 --concurrency 4
                        --sweep --duration 2s --warmup 0s --job-timeout 10s --quiet
                        --json ${WORKDIR}/out.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "verity-bench load --spawn failed (${rc}):\n${out}\n${err}")
endif()
file(READ ${WORKDIR}/out.json json)
string(JSON bench ERROR_VARIABLE jerr GET "${json}" bench)
if(jerr OR NOT bench STREQUAL "load")
  message(FATAL_ERROR "bad JSON (${jerr}):\n${json}")
endif()
string(JSON n LENGTH "${json}" runs)
if(NOT n EQUAL 4)
  message(FATAL_ERROR "expected the run, its ceiling, half its rate and that on the echo server, got ${n} runs:\n${json}")
endif()
string(JSON last GET "${json}" runs 3 name)
if(NOT last STREQUAL "half-rate-echo")
  message(FATAL_ERROR "the last run is ${last}, not the half rate's baseline:\n${json}")
endif()
foreach(i 0 1 2 3)
  string(JSON name GET "${json}" runs ${i} name)
  string(JSON done GET "${json}" runs ${i} completed)
  string(JSON errs GET "${json}" runs ${i} errors_total)
  if(NOT done GREATER 0 OR NOT errs EQUAL 0)
    message(FATAL_ERROR "run ${name}: ${done} completed, ${errs} errors:\n${out}\n${json}")
  endif()
  string(JSON p99 GET "${json}" runs ${i} latency_ms p99)
  if(NOT p99 GREATER 0)
    message(FATAL_ERROR "run ${name}: p99 ${p99}")
  endif()
endforeach()
# Agents that submit and wait (vt_client_run's one round trip; the
# scheduler journals such jobs once), with a verifier, no ceiling, and the
# latency curve: the closed loop, then open loops at 50, 10, 25 and 75% of
# its rate. Results expire after a second (--result-ttl), so the later
# runs see Redis delete the earlier ones' records, and Redis runs with a
# setting of our own (--redis-config).
execute_process(COMMAND ${BENCH} load --spawn --workers 1 --verifiers 1 --concurrency 8
                        --submit-wait --no-ceiling --curve --duration 1s --warmup 0s
                        --result-ttl 1 --redis-config hz=50
                        --job-timeout 10s --quiet --json ${WORKDIR}/wait.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "verity-bench load --spawn --submit-wait --curve failed (${rc}):\n${out}\n${err}")
endif()
file(READ ${WORKDIR}/wait.json json)
string(JSON n LENGTH "${json}" runs)
if(NOT n EQUAL 5)
  message(FATAL_ERROR "--curve: expected 5 runs, got ${n}:\n${json}")
endif()
foreach(i 0 1 2 3 4)
  string(JSON name GET "${json}" runs ${i} name)
  string(JSON done GET "${json}" runs ${i} completed)
  string(JSON errs GET "${json}" runs ${i} errors_total)
  if(NOT done GREATER 0 OR NOT errs EQUAL 0)
    message(FATAL_ERROR "--submit-wait --curve, run ${name}: ${done} completed, ${errs} errors:\n${out}\n${json}")
  endif()
endforeach()
string(JSON upto ERROR_VARIABLE jerr GET "${json}" targets p99_met_up_to_jobs_s)
if(jerr OR upto LESS 0)
  message(FATAL_ERROR "--curve: no p99_met_up_to_jobs_s (${jerr}):\n${json}")
endif()
if(NOT out MATCHES "latency against load")
  message(FATAL_ERROR "--curve: no curve table:\n${out}")
endif()
string(JSON ttl ERROR_VARIABLE jerr GET "${json}" setup result_ttl_s)
string(JSON hz ERROR_VARIABLE jerr2 GET "${json}" setup redis_config hz)
if(jerr OR jerr2 OR NOT ttl EQUAL 1 OR NOT hz STREQUAL "50")
  message(FATAL_ERROR "--result-ttl 1 --redis-config hz=50 not in the setup (${jerr} ${jerr2}):\n${json}")
endif()
set(expired 0)
foreach(i 1 2 3 4)
  string(JSON e ERROR_VARIABLE jerr GET "${json}" runs ${i} redis_expired_keys)
  if(NOT jerr)
    math(EXPR expired "${expired} + ${e}")
  endif()
endforeach()
if(NOT expired GREATER 0)
  message(FATAL_ERROR "--result-ttl 1: no record expired in the later runs:\n${out}\n${json}")
endif()
# An open loop at half the 10,000 jobs/s target reports that target line
# (met or not: no timing is checked).
execute_process(COMMAND ${BENCH} load --spawn --workers 1 --verifiers 1 --rate 5000
                        --duration 1s --warmup 0s --no-ceiling --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "p99 < 5 ms at half the 10000 jobs/s target \\(5000 jobs/s offered")
  message(FATAL_ERROR "--rate 5000: no line for half the target (${rc}):\n${out}\n${err}")
endif()
# A malformed --redis-config is refused before anything starts.
execute_process(COMMAND ${BENCH} load --spawn --redis-config "hz 50" --duration 1s
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "is not NAME=VALUE")
  message(FATAL_ERROR "--redis-config 'hz 50' was not refused (${rc}):\n${out}\n${err}")
endif()
message(STATUS "bench_load_quick: valid JSON, jobs completed without errors (submit; submit and wait, with the latency curve; ${expired} keys expired)")
