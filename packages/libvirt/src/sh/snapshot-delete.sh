#!/bin/sh
# snapshot-delete URI NAME SNAPSHOT: deletes a snapshot (metadata and its data in the disk): `deleted`;
# one that does not exist is `absent` (when the domain does).
set -u
virsh -q -c "$1" snapshot-info "$2" "$3" >/dev/null 2>&1 || { virsh -q -c "$1" domuuid "$2" >/dev/null && { echo absent; exit 0; }; exit 1; }
virsh -q -c "$1" snapshot-delete "$2" "$3" >/dev/null || exit 1
echo deleted

