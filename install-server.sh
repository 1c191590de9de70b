#!/usr/bin/env bash
# install-server.sh: prepares a Debian/Ubuntu machine as a Provisioner hypervisor host.
#
# Installs libvirt/QEMU/OpenSSH, creates a dedicated automation user that reaches qemu:///system through
# libvirt's unix socket group, runs a separate sshd instance for that user only (the system sshd and
# port 22 are never touched), makes sure a libvirt network exists, and prints, as the last line of
# stdout, the line the service's configuration needs for this host.
#
# Non-interactive and idempotent: a second run rewrites no file and restarts no daemon.
# All progress messages go to stderr, prefixed "install-server: ". Run `install-server.sh --help`.
set -euo pipefail
umask 022
export LC_ALL=C

# ---------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------
PACKAGES=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils openssh-server
  genisoimage curl dnsmasq-base openssl)
SSHD_CONFIG=/etc/ssh/sshd_config_provisioner
SSHD_PIDFILE=/run/sshd-provisioner.pid
SSHD_UNIT=/etc/systemd/system/provisioner-sshd.service
LIBVIRTD_CONF=/etc/libvirt/libvirtd.conf
QEMU_CONF=/etc/libvirt/qemu.conf
VIRTLOGD_CONF=/etc/libvirt/virtlogd.conf
LIBVIRT_SOCKET_DROPIN=/etc/systemd/system/libvirtd.socket.d/provisioner.conf
LIBVIRT_URI=qemu:///system
DEFAULT_NETWORK_XML=/usr/share/libvirt/networks/default.xml
LOCAL_DIR=/var/lib/provisioner-local
LOCK_FILE=/run/provisioner-install-server.lock
HOST_CONF=/etc/provisioner/host.conf
MARK='# provisioner'

usage() {
  cat <<'EOF'
Usage: install-server.sh [OPTIONS]

Prepares this Debian/Ubuntu machine as a Provisioner hypervisor host (run as root). Idempotent:
running it again changes nothing that is already in place. Progress goes to stderr; the last line
of stdout is the host line for the service's configuration:

  provisioner-host address=ADDR port=PORT user=USER host_key_fingerprint=SHA256:...

Options:
  --ssh-port N           Port of the separate sshd instance for the automation user (default 2222).
                         Port 22 and the system sshd are left alone.
  --listen ADDR          IP address that sshd instance listens on (default 0.0.0.0).
  --local                A loopback host on this machine, for development and tests: listens on
                         127.0.0.1, generates (once) a client key pair in /var/lib/provisioner-local/
                         when no --authorized-key is given, and writes
                         /var/lib/provisioner-local/host.json with the connection facts.
  --user NAME            Automation user to create/use (default provisioner). Shell /bin/sh, no
                         password, key-only SSH, member of the libvirt (and kvm) group.
  --authorized-key FILE  Public key file (one or more keys) to authorize for that user. Repeatable.
  --hostname NAME        Set this host's hostname to NAME (optional).
  --data-dir DIR         Data directory (default /var/lib/provisioner): image cache in DIR/images,
                         VM disks and seeds in DIR/disks, both owned by the automation user.
  --network NAME         libvirt network to make sure is defined, started and autostarted
                         (default "default"; "none" skips this step). A network that cannot be
                         started (e.g. in a container) is only a warning.
  --skip-packages        Do not install packages with apt-get (they must already be installed).
  --help                 Show this help and exit.

Options taking a value accept both "--opt VALUE" and "--opt=VALUE".

KVM: when /dev/kvm is missing or cannot be opened, guests run under software emulation and QEMU is
configured to run as root (user/group "root" in /etc/libvirt/qemu.conf), which avoids libvirt
re-probing QEMU on every call. That is a security trade-off acceptable only on development/CI hosts.

Exit status: 0 success, 1 failure while configuring, 2 bad usage (nothing changed).
EOF
}

log() { printf 'install-server: %s\n' "$*" >&2; }
warn() { log "WARNING: $*"; }
die() {
  log "error: $*"
  exit 1
}
usage_error() {
  printf 'install-server: %s\n' "$1" >&2
  printf "Run 'install-server.sh --help' for the list of options.\n" >&2
  exit 2
}

CHANGES=0
# Records (and reports) that this run changed something on the host.
changed() {
  CHANGES=$((CHANGES + 1))
  log "$*"
}

# ---------------------------------------------------------------------------------------------------
# Arguments: parse and validate everything before touching anything.
# ---------------------------------------------------------------------------------------------------
SSH_PORT=2222
LISTEN=
LOCAL=0
PUSER=provisioner
AUTH_KEYS=()
SET_HOSTNAME=
DATA_DIR=/var/lib/provisioner
NETWORK=default
SKIP_PACKAGES=0

