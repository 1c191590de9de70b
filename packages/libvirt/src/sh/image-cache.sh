#!/bin/bash
# image-cache DIR DISKS_DIR KEEP VERIFY PRUNE GRACE_MIN URI NAME…: maintains the image cache DIR for the
# catalog images NAME (each under the same lock as ensure-image). With VERIFY = 1 re-hashes each image's
# current version and removes it (and its link) when the content no longer matches its name; with PRUNE = 1
# removes each image's old versions that no VM disk in DISKS_DIR uses and no other name points to, beyond
# the KEEP newest and older than GRACE_MIN minutes.
# Which versions are in use comes from every domain's XML (a running domain's lists its disks' backing
# chain) and from `qemu-img info` of each disk. A running VM's disk belongs to QEMU's user (libvirt hands it
# over) and is 0600, so the automation user cannot read it: it counts as known only when a running domain's
# XML has it (a source with an `index`, which libvirt gives only live disks with their probed chain). Any
# other disk it cannot read, or domains it cannot list, and nothing is pruned this run: an unreadable disk's
# base would otherwise look unused.
# Output: `image NAME HEX|- SIZE ok|corrupt|-` per name, `pruned NAME HEX` per removed version and
# `prune-skipped WHY` per reason nothing was pruned.
set -u
dir=$1 disks=$2 keep=$3 verify=$4 prune=$5 grace=$6 uri=$7
shift 7
mkdir -p "$dir/by-name" "$dir/versions"
. ./lib.sh
# The versions named in a text (domain XML, qemu-img info): sha256-HEX files, and dl- files by their recorded hash.
hexes() {
  t=$(cat)
  printf '%s\n' "$t" | grep -o 'sha256-[0-9a-f]\{64\}' | sed 's/^sha256-//' | tr '\n' ' '
  for x in $(printf '%s\n' "$t" | grep -o 'dl-[A-Za-z0-9]\{6\}' | sort -u); do [ ! -f "$dir/$x.sha256" ] || printf '%s ' "$(cat "$dir/$x.sha256")"; done
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
  used="$used$(printf '%s\n' "$xml" | hexes)"
  for d in "$disks"/*.qcow2; do
    [ -f "$d" ] || continue
    if info=$(qemu-img info -U --output=json "$d" 2>/dev/null); then
      used="$used$(printf '%s\n' "$info" | hexes)"
    elif ! printf '%s\n' "$xml" | grep -qF "<source file='$d' index="; then
      echo "prune-skipped unreadable disk $d"
      prune=0
    fi
  done
fi
for name in "$@"; do
  exec 9>"$dir/.lock-$name"
  flock 9
  # A download's temporary file seen under the lock was left by one killed outright (ensure-image.sh).
  rm -f "$dir/.download-$name."??????
  link="$dir/by-name/$name"
  cur=
  if [ -L "$link" ]; then t=$(readlink "$link"); cur=${t#../}; fi
  case $cur in
    sha256-*) cur=${cur#sha256-} ;;
    dl-*)
      # Downloaded without a catalog checksum and not hashed yet (ensure-image.sh hashes it in the background):
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
    # Version names are hex digests (no blanks, no globs); ls -t orders them newest first.
    # shellcheck disable=SC2045
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
      for m in "$dir"/dl-*.sha256; do if [ -f "$m" ] && [ "$(cat "$m")" = "$v" ]; then rm -f "${m%.sha256}" "$m"; fi; done
      echo "pruned $name $v"
    done
  fi
  if [ -n "$cur" ]; then echo "image $name $cur $(stat -c %s "$dir/sha256-$cur") $verified"; else echo "image $name - 0 $verified"; fi
  exec 9>&-
done
