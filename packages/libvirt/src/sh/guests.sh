# shellcheck shell=sh
# The guest part shared by list-domains and guest-status, pulled in with `. ./guests.sh` (inlined as
# lib.sh is). The caller sets uri (libvirt URI), b (the output's boundary) and t (the agent timeout in
# seconds) and runs guests_init once; then `guest FLAG NAME` asks about one VM in the background, into a
# file of its own, and `guests_out` waits for them all and prints their sections in order. See
# guest-status.sh for what is asked and how it is framed.
# shellcheck disable=SC2154

# guests_init: the private directory the answers are written to (removed on exit), and no VM asked yet.
guests_init() {
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  gi=0
}
sec() { s=$1; shift; out=$("$@" 2>&1); rc=$?; printf '@@%s %s %s\n%s\n' "$b" "$s" "$rc" "$out"; return $rc; }
qa() { virsh -q -c "$uri" qemu-agent-command --timeout "$t" "$n" "$1"; }
readf() {
  sec "$1-OPEN" qa "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"$2\",\"mode\":\"r\"}}" || return 1
  h=$(printf '%s' "$out" | sed -n 's/^{"return":\([0-9]\{1,19\}\)}$/\1/p')
  [ -n "$h" ] || return 0
  sec "$1" qa "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":$h,\"count\":65536}}"
  qa "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null 2>&1
  return 0
}
guest() {
  f=$1 n=$2
  # At most 8 VMs asked at once (each is a few virsh processes): a host with hundreds of running VMs must
  # not get hundreds of processes from one listing. Batches of 8: a silent guest delays only its batch.
  if [ "$gi" -gt 0 ] && [ $((gi % 8)) -eq 0 ]; then wait; fi
  gi=$((gi + 1))
  (
    printf '@@%s VM %s\n' "$b" "$n"
    sec STATE virsh -q -c "$uri" domstate "$n" || exit 0
    [ "$out" = running ] || exit 0
    sec LEASE virsh -q -c "$uri" domifaddr "$n" --source lease
    sec ARP virsh -q -c "$uri" domifaddr "$n" --source arp
    [ "$f" = 1 ] || exit 0
    sec PING qa '{"execute":"guest-ping"}' || exit 0
    sec IFACES qa '{"execute":"guest-network-get-interfaces"}'
    readf RESULT /run/cloud-init/result.json || readf STATUS /run/cloud-init/status.json
  ) >"$tmp/$gi" 2>&1 &
}
guests_out() { wait; j=0; while [ "$j" -lt "$gi" ]; do j=$((j + 1)); cat "$tmp/$j"; done; }
