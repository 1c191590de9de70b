#!/bin/sh
# define URI NAME: defines a domain from the XML on stdin (`@@DEFINED`) unless one of that name exists;
# then prints `@@EXISTS` and its XML instead.
set -eu
if virsh -q -c "$1" domuuid "$2" >/dev/null 2>&1; then echo "@@EXISTS"; virsh -q -c "$1" dumpxml "$2"; exit 0; fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
virsh -q -c "$1" define "$tmp" >/dev/null
echo "@@DEFINED"

