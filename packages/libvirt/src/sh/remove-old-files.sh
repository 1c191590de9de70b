#!/bin/sh
# remove-old-files DISKS_DIR CUTOFF NAME…: removes the files NAME of DISKS_DIR, each only if it was last
# modified before CUTOFF (epoch seconds): a file a create in flight is writing is younger and stays.
# Prints the path of each file removed.
d=$1 cutoff=$2
shift 2
for f in "$@"; do find "$d" -maxdepth 1 -type f -name "$f" ! -newermt "@$cutoff" -print -delete; done

