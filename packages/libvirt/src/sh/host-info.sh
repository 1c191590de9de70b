#!/bin/sh
# host-info URI IMAGES_DIR [DISKS_DIR]: `key=value` lines (hostname, cpus, mem_kib, mem_avail_kib,
# disk_total/disk_free of IMAGES_DIR, disks_total/disks_free of DISKS_DIR, kvm 0|1), then `virsh version`.
# Makes the directories when missing. kvm comes from /etc/provisioner/host.conf when it says, else from
# whether /dev/kvm opens.
echo "hostname=$(hostname)"
echo "cpus=$(getconf _NPROCESSORS_ONLN)"
awk '/^MemTotal:/ {print "mem_kib=" $2} /^MemAvailable:/ {print "mem_avail_kib=" $2}' /proc/meminfo
mkdir -p "$2"
df -P -B1 "$2" | awk 'NR==2 {print "disk_total=" $2; print "disk_free=" $4}'
# The disks directory may be another file system (VM disks grow there; images are downloaded to $2).
if [ -n "${3:-}" ]; then [ -d "$3" ] || mkdir -p "$3"; df -P -B1 "$3" | awk 'NR==2 {print "disks_total=" $2; print "disks_free=" $4}'; fi
kvm=$(sed -n 's/^kvm=//p' /etc/provisioner/host.conf 2>/dev/null)
case "$kvm" in 0|1) ;; *) if ( exec 3<>/dev/kvm ) 2>/dev/null; then kvm=1; else kvm=0; fi ;; esac
echo "kvm=$kvm"
virsh -c "$1" version

