#!/bin/sh
# NAT rebinding through a real NAT: the wire namespace routes instead of
# bridging and masquerades gw-b (10.0.1.2, behind it) to its public address
# 10.0.0.2 with random source ports (nftables). charon on gw-b initiates a
# per-CPU tunnel to lanes on gw-a (responder); mid-tunnel the NAT's
# conntrack table is flushed, so gw-b's next packet leaves from a new
# port. lanes must move every installed ESP-in-UDP SA (per-CPU ones too) to
# the new port: ping resumes within 10 s and no outbound SA of gw-a still
# sends to the old port.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v nft >/dev/null || skip "no nft in this image"
command -v conntrack >/dev/null || skip "no conntrack in this image"
IOP_IPERF=0
GW_B_INSIDE=10.0.1.2
NAT_INSIDE=10.0.1.1
LN_START=none
SW_CONN_EXTRA='		dpd_delay = 2s'
trap iop_dump EXIT
topo_up wire

step "the wire becomes a NAT: gw-b at $GW_B_INSIDE behind $GW_B (masquerade, random ports)"
nsx wire ip link set dev wa nomaster
nsx wire ip link set dev wb nomaster
nsx wire ip link del br0
nsx wire ip addr add $GW_B/24 dev wa
nsx wire ip addr add $NAT_INSIDE/24 dev wb
nsx wire sysctl -qw net.ipv4.ip_forward=1
nsx gw-b ip addr flush dev wan
nsx gw-b ip addr add $GW_B_INSIDE/24 dev wan
nsx gw-b ip route replace default via $NAT_INSIDE dev wan
nsx gw-b ip route replace $NET_A via $NAT_INSIDE dev wan
nsx wire nft -f - <<'NFT' || die "nft ruleset"
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wa" ip saddr 10.0.1.0/24 ip protocol udp masquerade to :40000-49999 random
		oifname "wa" ip saddr 10.0.1.0/24 masquerade
	}
}
NFT
nsx gw-b ping -q -c 1 -W 2 $GW_A >/dev/null || die "gw-b cannot reach gw-a through the NAT"

# charon initiates from behind the NAT (start_action = trap|start: the trap
# also takes its per-CPU acquires) and uses its
# inside address; lanes answers (no trap: it cannot reach gw-b first).
iop_sw_conf gw-b
f=/etc/netns/gw-b/swanctl/swanctl.conf
sed -i -e "s/local_addrs = $GW_B/local_addrs = $GW_B_INSIDE/" -e 's/start_action = trap/start_action = trap|start/' "$f"
iop_lanes_conf gw-a
iop_lanes_start gw-a
sw_start gw-b

# nat_port: the public port of gw-b's IKE/ESP flow to gw-a's 4500.
nat_port() {
	nsx wire conntrack -L -p udp --orig-src $GW_B_INSIDE --orig-port-src 4500 2>/dev/null |
		grep -o 'dport=[0-9]*' | tail -1 | cut -d= -f2
}
i=0
until topo_ping 3; do
	i=$((i + 1))
	[ $i -lt 15 ] || die "no ping through the tunnel behind the NAT"
done
iop_drive_cpus
old=$(nat_port)
[ -n "$old" ] || { nsx wire conntrack -L; die "no NAT mapping of gw-b's port 4500"; }
nsx gw-a ip xfrm state | grep -q "dport $old" || { nsx gw-a ip xfrm state; die "gw-a's SAs do not send to the NAT port $old"; }
echo "gw-b's 4500 appears as $GW_B:$old; gw-a CPUs with SAs: $(iop_pcpu_list gw-a out)"
iop_expect_cpus gw-a "outbound SA" "$(iop_pcpu_list gw-a out)"

step "the NAT forgets its mappings (conntrack flush)"
nsx wire conntrack -F >/dev/null 2>&1 || die "conntrack -F"
t0=$(date +%s)
until nsx client ping -q -c 1 -W 1 $SERVER >/dev/null 2>&1; do
	[ $(($(date +%s) - t0)) -lt 10 ] || die "traffic did not resume within 10 s of the rebinding (NAT port now: $(nat_port))"
done
took=$(($(date +%s) - t0))
new=$(nat_port)
echo "traffic resumed $took s after the flush; gw-b now appears as $GW_B:$new"
[ -n "$new" ] && [ "$new" != "$old" ] || die "the NAT kept port $old (random ports expected a new one)"
iop_log_has gw-a 'peer moved' 5 || die "no 'peer moved' in the lanes log"
sleep 1
stale=$(nsx gw-a ip xfrm state | grep -c "dport $old")
fresh=$(nsx gw-a ip xfrm state | grep -c "dport $new")
echo "gw-a SAs to the old port: $stale, to the new one: $fresh"
[ "$stale" -eq 0 ] || { nsx gw-a ip xfrm state; die "$stale SAs of gw-a still send to the old port $old"; }
iop_drive_cpus
iop_expect_cpus gw-a "outbound SA after the rebinding" "$(iop_pcpu_list gw-a out)"
topo_ping 5 || die "ping after the rebinding"
ln_alive gw-a || die "lanes died"
trap - EXIT
iop_result "strongswan-initiator lanes nat-masquerade rebind resume ${took}s" PASS
