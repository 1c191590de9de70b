#!/bin/sh
# snapshot-revert URI NAME SNAPSHOT CONSOLE_LOG: reverts to a snapshot: the disk, the domain definition
# saved with it and its power state (a running snapshot's memory too). Prints `reverted`. A console log
# virtlogd rolled over (root's) is replaced first, as start does.
set -eu
. ./lib.sh
# Only while the domain is off: an active one's (running, paused, shutting down) log is open in virtlogd.
case $(virsh -q -c "$1" domstate "$2") in running|paused|"in shutdown") ;; *) prep_console_log "$4" ;; esac
virsh -q -c "$1" snapshot-revert "$2" "$3" >/dev/null
echo reverted

