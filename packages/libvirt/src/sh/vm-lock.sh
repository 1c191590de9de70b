#!/bin/sh
# vm-lock FILE WAIT_S ARGV…: runs ARGV (exec, same process, same process group) holding an exclusive flock
# on FILE, the VM's own lock file on the host. Two runs of one step on one VM (a job a stalled worker still
# runs while another worker took it over) can then never overlap: the second waits until the first is done
# or killed (its process group dies, and the lock with it), for at most WAIT_S seconds, then exits 75
# (`vm-locked` on stderr). FILE is removed by the VM's undefine while it holds the lock; a waiter that then
# gets the lock of the removed file sees that FILE is another file now, and locks that one instead.
set -u
f=$1 w=$2
shift 2
[ -d "${f%/*}/" ] || mkdir -p "${f%/*}/"
while :; do
  exec 8>>"$f"
  flock -w "$w" 8 || { echo "vm-locked: another run holds the VM's lock $f" >&2; exit 75; }
  # -ef is not POSIX, but dash and bash (the scripts' shells) both have it: no stat processes per command.
  # shellcheck disable=SC3013
  [ "$f" -ef /dev/fd/8 ] && break
done
exec "$@"

