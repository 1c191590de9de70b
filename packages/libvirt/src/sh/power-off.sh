#!/bin/sh
# power-off URI NAME: hard power-off (`virsh destroy`): `stopped`; a domain that is not running is left
# alone (`already`).
set -eu
st=$(virsh -q -c "$1" domstate "$2")
if [ "$st" = "shut off" ]; then echo already; exit 0; fi
virsh -q -c "$1" destroy "$2" >/dev/null
echo stopped

