#!/bin/sh
# Self-healing, peer restart: lanes on gw-a (start_action = "start",
# dpd_action = "restart", per-CPU SAs precreated, dpd_delay 3 s,
# dpd_timeout 6 s) against charon on gw-b. charon is killed, its kernel
# state flushed (a reboot) and started again; lanes finds the peer dead and
# is back with a new IKE SA, the fallback SA and one SA pair per CPU on both
# sides within dpd_timeout + 10 s, without any command.
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/heal.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
topo_up wire
heal_up
step "charon killed and restarted with no state"
for p in $(ip netns pids gw-b); do kill -9 "$p"; done
nsx gw-b ip xfrm state flush
nsx gw-b ip xfrm policy flush
t0=$(date +%s)
sleep 1
sw_start gw-b
heal_wait_back "$HEAL_SPI" "$t0" $((HEAL_DPD_TIMEOUT + 10))
heal_check_traffic
grep -E 'initiating again|IKE SA closed' "$IOP/gw-a.log" | tail -4
trap - EXIT
iop_result "strongswan lanes-initiator heal(peer-restart) ${HEAL_TOOK}s" PASS
