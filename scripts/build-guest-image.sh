#!/usr/bin/env bash
# Builds a small bootable Debian cloud image for the guest-level tests (test/guest/), from Debian's
# package archive through this machine's own apt sources (nothing else is reachable): the cloud kernel,
# systemd, cloud-init (NoCloud), qemu-guest-agent, openssh-server, DHCP on eth0, console on ttyS0, and
# dbus (so systemd-logind turns the ACPI power button of a graceful stop into a shutdown).
#
#   scripts/build-guest-image.sh [OUT.qcow2]
#
# The image is cached under $PROVISIONER_GUEST_CACHE (default /var/cache/provisioner-test) by a hash of
# its inputs (this script and the apt sources file), so a second run is a cache hit. Prints the path of
# the image: OUT.qcow2 (a copy) when given, else the cached file. Needs root, mmdebstrap, extlinux,
# syslinux-common, e2fsprogs, fdisk and qemu-utils (scripts/ensure-deps.sh installs them). About 1-2
# minutes cold on 2 cores; no VM is needed to build it (mkfs.ext4 -d; a loop mount only for extlinux).
# PROVISIONER_GUEST_KEEP=1 keeps the build directory (root file system, raw disk) for a look inside.
set -euo pipefail
export LC_ALL=C.UTF-8

