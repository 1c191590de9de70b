#!/bin/sh
# undefine URI NAME FILE…: powers off and undefines the domain (`undefined`, or `absent`), then removes
# FILEs (its disk, seed, console logs, lock file). Missing pieces are not errors.
set -u
if virsh -q -c "$1" domuuid "$2" >/dev/null 2>&1; then
  virsh -q -c "$1" destroy "$2" >/dev/null 2>&1 || true
  # Snapshot metadata goes with the domain (libvirt refuses to undefine a domain that has any); the
  # snapshots' data lives in the disk removed below.
  virsh -q -c "$1" undefine "$2" --nvram --snapshots-metadata >/dev/null 2>&1 || virsh -q -c "$1" undefine "$2" --snapshots-metadata >/dev/null || exit 1
  echo undefined
else
  echo absent
fi
shift 2
rm -f -- "$@"

