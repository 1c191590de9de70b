/**
 * Argv builders: pure functions from typed, validated values to argv arrays. Multi-step host work is a
 * constant script run as `sh -c SCRIPT name ARG…`: user values reach it only as positional arguments
 * ("$1", "$2"), never pasted into the script text.
 */
import { InvalidArgumentError } from './errors.ts';
import { assertHttpUrl, assertImageName, assertPositiveInt, assertSha256, assertVmName } from './names.ts';

/**
 * The name of every command built here, as the SSH client's commandName reports it: each script's name (its
 * `$0`) and the programs run directly. The worker labels its SSH metric by these (anything else is `other`),
 * so a new script's name is added here, where the compiler checks every `sh(name, …)` against the list.
 */
export const COMMAND_NAMES = [
  'probe',
  'host-info',
  'list-domains',
  'ensure-image',
  'image-cache',
  'create-vm',
  'create-disk',
  'create-seed',
  'define',
  'start',
  'shutdown',
  'power-off',
  'undefine',
  'resize',
  'snapshots',
  'snapshot-create',
  'snapshot-revert',
  'snapshot-delete',
  'set-tags',
  'guest-status',
  'console-tail',
  'rebuild-swap',
  'rebuild-snapshots',
  'rebuild-clean',
  'remove-old-files',
  'virsh',
  'qemu-img',
  'rm',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

const sh = (name: CommandName, script: string, ...args: string[]): string[] => ['sh', '-c', script, name, ...args];

function assertAbsPath(p: string): void {
  if (!p.startsWith('/') || p.includes('\0') || p.split('/').includes('..')) throw new InvalidArgumentError('path must be absolute and normalised');
}

function assertUri(uri: string): void {
  if (!/^[a-z+]+:\/\/[A-Za-z0-9._:@/-]*(\?[A-Za-z0-9=&._/-]*)?$/.test(uri)) throw new InvalidArgumentError('invalid libvirt URI');
}

/**
 * Does nothing: whether the host answers and presents its pinned key (the worker's check at start-up). A
 * named script rather than a bare `true`, so the SSH metric labels it `probe`, not `other`.
 */
export function probeArgv(): string[] {
  return sh('probe', ':');
}

const HOST_INFO = `echo "hostname=$(hostname)"
echo "cpus=$(getconf _NPROCESSORS_ONLN)"
awk '/^MemTotal:/ {print "mem_kib=" $2} /^MemAvailable:/ {print "mem_avail_kib=" $2}' /proc/meminfo
mkdir -p "$2"
df -P -B1 "$2" | awk 'NR==2 {print "disk_total=" $2; print "disk_free=" $4}'
# The disks directory may be another file system (VM disks grow there; images are downloaded to $2).
if [ -n "\${3:-}" ]; then [ -d "$3" ] || mkdir -p "$3"; df -P -B1 "$3" | awk 'NR==2 {print "disks_total=" $2; print "disks_free=" $4}'; fi
kvm=$(sed -n 's/^kvm=//p' /etc/provisioner/host.conf 2>/dev/null)
case "$kvm" in 0|1) ;; *) if ( exec 3<>/dev/kvm ) 2>/dev/null; then kvm=1; else kvm=0; fi ;; esac
echo "kvm=$kvm"
virsh -c "$1" version`;

export function hostInfoArgv(uri: string, imagesDir: string, disksDir?: string): string[] {
  assertUri(uri);
  assertAbsPath(imagesDir);
  if (disksDir === undefined) return sh('host-info', HOST_INFO, uri, imagesDir);
  assertAbsPath(disksDir);
  return sh('host-info', HOST_INFO, uri, imagesDir, disksDir);
}

/**
 * The guest part shared by GUEST_STATUS and LIST (their callers set uri, b = boundary, t = agent timeout):
 * `guest FLAG NAME` asks about one VM in the background, into a file of its own; `guests_out` waits for
 * them all and prints their sections in order. See GUEST_STATUS for what is asked and how it is framed.
 */
const GUEST_FNS = `tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sec() { s=$1; shift; out=$("$@" 2>&1); rc=$?; printf '@@%s %s %s\\n%s\\n' "$b" "$s" "$rc" "$out"; return $rc; }
qa() { virsh -q -c "$uri" qemu-agent-command --timeout "$t" "$n" "$1"; }
readf() {
  sec "$1-OPEN" qa "{\\"execute\\":\\"guest-file-open\\",\\"arguments\\":{\\"path\\":\\"$2\\",\\"mode\\":\\"r\\"}}" || return 1
  h=$(printf '%s' "$out" | sed -n 's/^{"return":\\([0-9]\\{1,19\\}\\)}$/\\1/p')
  [ -n "$h" ] || return 0
  sec "$1" qa "{\\"execute\\":\\"guest-file-read\\",\\"arguments\\":{\\"handle\\":$h,\\"count\\":65536}}"
  qa "{\\"execute\\":\\"guest-file-close\\",\\"arguments\\":{\\"handle\\":$h}}" >/dev/null 2>&1
  return 0
}
gi=0
guest() {
  f=$1 n=$2
  # At most 8 VMs asked at once (each is a few virsh processes): a host with hundreds of running VMs must
  # not get hundreds of processes from one listing. Batches of 8: a silent guest delays only its batch.
  if [ "$gi" -gt 0 ] && [ $((gi % 8)) -eq 0 ]; then wait; fi
  gi=$((gi + 1))
  (
    printf '@@%s VM %s\\n' "$b" "$n"
    sec STATE virsh -q -c "$uri" domstate "$n" || exit 0
    [ "$out" = running ] || exit 0
    sec LEASE virsh -q -c "$uri" domifaddr "$n" --source lease
    sec ARP virsh -q -c "$uri" domifaddr "$n" --source arp
    [ "$f" = 1 ] || exit 0
    sec PING qa '{"execute":"guest-ping"}' || exit 0
    sec IFACES qa '{"execute":"guest-network-get-interfaces"}'
    readf RESULT /run/cloud-init/result.json || readf STATUS /run/cloud-init/status.json
  ) >"$tmp/$gi" 2>&1 &
}
guests_out() { wait; j=0; while [ "$j" -lt "$gi" ]; do j=$((j + 1)); cat "$tmp/$j"; done; }`;

/**
 * Lists every domain with its XML and state, and libvirt's DHCP leases, in ONE exec and one virsh
 * process given all its commands as one `;`-separated batch (the replaced service ran `virsh desc` once
 * per domain). UUIDs are the only values in the batch: they come from libvirt, never from users.
 * Every section starts with a marker line `@@BOUNDARY NAME`, BOUNDARY being random per run ($2): a
 * domain's XML holds text of anyone's choosing (tags, a hand-made description, a guest's DHCP hostname in
 * the lease files), and no such text can know the boundary. virsh's `echo` adds no newline, so each
 * marker carries its own (dumpxml and domstate end theirs with one): markers always start a line.
 * Each domain's snapshot names follow (SNAPSHOTS); only for domains that have any, a second virsh batch
 * prints each snapshot's XML (`SNAPSHOT UUID NAME`), so a host without snapshots pays nothing more.
 */
const LIST = `set -u
uri=$1 b=$2 d=\${3:-} t=\${4:-0}
[ "$#" -ge 4 ] && shift 4
nl='
'
for f in /var/lib/libvirt/dnsmasq/*.status; do [ -r "$f" ] && { echo "@@$b LEASEFILE"; cat "$f"; echo; }; done
# The files of the disks directory (mtime in epoch seconds, size, name): what drift compares domains with.
if [ -n "$d" ] && [ -d "$d" ]; then echo "@@$b FILES"; find "$d" -maxdepth 1 -type f -printf '%T@ %s %f\\n'; fi
echo "@@$b DOMAINS"
all=$(virsh -q -c "$uri" list --all --uuid) || exit 1
if [ -n "$all" ]; then
  # One virsh per 200 domains: a single argument may not exceed 128 KiB (Linux's MAX_ARG_STRLEN), which
  # one batch of every domain does from about 800 domains on (virsh could not even start).
  # Each batch ends with a bare echo (prints nothing), so virsh's status is 0 when it ran the batch, even
  # if a domain vanished meanwhile (that command fails, the next ones run), and 1 when it could not run it
  # (no connection to libvirtd): then the listing fails instead of returning the domains of the other batches.
  out="" cmds="" n=0
  for u in $all; do
    cmds="$cmds echo '@@$b DOMAIN $u$nl'; dumpxml $u; echo '@@$b STATE$nl'; domstate $u; echo '@@$b SNAPSHOTS$nl'; snapshot-list $u --name;"
    n=$((n + 1))
    if [ "$n" -ge 200 ]; then o=$(virsh -q -c "$uri" "$cmds echo") || exit 1; out="$out$o$nl" cmds="" n=0; fi
  done
  if [ -n "$cmds" ]; then o=$(virsh -q -c "$uri" "$cmds echo") || exit 1; out="$out$o"; fi
  printf '%s\\n' "$out"
  # Only domains that have snapshots cost more: more batches dump those (named as this service names
  # them: a-z, 0-9, -), each in its own section; 200 snapshots per virsh, as for domains (awk writes each
  # batch to a file of its own).
  sd=$(mktemp -d) || exit 1
  trap 'rm -rf "$sd"' EXIT
  printf '%s\\n' "$out" | awk -v m="@@$b" -v q="'" -v d="$sd" '
    index($0, m " ") == 1 { h = substr($0, length(m) + 2); if (h ~ /^DOMAIN [0-9a-f-]+$/) u = substr(h, 8); s = (h == "SNAPSHOTS"); next }
    s && u != "" && /^[a-z0-9][a-z0-9-]*$/ && length($0) <= 63 {
      f = d "/" sprintf("%06d", int(k++ / 200)); if (f != lf) { if (lf != "") close(lf); lf = f }
      printf " echo %s%s SNAPSHOT %s %s\\n%s; snapshot-dumpxml %s %s;", q, m, u, $0, q, u, $0 > f
    }' || exit 1
  for f in "$sd"/*; do
    [ -f "$f" ] || continue
    virsh -q -c "$uri" "$(cat "$f") echo" || exit 1
  done
  rm -rf "$sd"
fi
if [ "$t" != 0 ]; then
  ${GUEST_FNS}
  set -f
  skip=" $* "
  for n in $(virsh -q -c "$uri" list --name); do
    case $n in *[!a-z0-9-]* | -*) continue ;; esac
    case $skip in *" $n "*) continue ;; esac
    guest 1 "$n"
  done
  guests_out
fi
echo "@@$b DONE"`;

/**
 * With `guests`, the listing also asks every running domain that is not in `skipAgent` (VMs already known
 * ready) about its guest (GUEST_STATUS's sections, after the domains), each agent call within
 * `agentTimeoutS`: the inventory learns addresses and readiness in the same exec. Only domains named as
 * this service names VMs (DNS labels) are asked.
 */
export function listDomainsArgv(uri: string, boundary: string, guests?: { skipAgent: readonly string[]; agentTimeoutS: number }, disksDir?: string): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the listing boundary must be 32-64 hex digits');
  if (disksDir !== undefined) assertAbsPath(disksDir);
  // With `disksDir`, a FILES section lists its files (name, size, mtime) in the same exec.
  if (!guests) return sh('list-domains', LIST, uri, boundary, disksDir ?? '', '0');
  assertPositiveInt(guests.agentTimeoutS, 'agent timeout', 60);
  for (const n of guests.skipAgent) assertVmName(n);
  return sh('list-domains', LIST, uri, boundary, disksDir ?? '', String(guests.agentTimeoutS), ...guests.skipAgent);
}

