#!/bin/sh
# rebuild-snapshots URI NAME REMOVE: prints the domain's snapshot names, one a line; with REMOVE = 1 deletes
# each first (a rebuild discards the disk they live in) and prints what is left.
set -eu
names=$(virsh -q -c "$1" snapshot-list "$2" --name)
[ "$3" = 1 ] || { printf '%s\n' "$names"; exit 0; }
printf '%s\n' "$names" | while IFS= read -r s; do [ -z "$s" ] || virsh -q -c "$1" snapshot-delete "$2" --snapshotname "$s" >/dev/null; done
virsh -q -c "$1" snapshot-list "$2" --name

