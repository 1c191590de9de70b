#!/bin/sh
# rebuild-clean DISKS_DIR NAME KEEP_JOB: removes what earlier rebuilds of the VM left in DISKS_DIR when
# killed outright (SIGKILL, a lost worker: nothing ran their cleanup): new disks (`NAME.rebuild-JOB.qcow2`,
# and `.part` of one being made) and seeds (`NAME-seed.rebuild-JOB.iso`) of any job but KEEP_JOB, the running
# one, whose files a retry reuses. Names are DNS labels, so `NAME.` and `NAME-seed.` match no other VM's
# files. Prints each name removed.
set -eu
d=$1 n=$2 keep=$3
for f in "$d/$n".rebuild-*.qcow2 "$d/$n".rebuild-*.qcow2.part "$d/$n"-seed.rebuild-*.iso; do
  [ -f "$f" ] || continue
  case ${f##*/} in "$n.rebuild-$keep.qcow2" | "$n.rebuild-$keep.qcow2.part" | "$n-seed.rebuild-$keep.iso") continue ;; esac
  rm -f -- "$f"
  printf '%s
' "${f##*/}"
done

