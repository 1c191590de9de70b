#!/bin/sh
# create-seed SEED INSTANCE_ID HOSTNAME: the NoCloud seed ISO (make_seed), 0600. User-data arrives on stdin
# (it may hold secrets: never in argv or a readable file).
set -eu
. ./lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_seed "$1" "$2" "$3" "$tmp"

