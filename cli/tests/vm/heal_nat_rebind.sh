#!/bin/sh
# NAT rebinding, lanes as initiator with forced encapsulation: charon (gw-b)
# sits behind a port-translating NAT emulated on the wire (stateless, so the
# mapping is exact; heal_nat_masq.sh runs a real masquerading NAT with lanes
# as responder): tc pedit rewrites
# gw-b's UDP source port 4500 to P and the destination port P back to 4500.
# Mid-tunnel the mapping changes to Q (the old one is gone, as after a
# conntrack flush with random ports). lanes (gw-a, encap = true) must move the
# tunnel to Q: ping resumes within 10 s and gw-a's outbound SA sends to Q.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v tc >/dev/null || skip "no tc"
IOP_IPERF=0
LN_ENCAP=true LN_PCPU=no SW_PCPU=no
SW_CONN_EXTRA='		encap = yes
		dpd_delay = 2s'
trap iop_dump EXIT
topo_up wire

# nat_map PORT: gw-b's 4500 appears as PORT on the wire (replacing any mapping).
nat_map() {
	nsx wire tc qdisc replace dev wb clsact
	nsx wire tc filter del dev wb ingress 2>/dev/null
	nsx wire tc filter del dev wb egress 2>/dev/null
	nsx wire tc filter add dev wb ingress protocol ip prio 1 u32 \
		match ip protocol 17 0xff match ip sport 4500 0xffff \
		action pedit ex munge udp sport set "$1" pipe action csum udp || die "tc ingress rule"
	nsx wire tc filter add dev wb egress protocol ip prio 1 u32 \
		match ip protocol 17 0xff match ip dport "$1" 0xffff \
		action pedit ex munge udp dport set 4500 pipe action csum udp || die "tc egress rule"
}
nat_map 40001
iop_start strongswan gw-b
iop_start lanes gw-a
iop_poke
i=0
until topo_ping 3; do
	i=$((i + 1))
	[ $i -lt 10 ] || die "no ping through the tunnel behind the NAT"
done
nsx gw-a ip xfrm state | grep -q 'dport 40001' || { nsx gw-a ip xfrm state; die "gw-a's SA does not send to the NAT port 40001"; }
step "the NAT forgets the mapping: gw-b now appears from port 40777"
nat_map 40777
t0=$(date +%s)
until nsx client ping -q -c 1 -W 1 $SERVER >/dev/null 2>&1; do
	[ $(($(date +%s) - t0)) -lt 10 ] || die "traffic did not resume within 10 s of the rebinding"
done
echo "traffic resumed $(($(date +%s) - t0)) s after the rebinding"
nsx gw-a ip xfrm state | grep -q 'dport 40777' || { nsx gw-a ip xfrm state; die "gw-a's outbound SA does not send to 40777"; }
iop_log_has gw-a 'peer moved' 1 || die "no 'peer moved' in the lanes log"
topo_ping 5 || die "ping after the rebinding"
iop_result "lanes nat-rebind encap resume<10s" PASS
trap - EXIT
