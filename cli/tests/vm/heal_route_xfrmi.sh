#!/bin/sh
# Route-based VPN: lanes (gw-a) creates the XFRM interface xfrm-gwb (if_id 42)
# for its per-CPU child and routes the peer's subnet through it; charon (gw-b)
# is an ordinary policy-based peer. Traffic from every CPU raises per-CPU
# acquires on the if_id policy, every CPU gets its SA pair, packets cross
# xfrm-gwb, and lanes removes the interface when it exits.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
modprobe -q xfrm_interface 2>/dev/null
IOP_IPERF=0
LN_CHILD_EXTRA='if_id_in = 42
if_id_out = 42
interface = "xfrm-gwb"
install_routes = true'
trap iop_dump EXIT
topo_up wire
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
step "SIGTERM: lanes removes the interface it created"
# $IOP/gw-a.pid is the shell running nsx; signal the daemon itself.
pid=$(pgrep -f "lanes -v --config $IOP/gw-a.toml") || die "no lanes daemon in gw-a"
kill "$pid"
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && die "lanes still running 10 s after SIGTERM"
grep -q 'XFRM interface removed' "$IOP/gw-a.log" || die "lanes did not report removing xfrm-gwb"
! nsx gw-a ip link show xfrm-gwb >/dev/null 2>&1 || die "lanes left xfrm-gwb behind"
iop_result "lanes route-based xfrmi per-cpu" PASS
trap - EXIT
