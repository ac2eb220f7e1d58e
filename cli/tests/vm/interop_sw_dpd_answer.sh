#!/bin/sh
# Interop dead peer detection, live side: charon on gw-a
# (dpd_delay = 3s) checks lanes on gw-b; lanes answers every liveness check,
# the IKE SA and the tunnel stay up.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
topo_up wire
SW_CONN_EXTRA='dpd_delay = 3s' iop_start strongswan gw-a
iop_start lanes gw-b
warm_cpu 0 30 || die "no tunnel"
sleep 20
grep -E 'dpd|DPD|INFORMATIONAL' /tmp/charon-gw-a.log | tail -6
n=$(grep -cE 'sending DPD request|generating INFORMATIONAL request' /tmp/charon-gw-a.log)
echo "charon sent $n DPD requests"
[ "$n" -ge 1 ] || die "charon sent no DPD request in 20 s (dpd_delay = 3s)"
sw gw-a --list-sas | grep -q ESTABLISHED || die "charon dropped the IKE SA: lanes did not answer its DPD"
grep -q 'giving up after' /tmp/charon-gw-a.log && die "charon gave up on lanes"
topo_ping 3 || die "tunnel broken after DPD exchanges"
trap - EXIT
iop_result "strongswan lanes-responder dpd(answered)" PASS
