# shellcheck shell=sh
# Shell functions shared by several host scripts, each defined once here; a script pulls them in with a
# `. ./lib.sh` line, which scripts.ts replaces with this file when it loads the script (the host has no
# copy of it). POSIX sh (the scripts run under dash or bash). Functions only: they take their values as
# arguments, set no variables of their own, and run as plain commands, so a failing step stops a `set -e`
# caller. The one-exec create (create-vm) runs the same functions as the per-step scripts (create-disk,
# create-seed, start, ensure-image's linking), so the two cannot drift apart.

# link_cached DIR NAME FILE: points the image cache's by-name/NAME at FILE (atomically: a new link renamed
# over the old one) and, for a `sha256-HEX` file, records HEX in versions/NAME (which versions a name has
# pointed to: the image cache prunes by it).
link_cached() {
  ln -sfn "../$3" "$1/by-name/$2.tmp$$" && mv -Tf "$1/by-name/$2.tmp$$" "$1/by-name/$2"
  case $3 in sha256-*) mkdir -p "$1/versions/$2" && touch "$1/versions/$2/${3#sha256-}" ;; esac
}

# digest FILE: `HEX  FILE`, its SHA-256. OpenSSL's uses the CPU's SHA extensions (about 5x coreutils' sha256sum).
digest() {
  if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1"; else sha256sum "$1"; fi
}

# make_disk DISK FORMAT BASE SIZE: the VM disk as a qcow2 overlay on BASE (of FORMAT), SIZE bytes, 0600
# (the guest's data; libvirt hands it to QEMU's user while it runs), written as DISK.part and renamed into
# place; an existing disk is left as it is.
make_disk() {
  if [ -e "$1" ]; then return 0; fi
  [ -d "${1%/*}/" ] || mkdir -p "${1%/*}/"
  # A failed create (a full file system) leaves no partial file behind.
  qemu-img create -q -f qcow2 -F "$2" -b "$3" "$1.part" "$4" || { rm -f "$1.part"; return 1; }
  chmod 0600 "$1.part"
  mv -f "$1.part" "$1"
}

# make_seed SEED INSTANCE_ID HOSTNAME TMPDIR: the NoCloud seed ISO (volume id `cidata`, user-data from
# stdin, meta-data with the instance id and hostname), 0600, built in TMPDIR (the caller's private
# `mktemp -d`, removed by its trap) and renamed into place. genisoimage directly, as cloud-localds runs it
# (install-server.sh installs it): one process fewer. The directory is made only when missing: a
# command substitution, dirname and mkdir are three processes of some milliseconds each on a busy host.
make_seed() {
  cat >"$4/user-data"
  printf 'instance-id: %s\nlocal-hostname: %s\n' "$2" "$3" >"$4/meta-data"
  [ -d "${1%/*}/" ] || mkdir -p "${1%/*}/"
  genisoimage -quiet -output "$4/seed.iso" -volid cidata -joliet -rock "$4/user-data" "$4/meta-data"
  chmod 0600 "$4/seed.iso"
  # Across file systems mv copies: one that fails (a full disks directory) leaves no partial seed.
  mv -f "$4/seed.iso" "$1" || { rm -f "$1"; return 1; }
}

# prep_console_log LOG: virtlogd (root) appends to a domain's serial console log, keeping the file's owner
# and mode, but creates a missing one root's and 0600. So the automation user makes it first, 0640; one it
# does not own (virtlogd rolled it over) is replaced. Only while the domain is off.
prep_console_log() {
  if [ ! -O "$1" ]; then rm -f "$1"; (umask 027 && : >"$1"); fi
}

# resume_paused URI NAME: resumes a paused domain (`virsh suspend`, or libvirt pausing it on an I/O error or
# a full disk): a paused domain is active, so `virsh start` refuses it ("already active") and its guest
# cannot act on an ACPI shutdown. True when the domain runs after it (resumed here, or by someone else
# meanwhile), false when it could not be resumed.
resume_paused() {
  virsh -q -c "$1" resume "$2" >/dev/null && return 0
  [ "$(virsh -q -c "$1" domstate "$2" 2>/dev/null)" = running ]
}
