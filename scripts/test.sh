#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: once in a normal
# build and once under AddressSanitizer + UBSan. Exit status is non-zero if
# anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}

scripts/install-deps.sh

start=$(date +%s)
echo "== build (release + tests)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVT_SKIP= >build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
cmake --build build -j"$JOBS"

echo "== ctest (normal build)"
rc=0
ctest --test-dir build --output-on-failure -j"$JOBS" --timeout 900 || rc=1

echo "== build (AddressSanitizer + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVT_SANITIZE=ON -DVT_SKIP= >build-asan-configure.log 2>&1 || { cat build-asan-configure.log; exit 1; }
cmake --build build-asan -j"$JOBS"

echo "== ctest (ASan + UBSan; tests labelled 'slow' are left to the normal build)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
# Known leaks inside NNG 1.5.2 itself (see the file); ours still fail.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 900 -LE slow || rc=1

rm -f build-configure.log build-asan-configure.log
echo "== test.sh finished in $(( $(date +%s) - start ))s, status $rc"
exit $rc
