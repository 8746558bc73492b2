#!/usr/bin/env bash
# Installs the Debian 12 packages Verity builds and tests with, if missing.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libnng-dev libhiredis-dev libmsgpack-dev libsodium-dev redis-server
  # Chart tests (helm/test): a small Go renderer built in GOPATH mode.
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  golang-github-xeipuuv-gojsonschema-dev yamllint
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The package enables a system redis-server; Verity's tests and demo start
# their own on free loopback ports and never touch it.