/**
 * `vm-lock FILE WAIT_S ARGV…`: runs ARGV (exec, same process, same process group) holding an exclusive
 * flock on FILE, the VM's own lock file on the host. Two runs of one step on one VM (a job a stalled worker
 * still runs while another worker took it over) can then never overlap: the second waits until the first
 * is done or killed (its process group dies, and the lock with it), for at most WAIT_S seconds, then exits
 * 75 (`vm-locked` on stderr). FILE is removed by the VM's undefine while it holds the lock; a waiter that
 * then gets the lock of the removed file sees that FILE is another file now, and locks that one instead.
 */
const VM_LOCK = `set -u
f=$1 w=$2
shift 2
[ -d "\${f%/*}/" ] || mkdir -p "\${f%/*}/"
while :; do
  exec 8>>"$f"
  flock -w "$w" 8 || { echo "vm-locked: another run holds the VM's lock $f" >&2; exit 75; }
  # -ef is not POSIX, but dash and bash (the scripts' shells) both have it: no stat processes per command.
  # shellcheck disable=SC3013
  [ "$f" -ef /dev/fd/8 ] && break
done
exec "$@"`;

/** Exit status of VM_LOCK when the VM's lock stayed taken for its whole wait. */
export const VM_LOCKED_EXIT = 75;

/** Wraps `argv` so that it runs holding the VM's lock file `lockFile` (VM_LOCK), waiting at most `waitMs` for it. */
export function vmLockedArgv(lockFile: string, waitMs: number, argv: readonly string[]): string[] {
  assertAbsPath(lockFile);
  assertPositiveInt(waitMs, 'lock wait', 86_400_000);
  if (argv.length === 0) throw new InvalidArgumentError('nothing to run under the VM lock');
  return ['sh', '-c', VM_LOCK, 'vm-lock', lockFile, (waitMs / 1000).toFixed(3), ...argv];
}

export function domainStateArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return ['virsh', '-q', '-c', uri, 'domstate', name];
}

export function dumpXmlArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return ['virsh', '-q', '-c', uri, 'dumpxml', name];
}

/*
 * Shell functions shared by several scripts, each defined once here and interpolated into the scripts
 * that use it (as GUEST_FNS is): the one-exec create (CREATE_VM) does what the per-step scripts do
 * (CREATE_DISK, CREATE_SEED, START, ENSURE_IMAGE's linking), which rebuild, resize, start and reboot still
 * run, and the two must not drift apart. POSIX sh (the scripts run under dash or bash); they take their
 * values as arguments, set no variables of their own (the callers' names stay theirs), and run as plain
 * commands, so a failing step stops a `set -e` caller as it did written out.
 */

/**
 * `link_cached DIR NAME FILE`: points the image cache's by-name/NAME at FILE (atomically: a new link
 * renamed over the old one) and, for a `sha256-HEX` file, records HEX in versions/NAME (which versions a
 * name has pointed to: the image cache prunes by it).
 */
const LINK_CACHED = `link_cached() {
  ln -sfn "../$3" "$1/by-name/$2.tmp$$" && mv -Tf "$1/by-name/$2.tmp$$" "$1/by-name/$2"
  case $3 in sha256-*) mkdir -p "$1/versions/$2" && touch "$1/versions/$2/\${3#sha256-}" ;; esac
}`;