while [ "$#" -gt 0 ]; do
  opt=$1
  val=
  has_inline=0
  case $opt in
    --*=*)
      val=${opt#*=}
      opt=${opt%%=*}
      has_inline=1
      ;;
  esac
  case $opt in
    --ssh-port | --listen | --user | --authorized-key | --hostname | --data-dir | --network)
      if [ "$has_inline" = 0 ]; then
        [ "$#" -ge 2 ] || usage_error "option $opt needs a value"
        val=$2
        shift
      fi
      ;;
    --local | --skip-packages | --help | -h)
      [ "$has_inline" = 0 ] || usage_error "option $opt takes no value"
      ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
  case $opt in
    --ssh-port) SSH_PORT=$val ;;
    --listen) LISTEN=$val ;;
    --user) PUSER=$val ;;
    --authorized-key) AUTH_KEYS+=("$val") ;;
    --hostname) SET_HOSTNAME=$val ;;
    --data-dir) DATA_DIR=$val ;;
    --network) NETWORK=$val ;;
    --local) LOCAL=1 ;;
    --skip-packages) SKIP_PACKAGES=1 ;;
    --help | -h)
      usage
      exit 0
      ;;
  esac
done

if ! [[ $SSH_PORT =~ ^[0-9]{1,5}$ ]] || [ "$((10#$SSH_PORT))" -lt 1 ] || [ "$((10#$SSH_PORT))" -gt 65535 ]; then
  usage_error "--ssh-port: not a port number (1-65535): '$SSH_PORT'"
