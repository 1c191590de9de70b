#!/bin/sh
# snapshots URI BOUNDARY NAME: one domain's snapshots, each one's XML (`@@BOUNDARY SNAPSHOT NAME SNAP`
# sections, then `@@BOUNDARY DONE`) in one virsh batch; only snapshots named as this service names them
# (a-z, 0-9, -: nothing in them splits a batch) are shown.
set -u
uri=$1 b=$2 n=$3
nl='
'
names=$(virsh -q -c "$uri" snapshot-list "$n" --name) || exit 1
cmds=""
for s in $names; do
  case $s in *[!a-z0-9-]* | -*) continue ;; esac
  cmds="$cmds echo '@@$b SNAPSHOT $n $s$nl'; snapshot-dumpxml $n $s;"
done
[ -z "$cmds" ] || virsh -q -c "$uri" "$cmds"
echo "@@$b DONE"

