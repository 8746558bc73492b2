# Runs `verity-bench load --spawn` for two seconds on a tiny identity cluster
# (redis, scheduler, one worker, verify=none) plus its echo ceiling, and
# checks the JSON: jobs completed, no errors; then again with agents that
# submit and wait, and a verifier. No timing is checked.
find_program(REDIS_SERVER redis-server)
if(NOT REDIS_SERVER)
  message(STATUS "SKIP: redis-server not installed")
  return()
endif()
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
execute_process(COMMAND ${BENCH} load --spawn --workers 1 --verifiers 0 --concurrency 4
                        --duration 2s --warmup 0s --job-timeout 10s --quiet --json ${WORKDIR}/out.json
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
if(NOT n EQUAL 2)
  message(FATAL_ERROR "expected the run and its ceiling, got ${n} runs:\n${json}")
endif()
foreach(i 0 1)
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
# scheduler journals such jobs once), with a verifier, no ceiling.
execute_process(COMMAND ${BENCH} load --spawn --workers 1 --verifiers 1 --concurrency 8
                        --submit-wait --no-ceiling --duration 2s --warmup 0s --job-timeout 10s
                        --quiet --json ${WORKDIR}/wait.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "verity-bench load --spawn --submit-wait failed (${rc}):\n${out}\n${err}")
endif()
file(READ ${WORKDIR}/wait.json json)
string(JSON done GET "${json}" runs 0 completed)
string(JSON errs GET "${json}" runs 0 errors_total)
if(NOT done GREATER 0 OR NOT errs EQUAL 0)
  message(FATAL_ERROR "--submit-wait: ${done} completed, ${errs} errors:\n${out}\n${json}")
endif()
message(STATUS "bench_load_quick: valid JSON, jobs completed without errors (submit, submit and wait)")
