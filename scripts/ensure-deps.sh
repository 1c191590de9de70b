#!/usr/bin/env bash
# Installs the Debian packages, the npm packages and a Redis server the service and its tests need,
# skipping what is already there. Used by .ci/run and scripts/run-local.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

debs=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils openssh-server
  genisoimage curl dnsmasq-base redis-server redis-tools procps util-linux openssl virtinst
  chromium # chromium: the browser tests of the dashboard, /docs and the VM page (driven by playwright-core)
  shellcheck # packages/libvirt/test/scripts.test.ts: the host scripts (packages/libvirt/src/sh) are shellcheck-clean
  mmdebstrap extlinux syslinux-common e2fsprogs fdisk) # scripts/build-guest-image.sh: the real guest of test/guest/
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

# Redis: use the one that answers on 127.0.0.1:6379, or start one (no persistence needed for tests).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "ensure-deps: starting redis-server on 127.0.0.1:6379" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir /var/lib/redis \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --logfile /var/log/redis/provisioner.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