/**
 * `make_disk DISK FORMAT BASE SIZE`: the VM disk as a qcow2 overlay on BASE (of FORMAT), SIZE bytes, 0600
 * (the guest's data; libvirt hands it to QEMU's user while it runs), written as DISK.part and renamed into
 * place; an existing disk is left as it is.
 */
const MAKE_DISK = `make_disk() {
  if [ -e "$1" ]; then return 0; fi
  [ -d "\${1%/*}/" ] || mkdir -p "\${1%/*}/"
  # A failed create (a full file system) leaves no partial file behind.
  qemu-img create -q -f qcow2 -F "$2" -b "$3" "$1.part" "$4" || { rm -f "$1.part"; return 1; }
  chmod 0600 "$1.part"
  mv -f "$1.part" "$1"
}`;

/**
 * `make_seed SEED INSTANCE_ID HOSTNAME TMPDIR`: the NoCloud seed ISO (volume id `cidata`, user-data from
 * stdin, meta-data with the instance id and hostname), 0600, built in TMPDIR (the caller's private
 * `mktemp -d`, removed by its trap) and renamed into place. genisoimage directly, as cloud-localds runs it
 * (install-server.sh installs it): one process fewer. The directory is made only when missing: a
 * command substitution, dirname and mkdir are three processes of some milliseconds each on a busy host.
 */
const MAKE_SEED = `make_seed() {
  cat >"$4/user-data"
  printf 'instance-id: %s\\nlocal-hostname: %s\\n' "$2" "$3" >"$4/meta-data"
  [ -d "\${1%/*}/" ] || mkdir -p "\${1%/*}/"
  genisoimage -quiet -output "$4/seed.iso" -volid cidata -joliet -rock "$4/user-data" "$4/meta-data"
  chmod 0600 "$4/seed.iso"
  # Across file systems mv copies: one that fails (a full disks directory) leaves no partial seed.
  mv -f "$4/seed.iso" "$1" || { rm -f "$1"; return 1; }
}`;

/**
 * `prep_console_log LOG`: virtlogd (root) appends to a domain's serial console log, keeping the file's
 * owner and mode, but creates a missing one root's and 0600. So the automation user makes it first,
 * 0640; one it does not own (virtlogd rolled it over) is replaced. Only while the domain is off.
 */
const PREP_CONSOLE_LOG = `prep_console_log() {
  if [ ! -O "$1" ]; then rm -f "$1"; (umask 027 && : >"$1"); fi
}`;

/**
 * `resume_paused URI NAME`: resumes a paused domain (`virsh suspend`, or libvirt pausing it on an I/O error
 * or a full disk): a paused domain is active, so `virsh start` refuses it ("already active") and its guest
 * cannot act on an ACPI shutdown. True when the domain runs after it (resumed here, or by someone else
 * meanwhile), false when it could not be resumed.
 */
const RESUME_PAUSED = `resume_paused() {
  virsh -q -c "$1" resume "$2" >/dev/null && return 0
  [ "$(virsh -q -c "$1" domstate "$2" 2>/dev/null)" = running ]
}`;

/**
 * Caches an image, downloaded to a temporary name with curl writing the file itself (no pipe: on a
 * busy host a pipeline through tee and a hasher competes with curl for the CPU and made the download
 * 1.6x slower at loopback speed). With a catalog checksum (`want`) the file is hashed right after and
 * used only if it matches, under its content hash `sha256-HEX`; so is one without, unless `$6` (later) is 1
 * (a create waiting for it): then it is usable once complete, as `dl-XXXXXX` (by-name/NAME points there),
 * and is hashed off the critical path by this same script run again detached (`$7` = hash, `$8` = the file): it hard-links the file as `sha256-HEX`
 * (same inode: disks backed by `dl-XXXXXX` stay valid), records the hash in `dl-XXXXXX.sha256` and
 * repoints by-name/NAME, unless another version replaced it meanwhile. A lock per image name makes
 * concurrent callers on one host download it once. Output: `cached|downloaded FILE SIZE`, FILE being
 * `sha256-HEX` or `dl-XXXXXX`. Exit 3: checksum mismatch; exit 4: curl failed (`curl-exit=N` on stderr);
 * exit 5: no room left on the images' file system (`disk-full:` on stderr).
 * The temporary file (`.download-NAME.XXXXXX`) is removed on every way out, a failure, a cancel or a
 * timeout (TERM) included; one left by a download killed outright is removed by the next run for the
 * name (here or IMAGE_CACHE), under its lock.
 */
const ENSURE_IMAGE = `set -eu
dir=$1 name=$2 url=$3 want=$4 refresh=$5 later=\${6:-0}
mkdir -p "$dir/by-name"
link="$dir/by-name/$name"
# OpenSSL's SHA-256 uses the CPU's SHA extensions (about 5x coreutils' sha256sum).
if command -v openssl >/dev/null 2>&1; then digest() { openssl dgst -sha256 -r "$1"; }; else digest() { sha256sum "$1"; }; fi
${LINK_CACHED}
point() { link_cached "$dir" "$name" "$1"; }
hash_later() { setsid bash -c "$BASH_EXECUTION_STRING" ensure-image "$dir" "$name" "" "" 0 0 hash "$1" </dev/null >/dev/null 2>&1 9>&- & }
if [ "\${7:-}" = hash ]; then
  f=$8
  exec 8>"$dir/.hash-$f"
  flock -n 8 || exit 0
  trap 'rm -f "$dir/.hash-$f"' EXIT
  [ -f "$dir/$f.sha256" ] && exit 0
  got=$(digest "$dir/$f" | cut -d' ' -f1)
  exec 9>"$dir/.lock-$name"
  flock 9
  [ -f "$dir/$f" ] || exit 0
  [ -f "$dir/sha256-$got" ] || ln "$dir/$f" "$dir/sha256-$got"
  echo "$got" >"$dir/$f.sha256.tmp" && mv -f "$dir/$f.sha256.tmp" "$dir/$f.sha256"
  if [ "$(readlink "$link" 2>/dev/null)" = "../$f" ]; then point "sha256-$got"; else mkdir -p "$dir/versions/$name" && touch "$dir/versions/$name/$got"; fi
  exit 0
fi
exec 9>"$dir/.lock-$name"
flock 9
report() { echo "$1 $2 $(stat -c %s "$dir/$2")"; }
if [ -n "$want" ] && [ -f "$dir/sha256-$want" ]; then point "sha256-$want"; report cached "sha256-$want"; exit 0; fi
if [ -z "$want" ] && [ "$refresh" = 0 ] && [ -f "$link" ]; then
  t=$(readlink "$link"); f=\${t#../}
  # A file still waiting for its hash (its hasher died with the host): hashed now, in the background.
  case $f in dl-*) [ -f "$dir/$f.sha256" ] || hash_later "$f" ;; esac
  report cached "$f"; exit 0
fi
# The temporary file is named after the image: only this lock's holder writes one, so any other found now
# was left by a download killed outright (SIGKILL, a host crash) and goes. Every other way out removes its own.
rm -f "$dir/.download-$name."??????
tmp=
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
trap 'exit 143' TERM INT HUP
tmp=$(mktemp "$dir/.download-$name.XXXXXX")
set +e
curl --fail --location --proto =http,https --proto-redir =http,https --connect-timeout 20 --progress-bar -o "$tmp" "$url"
rc=$?
set -e
# curl 23: it could not write the file, on a host a full file system (or quota): exit 5, no retry can help.
if [ "$rc" = 23 ]; then echo "disk-full: no room for the image in $dir ($(df -P -B1 "$dir" | awk 'NR==2 {print $4}') bytes free)" >&2; exit 5; fi
if [ "$rc" != 0 ]; then echo "curl-exit=$rc" >&2; exit 4; fi
chmod 0444 "$tmp"
if [ -n "$want" ] || [ "$later" != 1 ]; then
  got=$(digest "$tmp" | cut -d' ' -f1)
  if [ -n "$want" ] && [ "$got" != "$want" ]; then echo "checksum mismatch: got $got" >&2; exit 3; fi
  if [ -f "$dir/sha256-$got" ]; then rm -f "$tmp"; else mv -f "$tmp" "$dir/sha256-$got"; fi
  point "sha256-$got"
  report downloaded "sha256-$got"
  exit 0
fi
f="dl-\${tmp##*.}"
mv -f "$tmp" "$dir/$f"
tmp=
point "$f"
hash_later "$f"
report downloaded "$f"`;

