#!/bin/sh
# disk-info BOUNDARY FILE…: `qemu-img info --output=json` of each FILE it can read, for the caller to parse
# (format, virtual size, backing file). Output: per readable FILE, `@@BOUNDARY INFO I` (I its place among the
# FILEs, from 1) and its JSON; then `@@BOUNDARY DONE`. A missing or unreadable FILE (a running VM's disk
# belongs to QEMU's user) has no section.
set -u
b=$1
shift
i=0
for f in "$@"; do
  i=$((i + 1))
  info=$(qemu-img info -U --output=json "$f" 2>/dev/null) || continue
  printf '@@%s INFO %s\n%s\n' "$b" "$i" "$info"
done
echo "@@$b DONE"