fi
SSH_PORT=$((10#$SSH_PORT))
[ "$SSH_PORT" != 22 ] || usage_error "--ssh-port: port 22 belongs to the system sshd, which this script leaves alone"

valid_ipv4() {
  local IFS=. o
  [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
  for o in $1; do [ "$((10#$o))" -le 255 ] || return 1; done
}
valid_ipv6() { [[ $1 =~ ^[0-9A-Fa-f:.]+$ && $1 == *:*:* ]]; }

if [ "$LOCAL" = 1 ]; then
  if [ -n "$LISTEN" ] && [ "$LISTEN" != 127.0.0.1 ]; then
    usage_error "--local listens on 127.0.0.1; it cannot be combined with --listen $LISTEN"
  fi
  LISTEN=127.0.0.1
fi
[ -n "$LISTEN" ] || LISTEN=0.0.0.0
valid_ipv4 "$LISTEN" || valid_ipv6 "$LISTEN" || usage_error "--listen: not an IP address: '$LISTEN'"

[[ $PUSER =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || usage_error "--user: not a valid unix user name: '$PUSER'"
[ "$PUSER" != root ] || usage_error "--user: the automation user must not be root"

if [ -n "$SET_HOSTNAME" ]; then
  label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
  if ! [[ $SET_HOSTNAME =~ ^$label(\.$label)*$ ]] || [ "${#SET_HOSTNAME}" -gt 253 ]; then
    usage_error "--hostname: not a valid host name: '$SET_HOSTNAME'"
  fi
fi

case $DATA_DIR in
  /*) ;;
  *) usage_error "--data-dir: must be an absolute path: '$DATA_DIR'" ;;
esac
[[ $DATA_DIR =~ ^[A-Za-z0-9._/+@-]+$ ]] || usage_error "--data-dir: unsupported characters in '$DATA_DIR'"
while [ "${#DATA_DIR}" -gt 1 ] && [ "${DATA_DIR%/}" != "$DATA_DIR" ]; do DATA_DIR=${DATA_DIR%/}; done
[ "$DATA_DIR" != / ] || usage_error "--data-dir: must not be /"
IMAGES_DIR=$DATA_DIR/images
DISKS_DIR=$DATA_DIR/disks

[ "$NETWORK" = none ] || [[ $NETWORK =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || usage_error "--network: not a valid network name: '$NETWORK'"

# Key lines of an authorized-key file: non-empty, not comments, CR stripped.
key_lines() { sed -e 's/\r$//' -e '/^[[:space:]]*$/d' -e '/^[[:space:]]*#/d' "$1"; }
for f in ${AUTH_KEYS[@]+"${AUTH_KEYS[@]}"}; do
  [[ $f != *$'\n'* ]] || usage_error "--authorized-key: bad file name"
  if [ ! -f "$f" ] || [ ! -r "$f" ]; then usage_error "--authorized-key: not a readable file: '$f'"; fi
  [ -n "$(key_lines "$f")" ] || usage_error "--authorized-key: no key in '$f'"
  if grep -q 'PRIVATE KEY' "$f"; then usage_error "--authorized-key: '$f' is a private key; give the .pub file"; fi
  if command -v ssh-keygen >/dev/null 2>&1; then
    ssh-keygen -lf "$f" >/dev/null 2>&1 || usage_error "--authorized-key: not a public key file: '$f'"
  fi
done

# ---------------------------------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root"
if [ ! -f /etc/debian_version ] || ! command -v dpkg-query >/dev/null 2>&1; then die "only Debian and Ubuntu are supported"; fi

# Serialize concurrent runs. Every daemon started below gets "9>&-" so that it does not inherit (and
# hold forever) this lock.
exec 9>"$LOCK_FILE"
if ! flock -w 600 9; then die "another install-server.sh is still running (lock $LOCK_FILE)"; fi

HAS_SYSTEMD=0
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then HAS_SYSTEMD=1; fi

# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------
TMPFILES=()
cleanup() { rm -f ${TMPFILES[@]+"${TMPFILES[@]}"}; }
trap cleanup EXIT

new_tmp() { # new_tmp DIR -> path of a fresh temporary file in DIR (same file system, for mv)
  local t
  t=$(mktemp "$1/.provisioner-tmp.XXXXXX")
  TMPFILES+=("$t")
  printf '%s\n' "$t"
}

# The file helpers below set WROTE=1 when they changed the file, WROTE=0 otherwise. (They are called
# as plain commands, never in "if"/"&&", so that errexit stays in force inside them.)
WROTE=0

# write_file PATH MODE CONTENT: writes CONTENT (plus a newline) to PATH only when it differs.
write_file() {
  local path=$1 mode=$2 content=$3 dir tmp
  WROTE=0
  if [ -f "$path" ] && cmp -s "$path" <(printf '%s\n' "$content"); then
    if [ "$(stat -c %a "$path")" != "${mode#0}" ]; then
      chmod "$mode" "$path"
      changed "set mode of $path to $mode"
    fi
    return 0
  fi
  dir=$(dirname "$path")
  mkdir -p "$dir"
  tmp=$(new_tmp "$dir")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  WROTE=1
  changed "wrote $path"
}

# set_conf FILE KEY VALUE: makes "KEY = VALUE # provisioner" the only active setting of KEY in a
# libvirt-style config file. The first active KEY line is replaced in place (others removed); without
# one, the line goes after the last commented-out "#KEY =" line, or at the end.
set_conf() {
  local file=$1 key=$2 value=$3 wanted tmp
  WROTE=0
  wanted="$key = $value $MARK"
  [ -f "$file" ] || die "$file is missing (is libvirt installed?)"
  tmp=$(new_tmp "$(dirname "$file")")
  awk -v key="$key" -v wanted="$wanted" '
    function active(l) { return l ~ ("^[ \t]*" key "[ \t]*=") }
    function commented(l) { return l ~ ("^[ \t]*#[ \t]*" key "[ \t]*=") }
    { lines[NR] = $0 }
    END {
      fa = 0; lc = 0
      for (i = 1; i <= NR; i++) {
        if (!fa && active(lines[i])) fa = i
        if (commented(lines[i])) lc = i
      }
      for (i = 1; i <= NR; i++) {
        if (active(lines[i])) { if (i == fa) print wanted; continue }
        print lines[i]
        if (!fa && i == lc) print wanted
      }
      if (!fa && !lc) print wanted
    }' "$file" >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 0
  fi
  [ -e "$file.provisioner-orig" ] || cp -p "$file" "$file.provisioner-orig"
  chmod --reference="$file" "$tmp"
  chown --reference="$file" "$tmp"
  mv -f "$tmp" "$file"
  WROTE=1
  changed "set $key = $value in $file"
}

# unset_conf FILE KEY: removes "KEY = ... # provisioner" lines this script added.
unset_conf() {
  local file=$1 key=$2 tmp
  WROTE=0
  [ -f "$file" ] || return 0
  grep -qE "^[[:space:]]*${key}[[:space:]]*=.*${MARK}\$" "$file" || return 0
  tmp=$(new_tmp "$(dirname "$file")")
  grep -vE "^[[:space:]]*${key}[[:space:]]*=.*${MARK}\$" "$file" >"$tmp" || true
  chmod --reference="$file" "$tmp"
  chown --reference="$file" "$tmp"
  mv -f "$tmp" "$file"
  WROTE=1
  changed "removed the managed '$key' setting from $file"
}

# ensure_dir PATH MODE OWNER:GROUP
ensure_dir() {
  local path=$1 mode=$2 owner=$3
  if [ ! -d "$path" ]; then
    mkdir -p "$(dirname "$path")"
    install -d -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$path"
    changed "created $path"
  fi
  if [ "$(stat -c %U:%G "$path")" != "$owner" ]; then
    chown "$owner" "$path"
    changed "set owner of $path to $owner"
  fi
  if [ "$(stat -c %a "$path")" != "${mode#0}" ]; then
    chmod "$mode" "$path"
    changed "set mode of $path to $mode"
  fi
}

# pid_of PIDFILE NAME [CMDLINE_SUBSTRING]: prints the pid recorded in PIDFILE when that process is
# alive, is NAME, and (optionally) has CMDLINE_SUBSTRING in its command line.
pid_of() {
  local pidfile=$1 name=$2 needle=${3-} pid
  [ -r "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  if [ -n "$needle" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle" || return 1
  fi
  printf '%s\n' "$pid"
}

# stop_pid PID WHAT: SIGTERM one process and wait (bounded) until it is gone.
stop_pid() {
  local pid=$1 what=$2 i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do
    [ -d "/proc/$pid" ] || return 0
    [ "$i" != 150 ] || { warn "$what (pid $pid) still running after 15 s; sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
    sleep 0.1
  done
  die "$what (pid $pid) did not stop"
}

virsh_q() { virsh -q -c "$LIBVIRT_URI" "$@"; }

# ---------------------------------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------------------------------
if [ "$SKIP_PACKAGES" = 0 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
    changed "installed packages: ${missing[*]}"
  else
    log "packages: all installed"
  fi
fi
for c in virsh libvirtd virtlogd qemu-img ssh-keygen /usr/sbin/sshd useradd usermod; do
  command -v "$c" >/dev/null 2>&1 || die "$c not found; install the packages (run without --skip-packages)"
done
getent group libvirt >/dev/null || die "group libvirt missing (is libvirt-daemon-system installed?)"

# ---------------------------------------------------------------------------------------------------
# 2. Hostname (optional)
# ---------------------------------------------------------------------------------------------------
if [ -n "$SET_HOSTNAME" ]; then
  if [ "$(hostname)" != "$SET_HOSTNAME" ]; then
    if [ "$HAS_SYSTEMD" = 1 ] && command -v hostnamectl >/dev/null 2>&1; then
      hostnamectl set-hostname "$SET_HOSTNAME"
    else
      hostname "$SET_HOSTNAME" 2>/dev/null || warn "could not set the running hostname (container?); /etc/hostname is updated"
    fi
    changed "hostname set to $SET_HOSTNAME"
  fi
  if [ "$(cat /etc/hostname 2>/dev/null || true)" != "$SET_HOSTNAME" ]; then
    printf '%s\n' "$SET_HOSTNAME" >/etc/hostname # in place: /etc/hostname may be a bind mount
    changed "wrote /etc/hostname"
  fi
  if ! awk -v h="$SET_HOSTNAME" '!/^[[:space:]]*#/ { for (i = 2; i <= NF; i++) { if ($i ~ /^#/) break; if ($i == h) f = 1 } } END { exit !f }' /etc/hosts; then
    printf '127.0.1.1\t%s %s\n' "$SET_HOSTNAME" "$MARK" >>/etc/hosts
    changed "added $SET_HOSTNAME to /etc/hosts"
  fi
fi

# ---------------------------------------------------------------------------------------------------
# 3. Automation user
# ---------------------------------------------------------------------------------------------------
if ! getent passwd "$PUSER" >/dev/null; then
  skel=$(mktemp -d) # empty skeleton: no .bashrc/.profile
  useradd --system --create-home --home-dir "/home/$PUSER" --skel "$skel" --shell /bin/sh --user-group \
    --comment "Provisioner automation" "$PUSER"
  rmdir "$skel"
  changed "created user $PUSER"
fi
PGROUP=$(id -gn "$PUSER")
PHOME=$(getent passwd "$PUSER" | cut -d: -f6)
if [ -z "$PHOME" ] || [ "$PHOME" = / ]; then die "user $PUSER has no usable home directory"; fi
if [ "$(getent passwd "$PUSER" | cut -d: -f7)" != /bin/sh ]; then
  usermod --shell /bin/sh "$PUSER"
  changed "set the shell of $PUSER to /bin/sh"
fi
# No password can match "*". (A "!" lock prefix would also make sshd, with UsePAM no, refuse key logins.)
if [ "$(getent shadow "$PUSER" | cut -d: -f2)" != '*' ]; then
  usermod --password '*' "$PUSER"
  changed "disabled password login for $PUSER"
fi
for g in libvirt kvm; do
  getent group "$g" >/dev/null || continue
  if ! id -nG "$PUSER" | tr ' ' '\n' | grep -qx "$g"; then
    usermod -aG "$g" "$PUSER"
    changed "added $PUSER to group $g"
  fi
done
# sshd (StrictModes) refuses keys when the home or ~/.ssh is writable by others.
if [ ! -d "$PHOME" ]; then
  install -d -m 0755 -o "$PUSER" -g "$PGROUP" "$PHOME"
  changed "created $PHOME"
fi
if [ "$(stat -c %U "$PHOME")" != "$PUSER" ]; then
  chown "$PUSER:$PGROUP" "$PHOME"
  changed "set owner of $PHOME to $PUSER"
fi
if [ -n "$(find "$PHOME" -maxdepth 0 -perm /022)" ]; then
  chmod go-w "$PHOME"
  changed "made $PHOME writable by $PUSER only"
fi
ensure_dir "$PHOME/.ssh" 0700 "$PUSER:$PGROUP"

# ---------------------------------------------------------------------------------------------------
# 4. Data directories
# ---------------------------------------------------------------------------------------------------
if [ ! -d "$DATA_DIR" ]; then
  mkdir -p "$DATA_DIR"
  chmod 0755 "$DATA_DIR"
  changed "created $DATA_DIR"
fi
ensure_dir "$IMAGES_DIR" 0755 "$PUSER:$PGROUP"
ensure_dir "$DISKS_DIR" 0755 "$PUSER:$PGROUP"

# ---------------------------------------------------------------------------------------------------
# 5. Keys: the local client key pair (--local) and authorized_keys
# ---------------------------------------------------------------------------------------------------
LOCAL_KEY=
if [ "$LOCAL" = 1 ]; then
  ensure_dir "$LOCAL_DIR" 0700 root:root
  if [ "${#AUTH_KEYS[@]}" -eq 0 ]; then
    LOCAL_KEY=$LOCAL_DIR/id_ed25519
    if [ ! -f "$LOCAL_KEY" ]; then
      rm -f "$LOCAL_KEY.pub"
      ssh-keygen -q -t ed25519 -N '' -C "provisioner-local@$(hostname)" -f "$LOCAL_KEY" </dev/null >/dev/null
      changed "generated the client key pair $LOCAL_KEY"
    elif [ ! -f "$LOCAL_KEY.pub" ]; then
      ssh-keygen -y -f "$LOCAL_KEY" >"$LOCAL_KEY.pub"
      changed "restored $LOCAL_KEY.pub"
    fi
    AUTH_KEYS=("$LOCAL_KEY.pub")
  else
    # host.json names the private key that goes with the first given public key, if it sits next to it.
    case ${AUTH_KEYS[0]} in
      *.pub) [ ! -f "${AUTH_KEYS[0]%.pub}" ] || LOCAL_KEY=$(realpath "${AUTH_KEYS[0]%.pub}") ;;
    esac
  fi
fi

AK=$PHOME/.ssh/authorized_keys
if [ ! -f "$AK" ]; then
  install -m 0600 -o "$PUSER" -g "$PGROUP" /dev/null "$AK"
  changed "created $AK"
fi
for f in ${AUTH_KEYS[@]+"${AUTH_KEYS[@]}"}; do
  while IFS= read -r line; do
    if ! grep -qxF -- "$line" "$AK"; then
      # Keep the file newline-terminated before appending.
      if [ -s "$AK" ] && [ "$(tail -c1 "$AK" | od -An -c | tr -d ' ')" != '\n' ]; then echo >>"$AK"; fi
      printf '%s\n' "$line" >>"$AK"
      changed "authorized a key from $f for $PUSER"
    fi
  done < <(key_lines "$f")
done
[ "$(stat -c %U:%G "$AK")" = "$PUSER:$PGROUP" ] || { chown "$PUSER:$PGROUP" "$AK"; changed "set owner of $AK"; }
[ "$(stat -c %a "$AK")" = 600 ] || { chmod 0600 "$AK"; changed "set mode of $AK to 0600"; }
[ -s "$AK" ] || warn "$AK is empty: nobody can log in as $PUSER yet (use --authorized-key FILE)"

# ---------------------------------------------------------------------------------------------------
# 6. libvirt configuration
# ---------------------------------------------------------------------------------------------------
LIBVIRT_CONF_CHANGED=0
set_conf "$LIBVIRTD_CONF" unix_sock_group '"libvirt"'
[ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1
set_conf "$LIBVIRTD_CONF" unix_sock_rw_perms '"0770"'
[ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1
set_conf "$LIBVIRTD_CONF" auth_unix_rw '"none"'
[ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1

# KVM is usable only when /dev/kvm is a character device that QEMU's own user (libvirt-qemu, as which
# libvirt runs guests when KVM works) can really open read-write AND a guest CPU like the ones we define
# (host-passthrough) really runs: under some nested hypervisors /dev/kvm opens but QEMU aborts setting
# the host CPU's MSRs, and where no udev gives /dev/kvm to the kvm group only root can open it. The
# probe runs a diskless guest as that user for 1.5 s; still running then (timeout's exit 124) means KVM
# works. (Check -c first: "<>" on a missing path would create a regular file.)
KVM=false
why=""
QEMU_RUN_USER=libvirt-qemu
as_qemu_user=()
if id "$QEMU_RUN_USER" >/dev/null 2>&1 && command -v runuser >/dev/null; then as_qemu_user=(runuser -u "$QEMU_RUN_USER" --); else QEMU_RUN_USER=root; fi
if [ ! -e /dev/kvm ]; then why="/dev/kvm does not exist"
elif ! { [ -c /dev/kvm ] && "${as_qemu_user[@]}" sh -c 'exec 3<>/dev/kvm' 2>/dev/null; }; then
  why="/dev/kvm exists but QEMU's user $QEMU_RUN_USER cannot open it read-write (udev normally gives it to group kvm, mode 0660)"
elif ! command -v qemu-system-x86_64 >/dev/null; then KVM=true
else
  probe_rc=0
  (cd / && timeout 1.5 "${as_qemu_user[@]}" qemu-system-x86_64 -accel kvm -cpu host -M pc -nodefaults -display none -no-reboot >/dev/null 2>&1) 2>/dev/null || probe_rc=$?
  if [ "$probe_rc" = 124 ]; then KVM=true; else why="/dev/kvm opens but a KVM guest with the host CPU does not run as $QEMU_RUN_USER (QEMU exit $probe_rc)"; fi
fi
# The hypervisor library reads this to choose the domain type (kvm or qemu).
write_file "$HOST_CONF" 0644 "$MARK: written by install-server.sh; read by the service's host probe
kvm=$([ "$KVM" = true ] && echo 1 || echo 0)"
if [ "$KVM" = true ]; then
  log "KVM: /dev/kvm is usable: guests use hardware virtualization; QEMU runs as libvirt's default unprivileged user"
  unset_conf "$QEMU_CONF" user
  [ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1
  unset_conf "$QEMU_CONF" group
  [ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1
else
  log "KVM: not usable ($why): guests need type='qemu' (software emulation)"
  log "KVM: QEMU runs as root (user/group \"root\" in $QEMU_CONF) so that libvirt does not re-probe QEMU on every call;"
  log "KVM: that is a security trade-off acceptable only on a development/CI host, never on a production node"
  set_conf "$QEMU_CONF" user '"root"'
  [ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1
  set_conf "$QEMU_CONF" group '"root"'
  [ "$WROTE" = 0 ] || LIBVIRT_CONF_CHANGED=1
fi

# Every VM's serial console is logged by virtlogd to DATA_DIR/disks/NAME.console.log (the service makes
# the file, as the automation user, before each start). virtlogd rolls a log over at max_size and keeps
# max_backups old ones, so a guest flooding its console fills at most (1 + max_backups) x max_size per VM;
# max_size 0 would disable rollover. These are virtlogd's defaults, made explicit (they also bound
# libvirt's own per-domain logs).
VIRTLOGD_CONF_CHANGED=0
set_conf "$VIRTLOGD_CONF" max_size 2097152
[ "$WROTE" = 0 ] || VIRTLOGD_CONF_CHANGED=1
set_conf "$VIRTLOGD_CONF" max_backups 3
[ "$WROTE" = 0 ] || VIRTLOGD_CONF_CHANGED=1

# ---------------------------------------------------------------------------------------------------
# 7. libvirt daemons
# ---------------------------------------------------------------------------------------------------
wait_libvirt() {
  local deadline=$((SECONDS + 30))
  until timeout 10 virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "libvirtd does not answer on $LIBVIRT_URI after 30 s"
    sleep 0.2
  done
}

if [ "$HAS_SYSTEMD" = 1 ]; then
  # The systemd socket unit owns the socket's permissions: restrict it to the libvirt group too
  # (its default 0666 with auth_unix_rw = "none" would give every local user root's libvirt).
  write_file "$LIBVIRT_SOCKET_DROPIN" 0644 "$MARK: only root and the libvirt group may use libvirt's read-write socket
[Socket]
SocketGroup=libvirt
SocketMode=0770"
  if [ "$WROTE" = 1 ]; then
    systemctl daemon-reload
    systemctl stop libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket 2>/dev/null || true
    systemctl enable --now virtlogd.socket libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket >&2
    systemctl enable --now libvirtd.service >&2
    changed "restarted libvirtd (systemd) with the new socket permissions"
  else
    for u in virtlogd.socket libvirtd.socket libvirtd.service; do
      if ! systemctl is-enabled --quiet "$u" 2>/dev/null; then
        systemctl enable "$u" >&2 2>&1
        changed "enabled $u"
      fi
    done
    if ! systemctl is-active --quiet libvirtd.service; then
      systemctl start libvirtd.service
      changed "started libvirtd (systemd)"
    elif [ "$LIBVIRT_CONF_CHANGED" = 1 ]; then
      systemctl restart libvirtd.service
      changed "restarted libvirtd (systemd) for its new configuration"
    fi
  fi
  if [ "$VIRTLOGD_CONF_CHANGED" = 1 ] && systemctl is-active --quiet virtlogd.service; then
    # Its reload is SIGUSR1: virtlogd re-executes itself keeping its clients and open logs.
    systemctl reload virtlogd.service
    changed "reloaded virtlogd (systemd) for its new configuration"
  fi
else
  mkdir -p /run/libvirt
  if pid=$(pid_of /run/virtlogd.pid virtlogd); then
    if [ "$VIRTLOGD_CONF_CHANGED" = 1 ]; then
      # SIGUSR1: virtlogd re-executes itself, reading its configuration, keeping its clients and open logs.
      kill -USR1 "$pid"
      changed "re-executed virtlogd (pid $pid) for its new configuration"
    fi
  else
    virtlogd -d 9>&-
    changed "started virtlogd"
  fi
  if pid=$(pid_of /run/libvirtd.pid libvirtd); then
    if [ "$LIBVIRT_CONF_CHANGED" = 1 ]; then
      log "restarting libvirtd (pid $pid) for its new configuration"
      stop_pid "$pid" libvirtd
      libvirtd -d 9>&-
      changed "restarted libvirtd"
    fi
  else
    if pidof libvirtd >/dev/null 2>&1; then
      die "a libvirtd runs without /run/libvirtd.pid; stop it or restart it yourself, then run this again"
    fi
    libvirtd -d 9>&-
    changed "started libvirtd"
  fi
fi
wait_libvirt
log "libvirtd answers on $LIBVIRT_URI"

# ---------------------------------------------------------------------------------------------------
# 8. sshd instance for the automation user
# ---------------------------------------------------------------------------------------------------
mkdir -p /run/sshd
chmod 0755 /run/sshd
if [ ! -f /etc/ssh/ssh_host_ed25519_key ] || [ ! -f /etc/ssh/ssh_host_ed25519_key.pub ]; then
  ssh-keygen -A
  changed "generated the missing SSH host keys"
fi
hostkeys=
for t in ed25519 ecdsa rsa; do
  [ -f "/etc/ssh/ssh_host_${t}_key" ] && hostkeys+="HostKey /etc/ssh/ssh_host_${t}_key"$'\n'
done
sshd_content="# Managed by install-server.sh (provisioner); rewritten when it differs. A separate sshd instance
# for the automation user only: the system sshd and its configuration are not touched.
Port $SSH_PORT
ListenAddress $LISTEN
PidFile $SSHD_PIDFILE
${hostkeys}AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PermitEmptyPasswords no
AllowUsers $PUSER
UsePAM no
MaxSessions 64
MaxStartups 64:30:128
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
PermitUserEnvironment no
PrintMotd no
ClientAliveInterval 30
ClientAliveCountMax 4
Subsystem sftp internal-sftp"

if [ ! -f "$SSHD_CONFIG" ] || ! cmp -s "$SSHD_CONFIG" <(printf '%s\n' "$sshd_content"); then
  tmp=$(new_tmp /etc/ssh)
  printf '%s\n' "$sshd_content" >"$tmp"
  if ! out=$(/usr/sbin/sshd -t -f "$tmp" 2>&1); then
    die "the generated sshd configuration is invalid: $out"
  fi
fi
write_file "$SSHD_CONFIG" 0644 "$sshd_content"
SSHD_CHANGED=$WROTE
/usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd -t -f $SSHD_CONFIG failed"

wait_sshd() { # wait_sshd OLD_PID: until the pidfile names a live sshd other than OLD_PID
  local old=${1-} i p
  for i in $(seq 1 100); do
    if p=$(pid_of "$SSHD_PIDFILE" sshd "$SSHD_CONFIG") && [ "$p" != "$old" ]; then return 0; fi
    sleep 0.1
  done
  die "sshd ($SSHD_CONFIG) did not start; is port $SSH_PORT on $LISTEN already in use?"
}

if [ "$HAS_SYSTEMD" = 1 ]; then
  write_file "$SSHD_UNIT" 0644 "$MARK: separate sshd for the automation user (install-server.sh)
[Unit]
Description=Provisioner automation sshd (separate instance, port $SSH_PORT)
After=network.target auditd.service

[Service]
ExecStartPre=/bin/mkdir -p /run/sshd
ExecStartPre=/usr/sbin/sshd -t -f $SSHD_CONFIG
ExecStart=/usr/sbin/sshd -D -f $SSHD_CONFIG
ExecReload=/usr/sbin/sshd -t -f $SSHD_CONFIG
ExecReload=/bin/kill -HUP \$MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
PIDFile=$SSHD_PIDFILE

[Install]
WantedBy=multi-user.target"
  UNIT_CHANGED=$WROTE
  [ "$UNIT_CHANGED" = 0 ] || systemctl daemon-reload
  if ! systemctl is-enabled --quiet provisioner-sshd.service 2>/dev/null; then
    systemctl enable provisioner-sshd.service >&2 2>&1
    changed "enabled provisioner-sshd.service"
  fi
  if ! systemctl is-active --quiet provisioner-sshd.service; then
    systemctl start provisioner-sshd.service
    changed "started provisioner-sshd.service"
  elif [ "$SSHD_CHANGED" = 1 ] || [ "$UNIT_CHANGED" = 1 ]; then
    systemctl restart provisioner-sshd.service
    changed "restarted provisioner-sshd.service for its new configuration"
  fi
else
  if pid=$(pid_of "$SSHD_PIDFILE" sshd "$SSHD_CONFIG"); then
    if [ "$SSHD_CHANGED" = 1 ]; then
      stop_pid "$pid" "sshd ($SSHD_CONFIG)"
      /usr/sbin/sshd -f "$SSHD_CONFIG" 9>&-
      wait_sshd "$pid"
      changed "restarted sshd ($SSHD_CONFIG) for its new configuration"
    fi
  else
    /usr/sbin/sshd -f "$SSHD_CONFIG" 9>&-
    wait_sshd ""
    changed "started sshd ($SSHD_CONFIG) on $LISTEN:$SSH_PORT"
  fi
fi
log "sshd for $PUSER listens on $LISTEN:$SSH_PORT ($SSHD_CONFIG)"

FINGERPRINT=$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub -E sha256 | awk '{print $2}')
[[ $FINGERPRINT == SHA256:* ]] || die "could not read the fingerprint of /etc/ssh/ssh_host_ed25519_key.pub"

# ---------------------------------------------------------------------------------------------------
# 9. libvirt network
# ---------------------------------------------------------------------------------------------------
net_field() { virsh_q net-info "$NETWORK" 2>/dev/null | awk -F': *' -v k="$1" '$1 == k { print $2 }'; }
if [ "$NETWORK" != none ]; then
  if ! virsh_q net-info "$NETWORK" >/dev/null 2>&1; then
    if [ "$NETWORK" = default ] && [ -f "$DEFAULT_NETWORK_XML" ]; then
      virsh_q net-define "$DEFAULT_NETWORK_XML" >/dev/null
      changed "defined libvirt network default from $DEFAULT_NETWORK_XML"
    else
      die "libvirt network '$NETWORK' is not defined; define it first (or use --network none)"
    fi
  fi
  if [ "$(net_field Autostart)" != yes ]; then
    virsh_q net-autostart "$NETWORK" >/dev/null
    changed "set libvirt network $NETWORK to autostart"
  fi
  if [ "$(net_field Active)" = yes ]; then
    log "libvirt network $NETWORK is active"
  elif out=$(virsh_q net-start "$NETWORK" 2>&1); then
    changed "started libvirt network $NETWORK"
  else
    warn "could not start libvirt network '$NETWORK' (common in containers without bridge/firewall permissions):"
    warn "  $(printf '%s' "$out" | tr '\n' ' ')"
    warn "  guests on this host need a network-less configuration (network: none) until it can start"
  fi
fi

# ---------------------------------------------------------------------------------------------------
# 10. Check that the automation user reaches libvirt, then report
# ---------------------------------------------------------------------------------------------------
if ! out=$(runuser -u "$PUSER" -- timeout 30 virsh -c "$LIBVIRT_URI" version 2>&1); then
  die "user $PUSER cannot reach $LIBVIRT_URI: $out"
fi
log "user $PUSER reaches $LIBVIRT_URI"

if [ "$LISTEN" = 0.0.0.0 ] || [ "$LISTEN" = :: ]; then
  ADDR=$SET_HOSTNAME
  if [ -z "$ADDR" ]; then
    for a in $(hostname -I 2>/dev/null || true); do
      case $a in 127.* | ::1 | fe80:*) ;; *) ADDR=$a && break ;; esac
    done
  fi
  [ -n "$ADDR" ] || ADDR=$(hostname -f 2>/dev/null || hostname)
else
  ADDR=$LISTEN
fi

if [ "$LOCAL" = 1 ]; then
  json_str() { # JSON string literal, or null when empty
    if [ -z "$1" ]; then printf 'null'; else printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; fi
  }
  host_json="{\"address\":$(json_str "$ADDR"),\"port\":$SSH_PORT,\"user\":$(json_str "$PUSER"),\"host_key_fingerprint\":$(json_str "$FINGERPRINT"),\"private_key_path\":$(json_str "$LOCAL_KEY"),\"images_dir\":$(json_str "$IMAGES_DIR"),\"disks_dir\":$(json_str "$DISKS_DIR"),\"libvirt_uri\":$(json_str "$LIBVIRT_URI"),\"kvm\":$KVM}"
  write_file "$LOCAL_DIR/host.json" 0600 "$host_json"
fi

if [ "$CHANGES" -eq 0 ]; then
  log "nothing changed: this host was already configured"
else
  log "done: $CHANGES change(s) made"
fi
printf 'provisioner-host address=%s port=%s user=%s host_key_fingerprint=%s\n' "$ADDR" "$SSH_PORT" "$PUSER" "$FINGERPRINT"
