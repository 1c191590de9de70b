#!/bin/sh
# create-disk DISK FORMAT BASE SIZE: the VM disk, a qcow2 overlay on BASE (make_disk). Prints `created`, or
# `exists` for a disk left as it is.
set -eu
. ./lib.sh
if [ -e "$1" ]; then echo exists; exit 0; fi
make_disk "$1" "$2" "$3" "$4"
echo created

