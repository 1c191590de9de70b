#!/bin/sh
# resize URI NAME VCPUS MEMORY_KIB DISK DISK_BYTES DISK_NOW NS METADATA_XML: gives a shut-off domain new
# vCPUs and memory (its persistent definition) and grows its qcow2 disk DISK to DISK_BYTES, each part only
# when the host's current value differs (a rerun after a crash redoes only what is left), then writes its
# instance metadata (namespace NS). DISK_NOW is DISK's virtual size as the caller read it (disk-info; empty
# when it could not). vCPUs and memory raise the maximum first when growing and lower the current value
# first when shrinking, so neither command ever sees current above maximum. The disk never shrinks
# (qemu-img refuses to without --shrink, so a DISK_NOW read before another run grew it cannot shrink it).
# Prints `vcpus|memory|disk|metadata changed|unchanged` per part.
set -eu
uri=$1 n=$2 vcpus=$3 kib=$4 disk=$5 bytes=$6 size=$7 ns=$8 meta=$9
v() { virsh -q -c "$uri" "$@"; }
st=$(v domstate "$n")
[ "$st" = "shut off" ] || { echo "the domain is $st, not shut off" >&2; exit 1; }
maxv=$(v vcpucount "$n" --config --maximum)
curv=$(v vcpucount "$n" --config --current)
if [ "$maxv" = "$vcpus" ] && [ "$curv" = "$vcpus" ]; then echo "vcpus unchanged"; else
  if [ "$vcpus" -ge "$maxv" ]; then v setvcpus "$n" "$vcpus" --config --maximum; v setvcpus "$n" "$vcpus" --config
  else v setvcpus "$n" "$vcpus" --config; v setvcpus "$n" "$vcpus" --config --maximum; fi
  echo "vcpus changed"
fi
info=$(v dominfo "$n")
maxm=$(printf '%s\n' "$info" | sed -n 's/^Max memory: *\([0-9]*\) KiB$/\1/p')
curm=$(printf '%s\n' "$info" | sed -n 's/^Used memory: *\([0-9]*\) KiB$/\1/p')
if [ "$maxm" = "$kib" ] && [ "$curm" = "$kib" ]; then echo "memory unchanged"; else
  if [ "$kib" -ge "$maxm" ]; then v setmaxmem "$n" "$kib" --config; v setmem "$n" "$kib" --config
  else v setmem "$n" "$kib" --config; v setmaxmem "$n" "$kib" --config; fi
  echo "memory changed"
fi
[ -n "$size" ] || { echo "cannot read the size of $disk" >&2; exit 1; }
if [ "$size" -ge "$bytes" ]; then echo "disk unchanged"; else qemu-img resize -q "$disk" "$bytes"; echo "disk changed"; fi
v metadata "$n" --uri "$ns" --key prov --set "$meta" --config >/dev/null
echo "metadata changed"
