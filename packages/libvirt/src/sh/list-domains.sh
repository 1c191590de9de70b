#!/bin/sh
# list-domains URI BOUNDARY [DISKS_DIR [AGENT_TIMEOUT_S [SKIP…]]]: every domain with its XML, state and
# snapshots, and libvirt's DHCP leases, in ONE exec and one virsh process given all its commands as one
# `;`-separated batch (the replaced service ran `virsh desc` once per domain). UUIDs are the only values in
# the batch: they come from libvirt, never from users.
# Every section starts with a marker line `@@BOUNDARY NAME`, BOUNDARY being random per run: a domain's XML
# holds text of anyone's choosing (tags, a hand-made description, a guest's DHCP hostname in the lease
# files), and no such text can know the boundary. virsh's `echo` adds no newline, so each marker carries its
# own (dumpxml and domstate end theirs with one): markers always start a line.
# Each domain's snapshot names follow (SNAPSHOTS); only for domains that have any, a second virsh batch
# prints each snapshot's XML (`SNAPSHOT UUID NAME`), so a host without snapshots pays nothing more.
# With DISKS_DIR, a FILES section lists its files (mtime, size, name). With AGENT_TIMEOUT_S other than 0,
# every running domain named as this service names VMs and not in SKIP (VMs already known ready) is asked
# about its guest too (guest-status's sections, after the domains), each agent call within that timeout.
# Ends with `@@BOUNDARY DONE`.
set -u
uri=$1 b=$2 d=${3:-} t=${4:-0}
[ "$#" -ge 4 ] && shift 4
nl='
'
for f in /var/lib/libvirt/dnsmasq/*.status; do [ -r "$f" ] && { echo "@@$b LEASEFILE"; cat "$f"; echo; }; done
# The files of the disks directory (mtime in epoch seconds, size, name): what drift compares domains with.
if [ -n "$d" ] && [ -d "$d" ]; then echo "@@$b FILES"; find "$d" -maxdepth 1 -type f -printf '%T@ %s %f\n'; fi
echo "@@$b DOMAINS"
all=$(virsh -q -c "$uri" list --all --uuid) || exit 1
if [ -n "$all" ]; then
  # One virsh per 200 domains: a single argument may not exceed 128 KiB (Linux's MAX_ARG_STRLEN), which
  # one batch of every domain does from about 800 domains on (virsh could not even start).
  # Each batch ends with a bare echo (prints nothing), so virsh's status is 0 when it ran the batch, even
  # if a domain vanished meanwhile (that command fails, the next ones run), and 1 when it could not run it
  # (no connection to libvirtd): then the listing fails instead of returning the domains of the other batches.
  out="" cmds="" n=0
  for u in $all; do
    cmds="$cmds echo '@@$b DOMAIN $u$nl'; dumpxml $u; echo '@@$b STATE$nl'; domstate $u; echo '@@$b SNAPSHOTS$nl'; snapshot-list $u --name;"
    n=$((n + 1))
    if [ "$n" -ge 200 ]; then o=$(virsh -q -c "$uri" "$cmds echo") || exit 1; out="$out$o$nl" cmds="" n=0; fi
  done
  if [ -n "$cmds" ]; then o=$(virsh -q -c "$uri" "$cmds echo") || exit 1; out="$out$o"; fi
  printf '%s\n' "$out"
  # Only domains that have snapshots cost more: more batches dump those (named as this service names
  # them: a-z, 0-9, -), each in its own section; 200 snapshots per virsh, as for domains (awk writes each
  # batch to a file of its own).
  sd=$(mktemp -d) || exit 1
  trap 'rm -rf "$sd"' EXIT
  printf '%s\n' "$out" | awk -v m="@@$b" -v q="'" -v d="$sd" '
    index($0, m " ") == 1 { h = substr($0, length(m) + 2); if (h ~ /^DOMAIN [0-9a-f-]+$/) u = substr(h, 8); s = (h == "SNAPSHOTS"); next }
    s && u != "" && /^[a-z0-9][a-z0-9-]*$/ && length($0) <= 63 {
      f = d "/" sprintf("%06d", int(k++ / 200)); if (f != lf) { if (lf != "") close(lf); lf = f }
      printf " echo %s%s SNAPSHOT %s %s\n%s; snapshot-dumpxml %s %s;", q, m, u, $0, q, u, $0 > f
    }' || exit 1
  for f in "$sd"/*; do
    [ -f "$f" ] || continue
    virsh -q -c "$uri" "$(cat "$f") echo" || exit 1
  done
  rm -rf "$sd"
fi
if [ "$t" != 0 ]; then
  . ./guests.sh
  guests_init
  set -f
  skip=" $* "
  for n in $(virsh -q -c "$uri" list --name); do
    case $n in *[!a-z0-9-]* | -*) continue ;; esac
    case $skip in *" $n "*) continue ;; esac
    guest 1 "$n"
  done
  guests_out
fi
echo "@@$b DONE"
