#!/bin/sh
# Interop ESP-in-UDP against strongSwan charon, both roles:
# encap = yes on both sides (RFC 3948 without a NAT), per-CPU SAs with
# strongSwan's `per_cpu_sas = encap` (each of its outbound per-CPU SAs gets
# its own random UDP source port) and lanes' per_cpu_sas = yes. Checks the
# per-CPU SA pairs, traffic, ESP-in-UDP (and no plain ESP) on the wire, and
# prints strongSwan's source ports.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
IOP_IPERF=0
LN_ENCAP=true SW_PCPU=encap SW_CONN_EXTRA='encap = yes'
trap iop_dump EXIT
for role in initiator responder; do
	if [ $role = initiator ]; then
		topo_up wire
		step "lanes initiator (gw-a), strongSwan responder (gw-b), encap"
		iop_pcpu_run lanes strongswan
		sw_ip=$GW_B
	else
		iop_reset
		step "strongSwan initiator (gw-a), lanes responder (gw-b), encap"
		iop_pcpu_run strongswan lanes
		sw_ip=$GW_A
	fi
	ports=$(tcpdump -nr "$IOP/wire.pcap" "src host $sw_ip and udp port 4500 and udp[8:4] != 0" 2>/dev/null |
		awk '{ n = split($3, a, "."); print a[n] }' | sort -u | tr '\n' ' ')
	echo "strongSwan's ESP-in-UDP source ports: $ports"
	[ -n "$ports" ] || die "no ESP-in-UDP from strongSwan on the wire"
	iop_result "strongswan lanes-$role encap per-cpu(sw=encap)" PASS
done
trap - EXIT
