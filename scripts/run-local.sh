#!/usr/bin/env bash
# Runs the whole service on this machine: Redis (if none answers), a loopback hypervisor host
# (install-server.sh --local), a generated configuration, a small image server, the API and a worker.
# Ctrl-C stops what it started. Configuration and secrets live in .local/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash install-server.sh --local --skip-packages >/dev/null

mkdir -p .local/images
chmod 700 .local
[ -f .local/images/tiny.qcow2 ] || qemu-img create -q -f qcow2 .local/images/tiny.qcow2 1G
if [ ! -f .local/config.yaml ]; then
  node scripts/local-config.mjs > .local/config.yaml
  chmod 600 .local/config.yaml
fi
export PROVISIONER_CONFIG="$PWD/.local/config.yaml"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
node scripts/serve-images.mjs .local/images 8090 & pids+=($!)
node scripts/webhook-receiver.mjs 8091 & pids+=($!)
node --import tsx apps/worker/src/main.ts & pids+=($!)
node --import tsx apps/api/src/main.ts & pids+=($!)
# The token is shown so it can be pasted into another shell; it is also in .local/config.yaml.
node scripts/local-config.mjs hint .local/config.yaml >&2
wait -n