out=${1:-}
sources=${PROVISIONER_GUEST_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[ -f "$sources" ] || sources=/etc/apt/sources.list
cache=${PROVISIONER_GUEST_CACHE:-/var/cache/provisioner-test}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
hash=$(cat "$0" "$sources" <(echo "$suite") | sha256sum | cut -c1-16)
image=$cache/guest-$hash.qcow2

deliver() {
  if [ -n "$out" ]; then
    cp --reflink=auto "$image" "$out.part" && mv -f "$out.part" "$out"
    echo "$out"
  else
    echo "$image"
  fi
}

mkdir -p "$cache"
# One build at a time (parallel test runs share the cache); the second waits and then hits the cache.
exec 9>"$cache/.guest.lock"
flock 9
if [ -s "$image" ]; then
  deliver
  exit 0
fi

log() { echo "build-guest-image: $*" >&2; }
work=$(mktemp -d "$cache/.guest-build.XXXXXX")
mnt=$work/mnt
loop=
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
  [ -n "${PROVISIONER_GUEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

rootfs=$work/rootfs
start=$SECONDS
log "debootstrapping $suite into $rootfs (sources: $sources)"
# --variant=apt: Essential + apt, then only the packages listed (no Recommends): a small, fast image.
# Docs, man pages and translations are left out of the image (dpkg path-exclude).
mmdebstrap --quiet --variant=apt \
  --include=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,kmod,cloud-init,cloud-guest-utils,fdisk,qemu-guest-agent,openssh-server,ifupdown,isc-dhcp-client,sudo,netbase,procps,dbus \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
  --essential-hook='echo MODULES=list > "$1/etc/initramfs-tools/conf.d/guest-modules"' \
  --essential-hook='printf "%s\n" virtio_pci virtio_blk virtio_net virtio_console ext4 crc32c_generic > "$1/usr/share/initramfs-tools/modules.d/guest.conf"' \
  "$suite" "$rootfs" "$sources"

log "configuring the root file system"
kernel=$(cd "$rootfs/boot" && ls vmlinuz-* | sort -V | tail -n 1)
initrd=initrd.img-${kernel#vmlinuz-}
[ -f "$rootfs/boot/$initrd" ] || { log "no $initrd in the root file system"; exit 1; }
# Guard: the small initramfs must carry the virtio disk driver (or the kernel has it built in), or the
# guest never finds its root disk.
if ! grep -q 'virtio_blk' "$rootfs/lib/modules/${kernel#vmlinuz-}/modules.builtin" 2>/dev/null &&
  ! [[ $(chroot "$rootfs" lsinitramfs "/boot/$initrd") == *virtio_blk* ]]; then
  log "the initramfs has no virtio_blk"
  exit 1
fi

mkdir -p "$rootfs/boot/extlinux"
# net.ifnames=0: the first NIC is eth0 whatever its PCI slot. console=ttyS0: the serial console (and
# its getty) is what the host records; tty0 keeps a local screen too.
cat >"$rootfs/boot/extlinux/extlinux.conf" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  LINUX /boot/$kernel
  INITRD /boot/$initrd
  APPEND root=/dev/vda1 ro console=tty0 console=ttyS0,115200n8 net.ifnames=0
EOF
echo '/dev/vda1 / ext4 defaults,discard,errors=remount-ro 0 1' >"$rootfs/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$rootfs/etc/network/interfaces"
printf 'allow-hotplug eth0\niface eth0 inet dhcp\n' >"$rootfs/etc/network/interfaces.d/eth0"
# cloud-init reports `error` when the configured locale does not exist: C.UTF-8 ships with libc.
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"
cat >"$rootfs/etc/cloud/cloud.cfg.d/90-provisioner-test.cfg" <<'EOF'
# Only the service's seed disk (NoCloud); no probing of cloud metadata services that do not exist here.
datasource_list: [NoCloud, None]
locale: C.UTF-8
# One host key type: key generation is slow under software emulation.
ssh_genkeytypes: [ed25519]
# The image brings its own DHCP on eth0 (ifupdown), whatever the seed says.
network: {config: disabled}
EOF
# The agent as early as its port exists: the host polls cloud-init's state through it.
mkdir -p "$rootfs/etc/systemd/system/qemu-guest-agent.service.d"
printf '[Unit]\nDefaultDependencies=no\nBefore=sysinit.target\n' >"$rootfs/etc/systemd/system/qemu-guest-agent.service.d/early.conf"
# Drivers a guest of the service never uses (nested KVM under emulation, IDE, floppy): loading them costs
# seconds of boot under software emulation.
printf 'blacklist %s\n' kvm_intel kvm_amd kvm ata_piix pata_acpi ata_generic floppy pcspkr serio_raw \
  >"$rootfs/etc/modprobe.d/provisioner-test-blacklist.conf"
# Jobs that only cost boot time in a short-lived test guest.
systemctl --root="$rootfs" mask --quiet e2scrub_reap.service e2scrub_all.timer apt-daily.timer \
  apt-daily-upgrade.timer fstrim.timer 2>/dev/null || true
# Each guest makes its own identity: machine id and SSH host keys are not baked into the image.
rm -f "$rootfs"/etc/ssh/ssh_host_*
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log

log "making the disk"
raw=$work/disk.raw
size_mib=1536
offset_mib=1
truncate -s "${size_mib}M" "$raw"
echo "start=${offset_mib}MiB, type=83, bootable" | sfdisk --quiet --label dos "$raw"
# ^64bit: extlinux reads ext4, but not every extlinux knows the 64bit layout; 1.5 GiB does not need it.
mkfs.ext4 -q -F -L root -O ^64bit -d "$rootfs" -E "offset=$((offset_mib << 20))" "$raw" "$(((size_mib - offset_mib) << 10))k"
mkdir -p "$mnt"
loop=$(losetup --find --show --offset $((offset_mib << 20)) --sizelimit $(((size_mib - offset_mib) << 20)) "$raw")
mount "$loop" "$mnt"
extlinux --install "$mnt/boot/extlinux" 2>/dev/null
umount "$mnt"
losetup -d "$loop"
loop=
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || mbr=/usr/lib/EXTLINUX/mbr.bin
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none

qemu-img convert -O qcow2 "$raw" "$work/guest.qcow2"
mv -f "$work/guest.qcow2" "$image"
# Older builds of other inputs are of no further use.
find "$cache" -maxdepth 1 -name 'guest-*.qcow2' ! -name "guest-$hash.qcow2" -delete
log "built $image ($(du -m "$image" | cut -f1) MiB) in $((SECONDS - start)) s"
deliver
