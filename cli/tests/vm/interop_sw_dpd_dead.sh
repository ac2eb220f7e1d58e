#!/bin/sh
# Interop dead peer detection, dead peer: lanes on gw-a
# (dpd_delay = 5s) and charon on gw-b; charon is killed. lanes' DPD gives up
# after its retransmission schedule (here 2 s, x1.5, 3 retries: about 16 s;
# the default schedule is unit-tested), removes the IKE SA and its kernel SAs,
# keeps its trap policies and keeps running.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
topo_up wire
iop_start strongswan gw-b
LN_DAEMON_EXTRA='retransmit_tries = 3
retransmit_timeout = 2
retransmit_base = 1.5' LN_DPD=5s iop_start lanes gw-a
warm_cpu 0 30 || die "no tunnel"
ln_json gw-a | grep -q '"state": "established"' || die "no IKE SA on gw-a"
for p in $(ip netns pids gw-b); do kill -9 "$p"; done
t0=$(date +%s)
while ln_json gw-a | grep -q '"spi_i"'; do
	[ $(($(date +%s) - t0)) -gt 60 ] && die "lanes still has the IKE SA $(($(date +%s) - t0)) s after the peer died"
	sleep 1
done
echo "lanes removed the dead peer's IKE SA after $(($(date +%s) - t0)) s"
sleep 1
iop_no_sas gw-a || die "SAs left in gw-a after DPD: $(nsx gw-a ip xfrm state)"
ln_alive gw-a || die "lanes died"
nsx gw-a ip xfrm policy | grep -q 'dir out' || die "trap policies gone after DPD"
trap - EXIT
iop_result "strongswan lanes-initiator dpd(peer-killed)" PASS
