#!/bin/sh
# snapshot-create URI NAME SNAPSHOT MARKER: takes an internal snapshot (disk, and memory when running; the
# read-only seed is left out by its snapshot="no") described by MARKER, the job's. Prints `created`; a
# snapshot of that name that exists already is `exists ITS_MARKER` (a retried job finds its own and is done).
set -u
if x=$(virsh -q -c "$1" snapshot-dumpxml "$2" "$3" 2>/dev/null); then
  d=$(printf '%s\n' "$x" | sed -n 's/^ *<description>\(.*\)<\/description>$/\1/p' | head -n 1)
  echo "exists $d"; exit 0
fi
virsh -q -c "$1" snapshot-create-as "$2" "$3" --description "$4" >/dev/null || exit 1
echo created

