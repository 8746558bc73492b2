#!/usr/bin/env bash
# ctest helm_dockerfiles: parse + lint docker/*Dockerfile with the npm
# packages pinned in helm/test/package-lock.json (dockerfile-utils and its
# parser dockerfile-ast). Images are not built in CI; this is their check.
#
# The packages live in helm/test/node_modules (git-ignored). When they are
# missing this runs `npm ci` once (needs the npm registry); scripts/install-deps.sh
# does the same ahead of time so the test itself needs no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v node >/dev/null 2>&1; then
  echo "FAIL: node is not installed; the Dockerfile lint needs Node.js and npm (Debian: nodejs npm)" >&2
  exit 1
fi
if [ ! -f "$here/node_modules/dockerfile-utils/package.json" ] || [ ! -f "$here/node_modules/dockerfile-ast/package.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "FAIL: helm/test/node_modules is missing and npm is not installed: run 'npm ci --prefix helm/test' (scripts/install-deps.sh)" >&2
    exit 1
  fi
  echo "installing the Dockerfile linter: npm ci --prefix helm/test"
  # A lock in the directory keeps two test runs (normal + ASan build) from
  # installing into the same node_modules at once.
  exec 9>"$here/.npm-install.lock"
  flock 9
  if [ ! -f "$here/node_modules/dockerfile-utils/package.json" ]; then
    if ! npm ci --prefix "$here" --no-audit --no-fund --loglevel=error; then
      echo "FAIL: npm ci --prefix helm/test failed (no registry access?); install it once with network" >&2
      exit 1
    fi
  fi
  flock -u 9
fi
NODE_PATH="$here/node_modules" exec node "$here/dockerfile-check.js" "$root"
