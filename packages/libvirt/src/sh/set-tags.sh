#!/bin/sh
# set-tags URI NAME NS METADATA_XML DESCRIPTION: replaces the tags in the domain's metadata (namespace NS)
# and its legacy description, live too when it runs. Prints `ok`.
set -eu
st=$(virsh -q -c "$1" domstate "$2")
live=
case "$st" in running|paused|"in shutdown") live=--live ;; esac
virsh -q -c "$1" metadata "$2" --uri "$3" --key prov --set "$4" ${live:+"$live"} --config >/dev/null
virsh -q -c "$1" desc "$2" ${live:+"$live"} --config --new-desc "$5" >/dev/null
echo ok