/**
 * Maintains the image cache for the named catalog images (each under the same lock as ensure-image):
 * with verify=1 re-hashes each image's current version and removes it (and its link) when the content no
 * longer matches its name; with prune=1 removes each image's old versions that no VM disk in the disks
 * directory uses and no other name points to, beyond the `keep` newest and older than `grace` minutes.
 * Which versions are in use comes from every domain's XML (a running domain's lists its disks' backing
 * chain) and from `qemu-img info` of each disk. A running VM's disk belongs to QEMU's user (libvirt hands
 * it over) and is 0600, so the automation user cannot read it: it counts as known only when a running
 * domain's XML has it (a source with an `index`, which libvirt gives only live disks with their probed
 * chain). Any other disk it cannot read, or domains it cannot list, and nothing is pruned this run: an
 * unreadable disk's base would otherwise look unused.
 * Prints `image NAME HEX|- SIZE ok|corrupt|-` per name, `pruned NAME HEX` per removed version and
 * `prune-skipped WHY` per reason nothing was pruned.
 */
const IMAGE_CACHE = `set -u
dir=$1 disks=$2 keep=$3 verify=$4 prune=$5 grace=$6 uri=$7
shift 7
mkdir -p "$dir/by-name" "$dir/versions"
${LINK_CACHED}
if command -v openssl >/dev/null 2>&1; then digest() { openssl dgst -sha256 -r "$1"; }; else digest() { sha256sum "$1"; }; fi
# The versions named in a text (domain XML, qemu-img info): sha256-HEX files, and dl- files by their recorded hash.
hexes() {
  t=$(cat)
  printf '%s\\n' "$t" | grep -o 'sha256-[0-9a-f]\\{64\\}' | sed 's/^sha256-//' | tr '\\n' ' '
  for x in $(printf '%s\\n' "$t" | grep -o 'dl-[A-Za-z0-9]\\{6\\}' | sort -u); do [ ! -f "$dir/$x.sha256" ] || printf '%s ' "$(cat "$dir/$x.sha256")"; done
}
used=" "
if [ "$prune" = 1 ]; then
  xml=
  if all=$(virsh -q -c "$uri" list --all --uuid); then
    cmds=""
    for u in $all; do cmds="$cmds dumpxml $u;"; done
    # A domain undefined meanwhile only lacks its XML here: it no longer runs, so its disk (if any is
    # left) is the automation user's again and read below.
    [ -z "$cmds" ] || xml=$(virsh -q -c "$uri" "$cmds" 2>/dev/null)
  else
    echo "prune-skipped the domains could not be listed"
    prune=0
  fi
  used="$used$(printf '%s\\n' "$xml" | hexes)"
  for d in "$disks"/*.qcow2; do
    [ -f "$d" ] || continue
    if info=$(qemu-img info -U --output=json "$d" 2>/dev/null); then
      used="$used$(printf '%s\\n' "$info" | hexes)"
    elif ! printf '%s\\n' "$xml" | grep -qF "<source file='$d' index="; then
      echo "prune-skipped unreadable disk $d"
      prune=0
    fi
  done
fi
for name in "$@"; do
  exec 9>"$dir/.lock-$name"
  flock 9
  # A download's temporary file seen under the lock was left by one killed outright (ENSURE_IMAGE).
  rm -f "$dir/.download-$name."??????
  link="$dir/by-name/$name"
  cur=
  if [ -L "$link" ]; then t=$(readlink "$link"); cur=\${t#../}; fi
  case $cur in
    sha256-*) cur=\${cur#sha256-} ;;
    dl-*)
      # Downloaded without a catalog checksum and not hashed yet (ENSURE_IMAGE hashes it in the background):
      # hashed now, hard-linked under its hash, and the name pointed there.
      if [ -f "$dir/$cur" ]; then
        got=$(digest "$dir/$cur" | cut -d' ' -f1)
        [ -f "$dir/sha256-$got" ] || ln "$dir/$cur" "$dir/sha256-$got"
        echo "$got" >"$dir/$cur.sha256.tmp" && mv -f "$dir/$cur.sha256.tmp" "$dir/$cur.sha256"
        link_cached "$dir" "$name" "sha256-$got"
        cur=$got
      else cur=x; fi ;;
  esac
  if [ -n "$cur" ] && [ ! -f "$dir/sha256-$cur" ]; then rm -f "$link"; cur=; fi
  verified=-
  if [ -n "$cur" ] && [ "$verify" = 1 ]; then
    got=$(digest "$dir/sha256-$cur" | cut -d' ' -f1)
    if [ "$got" = "$cur" ]; then verified=ok; else verified=corrupt; rm -f "$dir/sha256-$cur" "$link"; cur=; fi
  fi
  if [ "$prune" = 1 ] && [ -d "$dir/versions/$name" ]; then
    n=0
    for v in $(ls -t "$dir/versions/$name"); do
      [ "$v" = "$cur" ] && continue
      if [ ! -f "$dir/sha256-$v" ]; then rm -f "$dir/versions/$name/$v"; continue; fi
      case $used in *" $v "*) continue ;; esac
      n=$((n + 1))
      [ "$n" -le "$keep" ] && continue
      [ -n "$(find "$dir/by-name" -maxdepth 1 -lname "../sha256-$v")" ] && continue
      [ -n "$(find "$dir/versions/$name/$v" -mmin "-$grace")" ] && continue
      rm -f "$dir/sha256-$v" "$dir/versions/$name/$v"
      # Its other names (downloads without a checksum, hashed since): no disk uses them either (hexes).
      for m in "$dir"/dl-*.sha256; do if [ -f "$m" ] && [ "$(cat "$m")" = "$v" ]; then rm -f "\${m%.sha256}" "$m"; fi; done
      echo "pruned $name $v"
    done
  fi
  if [ -n "$cur" ]; then echo "image $name $cur $(stat -c %s "$dir/sha256-$cur") $verified"; else echo "image $name - 0 $verified"; fi
  exec 9>&-
done`;

export function imageCacheArgv(
  imagesDir: string,
  disksDir: string,
  names: readonly string[],
  o: { keep: number; verify: boolean; prune: boolean; graceMinutes: number },
  uri = 'qemu:///system',
): string[] {
  assertUri(uri);
  assertAbsPath(imagesDir);
  assertAbsPath(disksDir);
  for (const n of names) assertImageName(n);
  if (!Number.isInteger(o.keep) || o.keep < 0) throw new InvalidArgumentError('invalid number of versions to keep');
  if (!Number.isInteger(o.graceMinutes) || o.graceMinutes < 0) throw new InvalidArgumentError('invalid grace period');
  return [
    'bash',
    '-c',
    IMAGE_CACHE,
    'image-cache' satisfies CommandName,
    imagesDir,
    disksDir,
    String(o.keep),
    o.verify ? '1' : '0',
    o.prune ? '1' : '0',
    String(o.graceMinutes),
    uri,
    ...names,
  ];
}

