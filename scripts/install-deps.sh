#!/usr/bin/env bash
# Installs the Debian 12 packages Verity builds and tests with, if missing.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libnng-dev libhiredis-dev libmsgpack-dev libsodium-dev redis-server
  # Chart tests (helm/test): a small Go renderer built in GOPATH mode.
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  golang-gopkg-yaml.v2-dev golang-github-masterminds-semver-dev
  golang-github-xeipuuv-gojsonschema-dev yamllint
  # Dockerfile lint (helm/test, npm packages pinned by its lockfile).
  nodejs
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Some nodejs builds bundle npm; Debian's own nodejs needs the npm package
# (which conflicts with the bundled one, so only when npm is absent).
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends npm
fi
# The Dockerfile linters, exactly as pinned in helm/test/package-lock.json.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/helm/test/package-lock.json" ] && [ ! -d "$here/helm/test/node_modules" ]; then
  npm ci --prefix "$here/helm/test" --no-audit --no-fund --loglevel=error
fi
# The package enables a system redis-server; Verity's tests and demo start
# their own on free loopback ports and never touch it.
