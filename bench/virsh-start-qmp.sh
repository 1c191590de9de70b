#!/usr/bin/env bash
# Where `virsh start` spends its time on this host: starts a small diskless domain (software emulation, as the
# service defines them here) N times with libvirtd's QEMU debug log on, and prints per start the wall time,
# the QMP commands libvirt sent and how long its qom-list/qom-get exchange about the guest CPU took; then the
# same QEMU started bare (no libvirt) for comparison. Needs root (virt-admin). Restores the log settings.
#
#   bash bench/virsh-start-qmp.sh [N]
set -euo pipefail
n=${1:-3}
uri=qemu:///system
name="bench-qmp-$$"
log=$(mktemp /tmp/virsh-start-qmp.XXXXXX)
outputs=$(virt-admin -c libvirtd:///system daemon-log-outputs | sed -n 's/^ *Logging outputs: *//p')
filters=$(virt-admin -c libvirtd:///system daemon-log-filters | sed -n 's/^ *Logging filters: *//p')
cleanup() {
  virt-admin -c libvirtd:///system daemon-log-outputs "${outputs:-3:stderr}" >/dev/null || true
  virt-admin -c libvirtd:///system daemon-log-filters "${filters:-}" >/dev/null || true
  virsh -q -c "$uri" destroy "$name" >/dev/null 2>&1 || true
  virsh -q -c "$uri" undefine "$name" >/dev/null 2>&1 || true
  rm -f "$log" "$log.xml"
}
trap cleanup EXIT
cat >"$log.xml" <<XML
<domain type='qemu'><name>$name</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><console type='pty'/></devices></domain>
XML
virsh -q -c "$uri" define "$log.xml" >/dev/null
virt-admin -c libvirtd:///system daemon-log-outputs "1:file:$log" >/dev/null
virt-admin -c libvirtd:///system daemon-log-filters "1:qemu.qemu_monitor" >/dev/null
libvirtd --version | head -1
ms() { date +%s%3N; }
for i in $(seq "$n"); do
  : >"$log"
  t0=$(ms)
  virsh -q -c "$uri" start "$name" >/dev/null
  t1=$(ms)
  virsh -q -c "$uri" destroy "$name" >/dev/null
  awk -v i="$i" -v wall="$((t1 - t0))" '
    function ts(l) { split(substr(l, 12, 12), p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    /QEMU_MONITOR_IO_WRITE/ { q++; if (/"qom-(get|list)"/) { c++; if (!f) f = ts($0); l = ts($0) } }
    END { printf "virsh start %d: %d ms; libvirt sent %d QMP commands, %d of them qom-list/qom-get (the guest CPU'"'"'s properties, one round trip each) over %d ms\n", i, wall, q, c, (l - f) * 1000 }' "$log"
done
for i in $(seq "$n"); do
  t0=$(ms)
  echo '{"execute":"qmp_capabilities"}{"execute":"quit"}' | qemu-system-x86_64 -machine pc,accel=tcg -m 64 -S -display none -nodefaults -qmp stdio >/dev/null
  t1=$(ms)
  echo "bare QEMU $i (start, QMP handshake, quit, no libvirt): $((t1 - t0)) ms"
done
