#!/bin/sh
# shutdown URI NAME TIMEOUT_MS: asks the guest to shut down (ACPI), polls until it is off, and powers it off
# after TIMEOUT_MS. Prints `already`, `graceful` or `forced`. A paused domain is resumed first, so its guest
# can act on the request; one that cannot be resumed cannot either, and is powered off at once.
set -u
. ./lib.sh
st=$(virsh -q -c "$1" domstate "$2") || exit 1
if [ "$st" = "shut off" ]; then echo already; exit 0; fi
t=$3
if [ "$st" = paused ] && ! resume_paused "$1" "$2"; then t=0; fi
virsh -q -c "$1" shutdown "$2" >/dev/null 2>&1
end=$(( $(date +%s%3N) + t ))
while [ "$(date +%s%3N)" -lt "$end" ]; do
  st=$(virsh -q -c "$1" domstate "$2") || exit 1
  if [ "$st" = "shut off" ]; then echo graceful; exit 0; fi
  sleep 0.2
done
virsh -q -c "$1" destroy "$2" >/dev/null 2>&1 || true
st=$(virsh -q -c "$1" domstate "$2") || exit 1
[ "$st" = "shut off" ] && { echo forced; exit 0; }
echo "still $st" >&2; exit 1