export interface ImageRef {
  name: string;
  url: string;
  sha256?: string | undefined;
}

/** With `hashLater` an image without a catalog checksum is usable before its hash is known (ENSURE_IMAGE). */
export function ensureImageArgv(imagesDir: string, image: ImageRef, refresh = false, hashLater = false): string[] {
  assertAbsPath(imagesDir);
  assertImageName(image.name);
  assertHttpUrl(image.url);
  if (image.sha256) assertSha256(image.sha256);
  return [
    'bash',
    '-c',
    ENSURE_IMAGE,
    'ensure-image' satisfies CommandName,
    imagesDir,
    image.name,
    image.url,
    image.sha256 ?? '',
    refresh ? '1' : '0',
    hashLater ? '1' : '0',
  ];
}

export function qemuImgInfoArgv(path: string): string[] {
  assertAbsPath(path);
  return ['qemu-img', 'info', '--output=json', '-U', path];
}

/** Creates the VM disk (make_disk): prints `created`, or `exists` for a disk left as it is. */
const CREATE_DISK = `set -eu
${MAKE_DISK}
if [ -e "$1" ]; then echo exists; exit 0; fi
make_disk "$1" "$2" "$3" "$4"
echo created`;

export function createDiskArgv(diskPath: string, baseFormat: string, basePath: string, sizeBytes: number): string[] {
  assertAbsPath(diskPath);
  assertAbsPath(basePath);
  if (!/^[a-z0-9]+$/.test(baseFormat)) throw new InvalidArgumentError('invalid image format');
  assertPositiveInt(sizeBytes, 'disk size');
  return sh('create-disk', CREATE_DISK, diskPath, baseFormat, basePath, String(sizeBytes));
}

/** Builds the NoCloud seed ISO (make_seed), 0600. User-data arrives on stdin (it may hold secrets: never in argv or a readable file). */
const CREATE_SEED = `set -eu
${MAKE_SEED}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_seed "$1" "$2" "$3" "$tmp"`;

export function createSeedArgv(seedPath: string, instanceId: string, hostname: string): string[] {
  assertAbsPath(seedPath);
  assertVmName(hostname);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(instanceId)) throw new InvalidArgumentError('invalid instance id');
  return sh('create-seed', CREATE_SEED, seedPath, instanceId, hostname);
}

/** Defines a domain from XML on stdin unless one of that name exists; then prints its XML instead. */
const DEFINE = `set -eu
if virsh -q -c "$1" domuuid "$2" >/dev/null 2>&1; then echo "@@EXISTS"; virsh -q -c "$1" dumpxml "$2"; exit 0; fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
virsh -q -c "$1" define "$tmp" >/dev/null
echo "@@DEFINED"`;

export function defineArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('define', DEFINE, uri, name);
}

/**
 * A create's host work in ONE exec: the steps fetch-image (the cached image only: a missing one is
 * `NEED-IMAGE` and nothing is made), create-disk, create-seed, define and start, then the domain as it now
 * is. Each step is framed by `@@BOUNDARY BEGIN STEP` and `@@BOUNDARY END STEP` lines as it happens, so the
 * caller reports real steps from one program. First, unless `$12` (mine) is 1, a domain of the VM's name is
 * looked for: when there is one, its XML follows `@@BOUNDARY EXISTS` and nothing else is done (the caller
 * tells whether it is its own, from an earlier attempt, and runs again with mine=1; then define and start
 * skip what exists). Every step is idempotent as its one-exec form is (CREATE_DISK, CREATE_SEED, DEFINE,
 * START), whose shell functions it runs (make_disk, make_seed, prep_console_log; link_cached as ENSURE_IMAGE). The base image's format and virtual size come from the caller when it knows them for the
 * version found (`$10`: `FILE FORMAT BYTES`, FILE as ENSURE_IMAGE names it), else from `qemu-img info` (then
 * `@@BOUNDARY BASE FILE FORMAT BYTES` tells the caller). User-data arrives on stdin (it may hold secrets); the domain XML is `$13`.
 * After fetch-image comes `@@BOUNDARY IMAGE FILE SIZE`; at the end `@@BOUNDARY DOMAIN`, the domain's XML and
 * its state (the last line).
 */
const CREATE_VM = `set -eu
${LINK_CACHED}
${MAKE_DISK}
${MAKE_SEED}
${PREP_CONSOLE_LOG}
${RESUME_PAUSED}
uri=$1 n=$2 dir=$3 iname=$4 want=$5 disk=$6 bytes=$7 seed=$8 id=$9 known=\${10} log=\${11} mine=\${12} xml=\${13} b=\${14}
v() { virsh -q -c "$uri" "$@"; }
say() { printf '@@%s %s\\n' "$b" "$*"; }
if [ "$mine" != 1 ] && x=$(v dumpxml "$n" 2>/dev/null); then say EXISTS; printf '%s\\n' "$x"; exit 0; fi
say BEGIN fetch-image
[ -d "$dir/by-name" ] || mkdir -p "$dir/by-name"
exec 9>"$dir/.lock-$iname"
flock 9
link="$dir/by-name/$iname"
file=
if [ -n "$want" ]; then
  if [ -f "$dir/sha256-$want" ]; then
    file=sha256-$want
    link_cached "$dir" "$iname" "$file"
  fi
elif [ -L "$link" ]; then
  # sha256-HEX, or dl-XXXXXX: downloaded without a catalog checksum, its hash maybe not known yet (ENSURE_IMAGE).
  t=$(readlink "$link"); file=\${t#../}
  [ -f "$dir/$file" ] || file=
fi
if [ -z "$file" ]; then say NEED-IMAGE; exit 0; fi
base="$dir/$file"
say IMAGE "$file" "$(stat -c %s "$base")"
say END fetch-image
say BEGIN create-disk
set -f
set -- $known
set +f
if [ "\${1:-}" = "$file" ]; then fmt=$2 vsize=$3; else
  info=$(qemu-img info -U --output=json "$base")
  fmt=$(printf '%s\\n' "$info" | sed -n 's/^    "format": "\\([a-z0-9]*\\)",*$/\\1/p' | head -n 1)
  vsize=$(printf '%s\\n' "$info" | sed -n 's/^    "virtual-size": \\([0-9]*\\),*$/\\1/p' | head -n 1)
  [ -n "$fmt" ] && [ -n "$vsize" ] || { echo "cannot read the format and size of $base" >&2; exit 1; }
  say BASE "$file" "$fmt" "$vsize"
fi
size=$bytes
[ "$vsize" -le "$size" ] || size=$vsize
make_disk "$disk" "$fmt" "$base" "$size"
exec 9>&-
say END create-disk
say BEGIN create-seed
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_seed "$seed" "$id" "$n" "$tmp"
say END create-seed
say BEGIN define
running=
if [ "$mine" = 1 ] && st=$(v domstate "$n" 2>/dev/null); then running=$st; else
  printf '%s' "$xml" >"$tmp/domain.xml"
  v define "$tmp/domain.xml" >/dev/null
fi
say END define
say BEGIN start
# A domain of an earlier attempt may be running already, or paused (libvirt pauses one on an I/O error,
# a full disk): resumed, as START does; started otherwise.
case $running in
  running) ;;
  paused) resume_paused "$uri" "$n" ;;
  *) prep_console_log "$log"; v start "$n" >/dev/null ;;
esac
say END start
say DOMAIN
# One virsh process for both (the name is a DNS label: nothing in it splits a virsh batch).
v "dumpxml $n; domstate $n"`;

