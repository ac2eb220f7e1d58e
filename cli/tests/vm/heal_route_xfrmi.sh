#!/bin/sh
# Route-based VPN: lanes (gw-a) creates the XFRM interface xfrm-gwb (if_id 42)
# for its per-CPU child and routes the peer's subnet through it; charon (gw-b)
# is an ordinary policy-based peer. Traffic from every CPU raises per-CPU
# acquires on the if_id policy, every CPU gets its SA pair, packets cross
# xfrm-gwb, and lanes removes the interface when it exits. A second child
# (192.168.3.0/24 <-> 192.168.4.0/24, one SA) shares the interface and
# its if_id: its traffic crosses xfrm-gwb too, on SAs of its own.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
modprobe -q xfrm_interface 2>/dev/null
IOP_IPERF=0
LN_CHILD_EXTRA='if_id_in = 42
if_id_out = 42
interface = "xfrm-gwb"
install_routes = true
[connections.peer.children.two]
local_ts = ["192.168.3.0/24"]
remote_ts = ["192.168.4.0/24"]
esp_proposals = ["'$SW_ESP'"]
start_action = "trap"
if_id_in = 42
if_id_out = 42
interface = "xfrm-gwb"
install_routes = true'
# The template's closing brace ends charon's second child.
SW_CHILD_EXTRA='}
			two {
				local_ts = 192.168.4.0/24
				remote_ts = 192.168.3.0/24
				esp_proposals = '$SW_ESP'
				start_action = trap'
trap iop_dump EXIT
topo_up wire
nsx client ip addr add 192.168.3.2/24 dev eth0
nsx gw-a ip addr add 192.168.3.1/24 dev lan
nsx server ip addr add 192.168.4.2/24 dev eth0
nsx gw-b ip addr add 192.168.4.1/24 dev lan
nsx gw-b ip route add 192.168.3.0/24 via $GW_A dev wan
iop_pcpu_run lanes strongswan
nsx gw-a ip -d link show xfrm-gwb | tee "$IOP/xfrmi.txt"
grep -q 'if_id 0x2a' "$IOP/xfrmi.txt" || die "xfrm-gwb missing or without if_id 42"
nsx gw-a ip route show $NET_B | grep -q 'dev xfrm-gwb' || { nsx gw-a ip route; die "no route to $NET_B through xfrm-gwb"; }
nsx gw-a ip xfrm policy | grep -c 'if_id 0x2a' | sed 's/^/policies with if_id 42: /'
nsx gw-a ip xfrm policy | grep -q 'if_id 0x2a' || die "no policy with if_id 42"
nsx gw-a ip xfrm state | grep -q 'if_id 0x2a' || die "no SA with if_id 42"
tx=$(nsx gw-a cat /sys/class/net/xfrm-gwb/statistics/tx_packets)
rx=$(nsx gw-a cat /sys/class/net/xfrm-gwb/statistics/rx_packets)
echo "xfrm-gwb: $tx packets out, $rx in"
[ "$tx" -gt 0 ] && [ "$rx" -gt 0 ] || die "no traffic through xfrm-gwb"
step "second child: 192.168.3.2 -> 192.168.4.2 through xfrm-gwb"
nsx gw-a ip route show 192.168.4.0/24 | grep -q 'dev xfrm-gwb' || die "no route to 192.168.4.0/24 through xfrm-gwb"
warm_two() { nsx client ping -q -c 1 -W 1 -I 192.168.3.2 192.168.4.2 >/dev/null 2>&1; }
i=0
until warm_two; do i=$((i + 1)); [ $i -ge 20 ] && die "no reply from 192.168.4.2 through the second child"; sleep 0.2; done
tx0=$(nsx gw-a cat /sys/class/net/xfrm-gwb/statistics/tx_packets)
nsx client ping -q -c 10 -i 0.05 -W 1 -I 192.168.3.2 192.168.4.2 | tail -2
tx1=$(nsx gw-a cat /sys/class/net/xfrm-gwb/statistics/tx_packets)
echo "xfrm-gwb: $((tx1 - tx0)) packets out during 10 pings of the second child"
[ $((tx1 - tx0)) -ge 10 ] || die "the second child's pings did not cross xfrm-gwb"
nsx gw-a ip xfrm policy | grep -A5 'src 192.168.3.0/24 dst 192.168.4.0/24' | grep -q 'if_id 0x2a' ||
	die "the second child's policy has no if_id 42"
step "SIGTERM: lanes removes the interface it created"
# $IOP/gw-a.pid is the shell running nsx; signal the daemon itself.
pid=$(pgrep -f "lanes -v --config $IOP/gw-a.toml") || die "no lanes daemon in gw-a"
kill "$pid"
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && die "lanes still running 10 s after SIGTERM"
grep -q 'XFRM interface removed' "$IOP/gw-a.log" || die "lanes did not report removing xfrm-gwb"
! nsx gw-a ip link show xfrm-gwb >/dev/null 2>&1 || die "lanes left xfrm-gwb behind"
iop_result "lanes route-based xfrmi per-cpu two-children" PASS
trap - EXIT
