#!/bin/sh
# IPv6 end to end: the per-CPU tunnel over IPv6 outer addresses (fd00:10::/64
# on the wan) with IPv6 inner selectors (fd00:1::/64 <-> fd00:2::/64), lanes
# initiator then lanes responder against charon. Each case checks one SA
# pair per CPU on both sides, the fallback SA, ping -6 through the tunnel and
# ESP on the wire. The initiator case has a second child with IPv4 selectors
# over the same IPv6 outer addresses (4-in-6); in the responder case lanes'
# XDP steering on gw-b's wan must steer the inbound ESP-over-IPv6 packets by
# SPI. HEAL6_LANES=1 adds lanes against lanes (not in the CI run: time).
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
modprobe -q esp6
modprobe -q xfrm6_tunnel 2>/dev/null
IOP_IPERF=0
GW_A6=fd00:10::1 GW_B6=fd00:10::2
V4_CLIENT=$CLIENT V4_SERVER=$SERVER V4_NET_A=$NET_A V4_NET_B=$NET_B V4_GW_A=$GW_A V4_GW_B=$GW_B

# topo6: IPv6 enabled and addressed (no DAD) on the wire topology (built
# before), then GW_A/GW_B (outer) and CLIENT/SERVER/NET_A/NET_B (inner)
# pointed at the IPv6 ones for the shared helpers.
topo6() {
	for ns in client gw-a gw-b server; do
		nsx $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
	done
	nsx client ip -6 addr add fd00:1::2/64 dev eth0 nodad
	nsx gw-a ip -6 addr add fd00:1::1/64 dev lan nodad
	nsx gw-a ip -6 addr add $GW_A6/64 dev wan nodad
	nsx gw-b ip -6 addr add $GW_B6/64 dev wan nodad
	nsx gw-b ip -6 addr add fd00:2::1/64 dev lan nodad
	nsx server ip -6 addr add fd00:2::2/64 dev eth0 nodad
	for ns in gw-a gw-b; do nsx $ns sysctl -qw net.ipv6.conf.all.forwarding=1; done
	nsx client ip -6 route add default via fd00:1::1
	nsx server ip -6 route add default via fd00:2::1
	nsx gw-a ip -6 route add fd00:2::/64 via $GW_B6 dev wan
	nsx gw-b ip -6 route add fd00:1::/64 via $GW_A6 dev wan
	GW_A=$GW_A6 GW_B=$GW_B6
	CLIENT=fd00:1::2 SERVER=fd00:2::2 NET_A=fd00:1::/64 NET_B=fd00:2::/64
}

# reset6: iop_reset (which builds the IPv4 topology from the IPv4 values).
reset6() {
	GW_A=$V4_GW_A GW_B=$V4_GW_B CLIENT=$V4_CLIENT SERVER=$V4_SERVER NET_A=$V4_NET_A NET_B=$V4_NET_B
	iop_reset
}

# v6_outer NS: every SA of NS has IPv6 outer addresses, and there is one.
v6_outer() {
	n=$(nsx "$1" ip xfrm state | grep -c "^src $GW_A6 dst $GW_B6\|^src $GW_B6 dst $GW_A6")
	echo "$1: $n SAs between $GW_A6 and $GW_B6"
	[ "$n" -gt 0 ] || die "$1: no SA with IPv6 outer addresses"
	! nsx "$1" ip xfrm state | grep -q '^src 10\.0\.0\.' || die "$1: an SA with IPv4 outer addresses"
}

trap iop_dump EXIT
step "IPv6 in IPv6 and IPv4 in IPv6: lanes initiator, charon responder"
topo_up wire
topo6
LN_CHILD_EXTRA='[connections.peer.children.net4]
local_ts = ["192.168.1.0/24"]
remote_ts = ["192.168.2.0/24"]
esp_proposals = ["'$SW_ESP'"]
start_action = "trap"'
# The template's closing brace ends charon's second child.
SW_CHILD_EXTRA='}
			net4 {
				local_ts = 192.168.2.0/24
				remote_ts = 192.168.1.0/24
				esp_proposals = '$SW_ESP'
				start_action = trap'
iop_pcpu_run lanes strongswan
nsx client ping -6 -q -c 3 -i 0.2 -W 2 $SERVER || die "ping -6 through the tunnel"
iop_result "strongswan lanes-initiator ipv6-in-ipv6 per-cpu" PASS
step "IPv4 in IPv6: $V4_CLIENT -> $V4_SERVER on the second child"
i=0
until nsx client ping -q -c 1 -W 1 $V4_SERVER >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -ge 20 ] && die "no reply from $V4_SERVER through the 4-in-6 child"; sleep 0.2
done
nsx client ping -q -c 5 -i 0.1 -W 1 $V4_SERVER | tail -2
nsx gw-a ip xfrm policy | grep -A4 "src $V4_NET_A dst $V4_NET_B" | grep -q "tmpl src $GW_A6 dst $GW_B6" ||
	die "no IPv4 policy with an IPv6 template on gw-a"
v6_outer gw-a
v6_outer gw-b
iop_result "strongswan lanes-initiator ipv4-in-ipv6" PASS
LN_CHILD_EXTRA= SW_CHILD_EXTRA=

step "IPv6 in IPv6: charon initiator, lanes responder with XDP steering"
reset6
topo6
iop_pcpu_run strongswan lanes
v6_outer gw-b
att=$(nsx gw-b lanes steer attach wan --mode skb 2>&1) || { echo "$att"; die "lanes steer attach wan"; }
ln_json gw-b | awk -F'"' '/"spi_in"/ { spi = $4 } /"cpu": [0-9]/ { gsub(/[^0-9]/, "", $3); print spi, $3 }' >"$IOP/binds"
[ -s "$IOP/binds" ] || die "no per-CPU Child SAs in gw-b's status to bind"
while read -r spi cpu; do
	nsx gw-b lanes steer bind "0x${spi#0x}" "$cpu" --dst $GW_B || die "lanes steer bind 0x$spi $cpu --dst $GW_B"
done <"$IOP/binds"
for c in $(all_cpus); do
	nsx client taskset -c "$c" ping -6 -q -c 10 -i 0.05 -W 1 $SERVER >/dev/null || die "ping -6 from CPU $c with steering"
done
nsx gw-b lanes steer status --json >"$IOP/steer.json"
steered=$(awk '/"steered"/ { s = 1 } s && /"total"/ { gsub(/[^0-9]/, ""); print; exit }' "$IOP/steer.json")
unknown=$(awk '/"passed_unknown_spi"/ { s = 1 } s && /"total"/ { gsub(/[^0-9]/, ""); print; exit }' "$IOP/steer.json")
echo "XDP on gw-b wan: $steered ESP-over-IPv6 packets steered, $unknown with an unknown SPI"
[ "${steered:-0}" -gt 0 ] || { cat "$IOP/steer.json"; die "XDP steered no ESP-over-IPv6 packet"; }
iop_result "strongswan lanes-responder ipv6-in-ipv6 per-cpu xdp-steer" PASS

if [ "${HEAL6_LANES:-0}" = 1 ]; then
	step "IPv6 in IPv6: lanes against lanes"
	reset6
	topo6
	iop_pcpu_run lanes lanes
	v6_outer gw-a
	v6_outer gw-b
	iop_result "lanes lanes ipv6-in-ipv6 per-cpu" PASS
fi
trap - EXIT