/** A file of the image cache as ENSURE_IMAGE names it: its content hash, or a download whose hash may come later. */
export const CACHE_FILE_RE = /^(sha256-[a-f0-9]{64}|dl-[A-Za-z0-9]{6})$/;

export interface CreateVmArgs {
  name: string;
  instanceId: string;
  imagesDir: string;
  image: { name: string; sha256?: string | undefined };
  diskPath: string;
  diskBytes: number;
  seedPath: string;
  consoleLog: string;
  /** What the caller knows of a cached version's format and virtual size. */
  knownBase: { file: string; format: string; virtualSize: number } | null;
  /** The domain of this name exists and is this create's own (an earlier attempt's). */
  mine: boolean;
  xml: string;
  boundary: string;
}

export function createVmArgv(uri: string, a: CreateVmArgs): string[] {
  assertUri(uri);
  assertVmName(a.name);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(a.instanceId)) throw new InvalidArgumentError('invalid instance id');
  for (const p of [a.imagesDir, a.diskPath, a.seedPath, a.consoleLog]) assertAbsPath(p);
  assertImageName(a.image.name);
  if (a.image.sha256) assertSha256(a.image.sha256);
  assertPositiveInt(a.diskBytes, 'disk size');
  if (!/^[a-f0-9]{32,64}$/.test(a.boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  let known = '';
  if (a.knownBase) {
    if (!CACHE_FILE_RE.test(a.knownBase.file)) throw new InvalidArgumentError('invalid image cache file');
    if (!/^[a-z0-9]+$/.test(a.knownBase.format)) throw new InvalidArgumentError('invalid image format');
    assertPositiveInt(a.knownBase.virtualSize, 'image size');
    known = `${a.knownBase.file} ${a.knownBase.format} ${a.knownBase.virtualSize}`;
  }
  return sh(
    'create-vm',
    CREATE_VM,
    uri,
    a.name,
    a.imagesDir,
    a.image.name,
    a.image.sha256 ?? '',
    a.diskPath,
    String(a.diskBytes),
    a.seedPath,
    a.instanceId,
    known,
    a.consoleLog,
    a.mine ? '1' : '0',
    a.xml,
    a.boundary,
  );
}

/**
 * Starts a domain: `started`; one that is already running is left alone (`already`), a paused one is
 * resumed (`resumed`), one its guest suspended to RAM (`pmsuspended`) is woken up (`woken`: `virsh
 * dompmwakeup`, as a wake event would; restarting it would lose its memory). One shutting down (`in
 * shutdown`) cannot be started until it is off: waited for, at most 60 s, then started; still shutting down
 * after that is a failure a retry may get past (exit 1, retryable as any failed command). $3, when given,
 * is the serial console's log, made ready first (prep_console_log) when the domain is started (not when
 * resumed or woken: virtlogd has it open).
 */
const START = `set -eu
${PREP_CONSOLE_LOG}
${RESUME_PAUSED}
st=$(virsh -q -c "$1" domstate "$2")
if [ "$st" = "in shutdown" ]; then
  i=0
  while [ "$st" = "in shutdown" ]; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then echo "the domain is still shutting down after 60 s: start it once it is off" >&2; exit 1; fi
    sleep 0.2
    st=$(virsh -q -c "$1" domstate "$2")
  done
fi
case $st in
  running) echo already; exit 0 ;;
  paused) resume_paused "$1" "$2" || exit 1; echo resumed; exit 0 ;;
  pmsuspended) virsh -q -c "$1" dompmwakeup "$2" >/dev/null; echo woken; exit 0 ;;
esac
if [ -n "\${3:-}" ]; then prep_console_log "$3"; fi
virsh -q -c "$1" start "$2" >/dev/null
echo started`;

export function startArgv(uri: string, name: string, consoleLog?: string): string[] {
  assertUri(uri);
  assertVmName(name);
  if (consoleLog === undefined) return sh('start', START, uri, name);
  assertAbsPath(consoleLog);
  return sh('start', START, uri, name, consoleLog);
}

/**
 * Asks the guest to shut down (ACPI), polls until it is off, and powers it off after the timeout. A paused
 * domain is resumed first, so its guest can act on the request and shut down cleanly; one that cannot be
 * resumed cannot either, and is powered off at once.
 */
const SHUTDOWN = `set -u
${RESUME_PAUSED}
st=$(virsh -q -c "$1" domstate "$2") || exit 1
if [ "$st" = "shut off" ]; then echo already; exit 0; fi
t=$3
if [ "$st" = paused ] && ! resume_paused "$1" "$2"; then t=0; fi
virsh -q -c "$1" shutdown "$2" >/dev/null 2>&1
end=$(( $(date +%s%3N) + t ))
while [ "$(date +%s%3N)" -lt "$end" ]; do
  st=$(virsh -q -c "$1" domstate "$2") || exit 1
  if [ "$st" = "shut off" ]; then echo graceful; exit 0; fi
  sleep 0.2
done
virsh -q -c "$1" destroy "$2" >/dev/null 2>&1 || true
st=$(virsh -q -c "$1" domstate "$2") || exit 1
[ "$st" = "shut off" ] && { echo forced; exit 0; }
echo "still $st" >&2; exit 1`;

export function shutdownArgv(uri: string, name: string, timeoutMs: number): string[] {
  assertUri(uri);
  assertVmName(name);
  assertPositiveInt(timeoutMs, 'timeout');
  return sh('shutdown', SHUTDOWN, uri, name, String(timeoutMs));
}

/** Hard power-off (`virsh destroy`); a domain that is not running is left alone. */
const POWER_OFF = `set -eu
st=$(virsh -q -c "$1" domstate "$2")
if [ "$st" = "shut off" ]; then echo already; exit 0; fi
virsh -q -c "$1" destroy "$2" >/dev/null
echo stopped`;

export function powerOffArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('power-off', POWER_OFF, uri, name);
}

/** Powers off and undefines a domain, then removes its disk and seed. Missing pieces are not errors. */
const UNDEFINE = `set -u
if virsh -q -c "$1" domuuid "$2" >/dev/null 2>&1; then
  virsh -q -c "$1" destroy "$2" >/dev/null 2>&1 || true
  # Snapshot metadata goes with the domain (libvirt refuses to undefine a domain that has any); the
  # snapshots' data lives in the disk removed below.
  virsh -q -c "$1" undefine "$2" --nvram --snapshots-metadata >/dev/null 2>&1 || virsh -q -c "$1" undefine "$2" --snapshots-metadata >/dev/null || exit 1
  echo undefined
else
  echo absent
fi
shift 2
rm -f -- "$@"`;

export function undefineArgv(uri: string, name: string, files: readonly string[]): string[] {
  assertUri(uri);
  assertVmName(name);
  for (const f of files) assertAbsPath(f);
  return sh('undefine', UNDEFINE, uri, name, ...files);
}

/**
 * Gives a shut-off domain new vCPUs and memory (its persistent definition) and grows its qcow2 disk,
 * each part only when the host's current value differs (a rerun after a crash redoes only what is left),
 * then writes its instance metadata. vCPUs and memory raise the maximum first when growing and lower the
 * current value first when shrinking, so neither command ever sees current above maximum. The disk never
 * shrinks. Prints `vcpus|memory|disk|metadata changed|unchanged` per part.
 */
