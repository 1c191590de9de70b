#!/bin/bash
# ensure-image DIR NAME URL SHA256 REFRESH [LATER]: caches image NAME from URL in the image cache DIR.
# Downloaded to a temporary name with curl writing the file itself (no pipe: on a busy host a pipeline
# through tee and a hasher competes with curl for the CPU and made the download 1.6x slower at loopback
# speed). With a catalog checksum SHA256 the file is hashed right after and used only if it matches, under
# its content hash `sha256-HEX`; so is one without, unless LATER is 1 (a create waiting for it): then it is
# usable once complete, as `dl-XXXXXX` (by-name/NAME points there), and is hashed off the critical path by
# this same script run again detached (`ensure-image DIR NAME "" "" 0 0 hash FILE`): it hard-links the file
# as `sha256-HEX` (same inode: disks backed by `dl-XXXXXX` stay valid), records the hash in
# `dl-XXXXXX.sha256` and repoints by-name/NAME, unless another version replaced it meanwhile. REFRESH = 1
# downloads again an image without a checksum that is cached. A lock per image name makes concurrent
# callers on one host download it once.
# Output: `cached|downloaded FILE SIZE`, FILE being `sha256-HEX` or `dl-XXXXXX`, then `qemu-img info
# --output=json` of FILE (nothing when it cannot read it): the caller learns the base's format and virtual
# size. Exit 3: checksum mismatch; exit 4: curl failed (`curl-exit=N` on stderr); exit 5: no room left on
# the images' file system (`disk-full:` on stderr).
# The temporary file (`.download-NAME.XXXXXX`) is removed on every way out, a failure, a cancel or a
# timeout (TERM) included; one left by a download killed outright is removed by the next run for the name
# (here or image-cache), under its lock.
set -eu
dir=$1 name=$2 url=$3 want=$4 refresh=$5 later=${6:-0}
mkdir -p "$dir/by-name"
link="$dir/by-name/$name"
. ./lib.sh
point() { link_cached "$dir" "$name" "$1"; }
hash_later() { setsid bash -c "$BASH_EXECUTION_STRING" ensure-image "$dir" "$name" "" "" 0 0 hash "$1" </dev/null >/dev/null 2>&1 9>&- & }
if [ "${7:-}" = hash ]; then
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
report() { echo "$1 $2 $(stat -c %s "$dir/$2")"; qemu-img info -U --output=json "$dir/$2" 2>/dev/null || true; }
if [ -n "$want" ] && [ -f "$dir/sha256-$want" ]; then point "sha256-$want"; report cached "sha256-$want"; exit 0; fi
if [ -z "$want" ] && [ "$refresh" = 0 ] && [ -f "$link" ]; then
  t=$(readlink "$link"); f=${t#../}
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
f="dl-${tmp##*.}"
mv -f "$tmp" "$dir/$f"
tmp=
point "$f"
hash_later "$f"
report downloaded "$f"
