#!/bin/sh
# create-vm URI NAME IMAGES_DIR IMAGE SHA256 DISK DISK_BYTES SEED INSTANCE_ID BASE_FILE BASE_FORMAT
#           BASE_BYTES CONSOLE_LOG MINE XML BOUNDARY: a create's host work in ONE exec: the steps
# fetch-image (the cached image only: a missing one is `NEED-IMAGE` and nothing is made), create-disk,
# create-seed, define and start, then the domain as it now is. Each step is framed by `@@BOUNDARY BEGIN
# STEP` and `@@BOUNDARY END STEP` lines as it happens, so the caller reports real steps from one program.
# - Unless MINE is 1, a domain NAME is looked for first: when there is one, its XML follows
#   `@@BOUNDARY EXISTS` and nothing else is done (the caller tells whether it is its own, from an earlier
#   attempt, and runs again with MINE = 1; then define and start skip what exists).
# - IMAGE's cached version is `sha256-SHA256` when SHA256 is given, else what by-name/IMAGE points to; after
#   fetch-image comes `@@BOUNDARY IMAGE FILE SIZE`. The disk needs that version's format and virtual size:
#   BASE_FORMAT and BASE_BYTES, when BASE_FILE names it. Otherwise `@@BOUNDARY BASE-INFO FILE`, its
#   `qemu-img info --output=json` and `@@BOUNDARY NEED-BASE` follow and nothing is made: the caller reads
#   them (JSON is parsed there, not here) and runs again with them.
# - Every step is idempotent as its one-exec form is (create-disk, create-seed, define, start), whose lib.sh
#   functions it runs (make_disk, make_seed, prep_console_log, resume_paused; link_cached as ensure-image).
# User-data arrives on stdin (it may hold secrets); the domain XML is XML. At the end `@@BOUNDARY DOMAIN`,
# the domain's XML and its state (the last line).
set -eu
. ./lib.sh
uri=$1 n=$2 dir=$3 iname=$4 want=$5 disk=$6 bytes=$7 seed=$8 id=$9
bfile=${10} fmt=${11} vsize=${12} log=${13} mine=${14} xml=${15} b=${16}
v() { virsh -q -c "$uri" "$@"; }
say() { printf '@@%s %s\n' "$b" "$*"; }
if [ "$mine" != 1 ] && x=$(v dumpxml "$n" 2>/dev/null); then say EXISTS; printf '%s\n' "$x"; exit 0; fi
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
  # sha256-HEX, or dl-XXXXXX: downloaded without a catalog checksum, its hash maybe not known yet (ensure-image).
  t=$(readlink "$link"); file=${t#../}
  [ -f "$dir/$file" ] || file=
fi
if [ -z "$file" ]; then say NEED-IMAGE; exit 0; fi
base="$dir/$file"
say IMAGE "$file" "$(stat -c %s "$base")"
if [ "$bfile" != "$file" ]; then
  say BASE-INFO "$file"
  qemu-img info -U --output=json "$base"
  say NEED-BASE
  exit 0
fi
say END fetch-image
say BEGIN create-disk
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
# a full disk): resumed, as start does; started otherwise.
case $running in
  running) ;;
  paused) resume_paused "$uri" "$n" ;;
  *) prep_console_log "$log"; v start "$n" >/dev/null ;;
esac
say END start
say DOMAIN
# One virsh process for both (the name is a DNS label: nothing in it splits a virsh batch).
v "dumpxml $n; domstate $n"
