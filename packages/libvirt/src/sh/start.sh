#!/bin/sh
# start URI NAME [CONSOLE_LOG]: makes the domain run. Prints `started`; one already running is left alone
# (`already`), a paused one is resumed (`resumed`), one its guest suspended to RAM (`pmsuspended`) is woken
# up (`woken`: `virsh dompmwakeup`, as a wake event would; restarting it would lose its memory). One shutting
# down (`in shutdown`) cannot be started until it is off: waited for, at most 60 s, then started; still
# shutting down after that is a failure a retry may get past (exit 1). CONSOLE_LOG, when given, is made
# ready first (prep_console_log) when the domain is started (not when resumed or woken: virtlogd has it open).
set -eu
. ./lib.sh
st=$(virsh -q -c "$1" domstate "$2")
if [ "$st" = "in shutdown" ]; then
  i=0
  while [ "$st" = "in shutdown" ]; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then echo "the domain is still shutting down after 60 s: start it once it is off" >&2; exit 1; fi
    sleep 0.2
    st=$(virsh -q -c "$1" domstate "$2")
  done
fi
case $st in
  running) echo already; exit 0 ;;
  paused) resume_paused "$1" "$2" || exit 1; echo resumed; exit 0 ;;
  pmsuspended) virsh -q -c "$1" dompmwakeup "$2" >/dev/null; echo woken; exit 0 ;;
esac
if [ -n "${3:-}" ]; then prep_console_log "$3"; fi
virsh -q -c "$1" start "$2" >/dev/null
echo started