const RESIZE = `set -eu
uri=$1 n=$2 vcpus=$3 kib=$4 disk=$5 bytes=$6 ns=$7 meta=$8
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
maxm=$(printf '%s\\n' "$info" | sed -n 's/^Max memory: *\\([0-9]*\\) KiB$/\\1/p')
curm=$(printf '%s\\n' "$info" | sed -n 's/^Used memory: *\\([0-9]*\\) KiB$/\\1/p')
if [ "$maxm" = "$kib" ] && [ "$curm" = "$kib" ]; then echo "memory unchanged"; else
  if [ "$kib" -ge "$maxm" ]; then v setmaxmem "$n" "$kib" --config; v setmem "$n" "$kib" --config
  else v setmem "$n" "$kib" --config; v setmaxmem "$n" "$kib" --config; fi
  echo "memory changed"
fi
size=$(qemu-img info -U --output=json "$disk" | sed -n 's/^ *"virtual-size": *\\([0-9]*\\),*$/\\1/p' | head -n 1)
[ -n "$size" ] || { echo "cannot read the size of $disk" >&2; exit 1; }
if [ "$size" -ge "$bytes" ]; then echo "disk unchanged"; else qemu-img resize -q "$disk" "$bytes"; echo "disk changed"; fi
v metadata "$n" --uri "$ns" --key prov --set "$meta" --config >/dev/null
echo "metadata changed"`;

export function resizeArgv(
  uri: string,
  name: string,
  vcpus: number,
  memoryMiB: number,
  diskPath: string,
  diskBytes: number,
  ns: string,
  metadataXml: string,
): string[] {
  assertUri(uri);
  assertVmName(name);
  assertPositiveInt(vcpus, 'vcpus', 512);
  assertPositiveInt(memoryMiB, 'memory', 16 * 1024 * 1024);
  assertAbsPath(diskPath);
  assertPositiveInt(diskBytes, 'disk size');
  return sh('resize', RESIZE, uri, name, String(vcpus), String(memoryMiB * 1024), diskPath, String(diskBytes), ns, metadataXml);
}

/**
 * One domain's snapshots: each one's XML (`@@BOUNDARY SNAPSHOT NAME SNAP` sections, then `@@BOUNDARY DONE`)
 * in one virsh batch; only snapshots named as this service names them are shown.
 */
const SNAPSHOTS = `set -u
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
echo "@@$b DONE"`;

export function snapshotsArgv(uri: string, boundary: string, name: string): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  assertVmName(name);
  return sh('snapshots', SNAPSHOTS, uri, boundary, name);
}

/**
 * Takes an internal snapshot (disk, and memory when running; the read-only seed is left out by its
 * snapshot="no") whose description is `$4`, the job's marker. A snapshot of that name that exists already
 * is `exists MARKER` (a retried job finds its own and is done); else `created`.
 */
const SNAPSHOT_CREATE = `set -u
if x=$(virsh -q -c "$1" snapshot-dumpxml "$2" "$3" 2>/dev/null); then
  d=$(printf '%s\\n' "$x" | sed -n 's/^ *<description>\\(.*\\)<\\/description>$/\\1/p' | head -n 1)
  echo "exists $d"; exit 0
fi
virsh -q -c "$1" snapshot-create-as "$2" "$3" --description "$4" >/dev/null || exit 1
echo created`;

/**
 * Reverts to a snapshot: the disk, the domain definition saved with it and its power state (a running
 * snapshot's memory too). A console log virtlogd rolled over (root's) is replaced first, as START does.
 */
const SNAPSHOT_REVERT = `set -eu
${PREP_CONSOLE_LOG}
# Only while the domain is off: an active one's (running, paused, shutting down) log is open in virtlogd.
case $(virsh -q -c "$1" domstate "$2") in running|paused|"in shutdown") ;; *) prep_console_log "$4" ;; esac
virsh -q -c "$1" snapshot-revert "$2" "$3" >/dev/null
echo reverted`;

/** Deletes a snapshot (metadata and its data in the disk); one that does not exist is `absent`. */
const SNAPSHOT_DELETE = `set -u
virsh -q -c "$1" snapshot-info "$2" "$3" >/dev/null 2>&1 || { virsh -q -c "$1" domuuid "$2" >/dev/null && { echo absent; exit 0; }; exit 1; }
virsh -q -c "$1" snapshot-delete "$2" "$3" >/dev/null || exit 1
echo deleted`;

function assertSnapshotName(s: string): void {
  // Snapshot names follow the VM names' rule: they are pasted into virsh batches (see SNAPSHOTS).
  try {
    assertVmName(s);
  } catch {
    throw new InvalidArgumentError('invalid snapshot name');
  }
}

export function snapshotCreateArgv(uri: string, name: string, snapshot: string, marker: string): string[] {
  assertUri(uri);
  assertVmName(name);
  assertSnapshotName(snapshot);
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(marker)) throw new InvalidArgumentError('invalid snapshot marker');
  return sh('snapshot-create', SNAPSHOT_CREATE, uri, name, snapshot, marker);
}

export function snapshotRevertArgv(uri: string, name: string, snapshot: string, consoleLog: string): string[] {
  assertUri(uri);
  assertVmName(name);
  assertSnapshotName(snapshot);
  assertAbsPath(consoleLog);
  return sh('snapshot-revert', SNAPSHOT_REVERT, uri, name, snapshot, consoleLog);
}

export function snapshotDeleteArgv(uri: string, name: string, snapshot: string): string[] {
  assertUri(uri);
  assertVmName(name);
  assertSnapshotName(snapshot);
  return sh('snapshot-delete', SNAPSHOT_DELETE, uri, name, snapshot);
}

/** Replaces the tags in the domain's metadata and legacy description, live too when it runs. */
const SET_TAGS = `set -eu
st=$(virsh -q -c "$1" domstate "$2")
case "$st" in running|paused|"in shutdown") flags="--live --config" ;; *) flags="--config" ;; esac
virsh -q -c "$1" metadata "$2" --uri "$3" --key prov --set "$4" $flags >/dev/null
virsh -q -c "$1" desc "$2" $flags --new-desc "$5" >/dev/null
echo ok`;

export function setTagsArgv(uri: string, name: string, ns: string, metadataXml: string, description: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('set-tags', SET_TAGS, uri, name, ns, metadataXml, description);
}

/**
 * Guest readiness of many VMs in ONE exec: for each `FLAG NAME` pair, in parallel (so a silent guest costs
 * one agent timeout for the whole call, not one per VM), the domain's state and, when it runs, its DHCP
 * lease and ARP addresses (`virsh domifaddr`) and, when FLAG is 1, its guest agent: a ping, the agent's
 * interfaces, and cloud-init's /run/cloud-init/result.json (else status.json) read through
 * guest-file-open/-read/-close. Every agent call carries `--timeout $3`; one unanswered ping skips the
 * rest. The paths and JSON are constants; the only value pasted into an agent command is the file handle,
 * after checking it is digits. Output: `@@BOUNDARY VM NAME`, then per step `@@BOUNDARY STEP EXIT` and
 * the step's output (stdout and stderr); the boundary is random per run ($2): what a guest says (its
 * interface names, its files) cannot know it.
 */
const GUEST_STATUS = `set -u
uri=$1 b=$2 t=$3
shift 3
${GUEST_FNS}
while [ "$#" -ge 2 ]; do guest "$1" "$2"; shift 2; done
guests_out
echo "@@$b DONE"`;

export interface GuestQuery {
  name: string;
  /** Ask the guest agent too (a VM already known ready needs only its addresses). */
  agent: boolean;
}

