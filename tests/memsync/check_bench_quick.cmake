# Smoke test of `verity-bench memsync`: a tiny run finishes and writes JSON
# with every figure (no timing is checked: performance belongs to the bench).
# -DBENCH=<verity-bench> -DWORKDIR=<dir>
file(MAKE_DIRECTORY ${WORKDIR})
set(out ${WORKDIR}/memsync.json)
file(REMOVE ${out})
# both ways of sending adds: async chains per agent (default), blocking threads
foreach(client async sync)
  file(REMOVE ${out})
  execute_process(COMMAND ${BENCH} memsync --items 60 --dim 16 --searches 20 --adds 200
                          --agents 10 --clients 2 --workers 2 --seconds 30 --client ${client}
                          --json ${out}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE so ERROR_VARIABLE se)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "verity-bench memsync --client ${client} failed (${rc}):\n${so}\n${se}")
  endif()
  file(READ ${out} json)
  foreach(path "baseline;redis_ping_us_p50" "baseline;redis_pipelined_set_per_s"
               "search;p99_ms" "search;p50_ms" "adds;adds_per_s" "adds;cpu_us_redis"
               "adds;adds_per_group")
    string(JSON v ERROR_VARIABLE err GET "${json}" ${path})
    if(err OR v STREQUAL "" OR v STREQUAL "null")
      message(FATAL_ERROR "JSON lacks ${path}: ${json}")
    endif()
  endforeach()
  string(JSON n GET "${json}" search corpus_items)
  string(JSON e GET "${json}" search errors)
  string(JSON a GET "${json}" adds adds)
  string(JSON f GET "${json}" adds failed)
  string(JSON g GET "${json}" adds adds_per_group)
  if(NOT n EQUAL 60 OR NOT e EQUAL 0 OR NOT a EQUAL 200 OR NOT f EQUAL 0 OR g LESS 1)
    message(FATAL_ERROR "unexpected counts with --client ${client} (items ${n}, search errors ${e}, adds ${a}, failed ${f}, adds per group ${g}): ${json}")
  endif()
  message(STATUS "${so}")
endforeach()
