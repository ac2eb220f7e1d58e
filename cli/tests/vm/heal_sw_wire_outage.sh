#!/bin/sh
# Self-healing, wire outage: lanes on gw-a (start_action = "start",
# dpd_action = "restart", per-CPU SAs precreated, dpd_delay 3 s,
# dpd_timeout 6 s, retransmit_timeout 2.0 / base 1.5) against charon on
# gw-b. The wire drops every packet (its bridge is down) for dpd_timeout + 5 s,
# then heals; lanes has found the peer dead meanwhile and is back with a new
# IKE SA and one SA pair per CPU on both sides within dpd_timeout + 10 s of
# the heal.
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/heal.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
topo_up wire
heal_up
outage=$((HEAL_DPD_TIMEOUT + 5))
step "the wire drops everything for $outage s"
nsx wire ip link set br0 down
sleep "$outage"
nsx wire ip link set br0 up
t0=$(date +%s)
grep -q 'initiating again' "$IOP/gw-a.log" || die "lanes did not find the peer dead during a $outage s outage"
heal_wait_back "$HEAL_SPI" "$t0" $((HEAL_DPD_TIMEOUT + 10))
heal_check_traffic
trap - EXIT
iop_result "strongswan lanes-initiator heal(wire-outage ${outage}s) ${HEAL_TOOK}s" PASS