export function guestStatusArgv(uri: string, boundary: string, vms: readonly GuestQuery[], agentTimeoutS: number): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  assertPositiveInt(agentTimeoutS, 'agent timeout', 60);
  const args: string[] = [];
  for (const vm of vms) {
    assertVmName(vm.name);
    args.push(vm.agent ? '1' : '0', vm.name);
  }
  return sh('guest-status', GUEST_STATUS, uri, boundary, String(agentTimeoutS), ...args);
}

/** Largest console tail one call returns. */
export const CONSOLE_TAIL_MAX = 1 << 20;

/**
 * The last bytes of a VM's serial console log. The first line says which file they come from: `current`,
 * `rotated` (virtlogd rolled the log over at its max_size: the new file is root's and 0600, so the
 * automation user reads the newest backup, which is still its own), `unreadable` or `absent`.
 */
const CONSOLE_TAIL = `set -u
if [ -r "$1" ]; then echo current; exec tail -c "$2" "$1"; fi
if [ -e "$1" ]; then
  if [ -r "$1.0" ]; then echo rotated; exec tail -c "$2" "$1.0"; fi
  echo unreadable; exit 0
fi
echo absent`;

export function consoleTailArgv(logPath: string, bytes: number): string[] {
  assertAbsPath(logPath);
  assertPositiveInt(bytes, 'byte count', CONSOLE_TAIL_MAX);
  return sh('console-tail', CONSOLE_TAIL, logPath, String(bytes));
}

/**
 * A rebuild's swap, on a shut-off domain: grows the new disk ($4) to the old one's ($3) virtual size when
 * smaller (a resize may have grown it beyond the image and type), moves the new seed ($6, when given and
 * still there) over the seed ($5), then renames the new disk over the old one. rename(2) is atomic: the
 * domain's disk path names the old disk or the new one, never nothing and never half a disk, and the old
 * one is gone only once the new one is in place. The domain's definition (UUID, MAC, NIC, tags) is not
 * redefined; its instance metadata ($8, the new image and this job as `rebuilt-by`) is written last. A
 * rerun after a crash finds the new disk already moved and only writes the metadata, whatever the domain's
 * state: the crash may have come after the start that follows the swap, and a domain running on its new
 * disk is what the swap was for. Prints `swapped` or `already`.
 */
const REBUILD_SWAP = `set -eu
uri=$1 n=$2 disk=$3 new=$4 seed=$5 newseed=$6 ns=$7 meta=$8
v() { virsh -q -c "$uri" "$@"; }
size() { qemu-img info -U --output=json "$1" | sed -n 's/^ *"virtual-size": *\\([0-9]*\\),*$/\\1/p' | head -n 1; }
out=already
if [ -e "$new" ]; then
  # Only moving disks needs the domain shut off: once they are moved (a rerun after a crash, maybe after the
  # start that follows), the domain may run on its new disk and only the metadata is written (again).
  st=$(v domstate "$n")
  [ "$st" = "shut off" ] || { echo "the domain is $st, not shut off" >&2; exit 1; }
  if [ -e "$disk" ]; then
    old=$(size "$disk") cur=$(size "$new")
    [ -n "$old" ] && [ -n "$cur" ] || { echo "cannot read the sizes of $disk and $new" >&2; exit 1; }
    [ "$old" -le "$cur" ] || qemu-img resize -q "$new" "$old"
  fi
  if [ -n "$newseed" ] && [ -e "$newseed" ]; then mv -f "$newseed" "$seed"; fi
  mv -f "$new" "$disk"
  out=swapped
fi
v metadata "$n" --uri "$ns" --key prov --set "$meta" --config >/dev/null
echo "$out"`;

export function rebuildSwapArgv(
  uri: string,
  name: string,
  files: { disk: string; newDisk: string; seed: string; newSeed: string | null },
  ns: string,
  metadataXml: string,
): string[] {
  assertUri(uri);
  assertVmName(name);
  for (const f of [files.disk, files.newDisk, files.seed]) assertAbsPath(f);
  if (files.newSeed !== null) assertAbsPath(files.newSeed);
  return sh('rebuild-swap', REBUILD_SWAP, uri, name, files.disk, files.newDisk, files.seed, files.newSeed ?? '', ns, metadataXml);
}

/** Prints a domain's snapshot names, one a line; with $3 = 1 deletes each first (a rebuild discards the disk they live in). */
const REBUILD_SNAPSHOTS = `set -eu
names=$(virsh -q -c "$1" snapshot-list "$2" --name)
[ "$3" = 1 ] || { printf '%s\\n' "$names"; exit 0; }
printf '%s\\n' "$names" | while IFS= read -r s; do [ -z "$s" ] || virsh -q -c "$1" snapshot-delete "$2" --snapshotname "$s" >/dev/null; done
virsh -q -c "$1" snapshot-list "$2" --name`;

export function rebuildSnapshotsArgv(uri: string, name: string, remove: boolean): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('rebuild-snapshots', REBUILD_SNAPSHOTS, uri, name, remove ? '1' : '0');
}

/**
 * Removes what earlier rebuilds of the VM left in the disks directory ($1) when killed outright (SIGKILL, a
 * lost worker: nothing ran their cleanup): new disks (`NAME.rebuild-JOB.qcow2`, and `.part` of one being
 * made) and seeds (`NAME-seed.rebuild-JOB.iso`) of any job but $3, the running one, whose files a retry
 * reuses. Names are DNS labels, so `NAME.` and `NAME-seed.` match no other VM's files. Prints each name removed.
 */
const REBUILD_CLEAN = `set -eu
d=$1 n=$2 keep=$3
for f in "$d/$n".rebuild-*.qcow2 "$d/$n".rebuild-*.qcow2.part "$d/$n"-seed.rebuild-*.iso; do
  [ -f "$f" ] || continue
  case \${f##*/} in "$n.rebuild-$keep.qcow2" | "$n.rebuild-$keep.qcow2.part" | "$n-seed.rebuild-$keep.iso") continue ;; esac
  rm -f -- "$f"
  printf '%s\n' "\${f##*/}"
done`;

export function rebuildCleanArgv(disksDir: string, name: string, keepJobId: string): string[] {
  assertAbsPath(disksDir);
  assertVmName(name);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(keepJobId)) throw new InvalidArgumentError('invalid job id');
  return sh('rebuild-clean', REBUILD_CLEAN, disksDir, name, keepJobId);
}

/** Removes files (a rebuild's new disk and seed when it fails before its swap); missing ones are not errors. */
export function removeFilesArgv(files: readonly string[]): string[] {
  for (const f of files) assertAbsPath(f);
  return ['rm' satisfies CommandName, '-f', '--', ...files];
}

/**
 * Removes files of the disks directory by name, each only if it was last modified before `cutoff`
 * (epoch seconds): a file a create in flight is writing is younger and stays. Prints what it removed.
 */
const REMOVE_OLD_FILES = `d=$1 cutoff=$2
shift 2
for f in "$@"; do find "$d" -maxdepth 1 -type f -name "$f" ! -newermt "@$cutoff" -print -delete; done`;

export function removeOldFilesArgv(disksDir: string, cutoffEpochS: number, names: readonly string[]): string[] {
  assertAbsPath(disksDir);
  assertPositiveInt(cutoffEpochS, 'cutoff', Number.MAX_SAFE_INTEGER);
  // Names as this service names its files (no glob characters, no path): find's -name then matches exactly one.
  for (const n of names) if (!/^[a-z0-9][a-z0-9._-]{0,254}$/.test(n)) throw new InvalidArgumentError(`not a disks directory file name: ${n.slice(0, 80)}`);
  return sh('remove-old-files', REMOVE_OLD_FILES, disksDir, String(Math.floor(cutoffEpochS)), ...names);
}
