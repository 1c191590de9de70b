#!/bin/sh
# rebuild-swap URI NAME DISK NEW_DISK SEED NEW_SEED DISK_NOW NEW_DISK_NOW NS METADATA_XML: a rebuild's swap,
# on a shut-off domain. Grows NEW_DISK to DISK's virtual size when smaller (a resize may have grown DISK
# beyond the image and type; DISK_NOW and NEW_DISK_NOW are their virtual sizes as the caller read them with
# disk-info, empty when it could not), moves NEW_SEED (when given and still there) over SEED, then renames
# NEW_DISK over DISK. rename(2) is atomic: the domain's disk path names the old disk or the new one, never
# nothing and never half a disk, and the old one is gone only once the new one is in place. The domain's
# definition (UUID, MAC, NIC, tags) is not redefined; its instance metadata (METADATA_XML, namespace NS: the
# new image and this job as `rebuilt-by`) is written last. A rerun after a crash finds NEW_DISK already
# moved and only writes the metadata, whatever the domain's state: the crash may have come after the start
# that follows the swap, and a domain running on its new disk is what the swap was for.
# Prints `swapped` or `already`.
set -eu
uri=$1 n=$2 disk=$3 new=$4 seed=$5 newseed=$6 old=$7 cur=$8 ns=$9 meta=${10}
v() { virsh -q -c "$uri" "$@"; }
out=already
if [ -e "$new" ]; then
  # Only moving disks needs the domain shut off: once they are moved (a rerun after a crash, maybe after the
  # start that follows), the domain may run on its new disk and only the metadata is written (again).
  st=$(v domstate "$n")
  [ "$st" = "shut off" ] || { echo "the domain is $st, not shut off" >&2; exit 1; }
  if [ -e "$disk" ]; then
    if [ -z "$old" ] || [ -z "$cur" ]; then echo "cannot read the sizes of $disk and $new" >&2; exit 1; fi
    [ "$old" -le "$cur" ] || qemu-img resize -q "$new" "$old"
  fi
  if [ -n "$newseed" ] && [ -e "$newseed" ]; then mv -f "$newseed" "$seed"; fi
  mv -f "$new" "$disk"
  out=swapped
fi
v metadata "$n" --uri "$ns" --key prov --set "$meta" --config >/dev/null
echo "$out"
