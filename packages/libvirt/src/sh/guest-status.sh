#!/bin/sh
# guest-status URI BOUNDARY AGENT_TIMEOUT_S [FLAG NAME]…: guest readiness of many VMs in ONE exec. For each
# `FLAG NAME` pair, in parallel (so a silent guest costs one agent timeout for the whole call, not one per
# VM), the domain's state and, when it runs, its DHCP lease and ARP addresses (`virsh domifaddr`) and, when
# FLAG is 1, its guest agent: a ping, the agent's interfaces, and cloud-init's /run/cloud-init/result.json
# (else status.json) read through guest-file-open/-read/-close. Every agent call carries
# `--timeout AGENT_TIMEOUT_S`; one unanswered ping skips the rest. The paths and JSON are constants; the only
# value pasted into an agent command is the file handle, after checking it is digits.
# Output: `@@BOUNDARY VM NAME`, then per step `@@BOUNDARY STEP EXIT` and the step's output (stdout and
# stderr); then `@@BOUNDARY DONE`. The boundary is random per run: what a guest says (its interface names,
# its files) cannot know it.
set -u
uri=$1 b=$2 t=$3
shift 3
. ./guests.sh
guests_init
while [ "$#" -ge 2 ]; do guest "$1" "$2"; shift 2; done
guests_out
echo "@@$b DONE"
