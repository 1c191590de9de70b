#!/bin/sh
# guest-ready URI BOUNDARY AGENT_TIMEOUT_S BYTES [NAME CONSOLE_LOG]…: what a create waiting for its guest
# reads, for every VM waiting on the host in ONE exec: guest-status.sh's sections (domain state, addresses,
# agent ping, cloud-init's result) for each NAME, asking its agent, and, for each, the cloud-init "finished"
# lines found in the last BYTES of its console log CONSOLE_LOG (console-tail.sh's choice of file: the log,
# or its newest backup `.0` when virtlogd rolled it over and the log is not readable).
# Output: per VM `@@BOUNDARY CONSOLE NAME` and the matching lines (none when nothing matched or no log is
# readable); then guest-status.sh's sections; then `@@BOUNDARY DONE`.
set -u
uri=$1 b=$2 t=$3 bytes=$4
shift 4
. ./guests.sh
guests_init
odd=1
for a in "$@"; do
  if [ "$odd" = 1 ]; then guest 1 "$a"; fi
  odd=$((1 - odd))
done
while [ "$#" -ge 2 ]; do
  printf '@@%s CONSOLE %s\n' "$b" "$1"
  log=$2
  if [ ! -r "$log" ] && [ -e "$log" ]; then log=$2.0; fi
  if [ -r "$log" ]; then tail -c "$bytes" "$log" | grep -aoE 'Cloud-init v\. [^[:space:]]+ finished at ' | tail -n 1; fi
  shift 2
done
guests_out
echo "@@$b DONE"
