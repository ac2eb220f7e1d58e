# The tunnel topology, as reusable shell functions.
# Source with: . /lanes/scripts/lib/topo.sh
#
#   client --lan-- gw-a ==wan== [wire] ==wan== gw-b --lan-- server
#
# namespace  interface  address          notes
# client     eth0       192.168.1.2/24   default via 192.168.1.1
# gw-a       lan        192.168.1.1/24   protects 192.168.1.0/24 (vectors' A)
# gw-a       wan        10.0.0.1/24      IKE/ESP endpoint A
# wire       wa, wb, br0 (no address)    bridge wa<->wb; "wire" topology only
# gw-b       wan        10.0.0.2/24      IKE/ESP endpoint B
# gw-b       lan        192.168.2.1/24   protects 192.168.2.0/24 (vectors' B)
# server     eth0       192.168.2.2/24   default via 192.168.2.1
#
# The addresses match the shared strongSwan vectors (A = 10.0.0.1 protects
# 192.168.1.0/24, B = 10.0.0.2 protects 192.168.2.0/24).
# "direct": gw-a wan and gw-b wan are one veth pair: a packet is received on
# the CPU that sent it (like a NIC whose RSS hashes the SPI).
# "wire": both wan links end in the wire namespace's bridge; topo_pin_wire N
# makes every packet the wire receives run on CPU N (RPS), and gw-b's
# receive path then follows on that CPU (a NIC whose RSS puts the whole
# tunnel on one queue).
# "split" (testbed): the wire topology with each side on its own CPUs, as
# on two machines: client and gw-a send on CPUs 0..N-1, the wire delivers
# to gw-b on CPU N, server runs on N..2N-1 (topo_pin_wire N 0).

. "${LANES_ROOT:-/lanes}/scripts/lib/common.sh"

CLIENT=192.168.1.2
GW_A_LAN=192.168.1.1
GW_A=10.0.0.1
GW_B=10.0.0.2
GW_B_LAN=192.168.2.1
SERVER=192.168.2.2
NET_A=192.168.1.0/24
NET_B=192.168.2.0/24
TOPO_NS="client gw-a gw-b server"

# nsx NS CMD...: runs CMD in namespace NS.
nsx() { local _ns="$1"; shift; ip netns exec "$_ns" "$@"; }

_ns_add() {
	ip netns add "$1" || die "ip netns add $1"
	nsx "$1" ip link set dev lo up
	nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	nsx "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# topo_up [direct|wire]: builds the namespaces (default: wire).
topo_up() {
	local mode="${1:-wire}" ns
	for ns in $TOPO_NS; do _ns_add "$ns"; done
	ip link add eth0 netns client type veth peer name lan netns gw-a
	ip link add eth0 netns server type veth peer name lan netns gw-b
	if [ "$mode" = direct ]; then
		ip link add wan netns gw-a type veth peer name wan netns gw-b
	else
		_ns_add wire
		ip link add wan netns gw-a type veth peer name wa netns wire
		ip link add wan netns gw-b type veth peer name wb netns wire
		nsx wire ip link add br0 type bridge forward_delay 0 stp_state 0
		nsx wire ip link set dev wa master br0
		nsx wire ip link set dev wb master br0
		for i in wa wb br0; do nsx wire ip link set dev "$i" up; done
	fi
	nsx client ip addr add $CLIENT/24 dev eth0
	nsx gw-a ip addr add $GW_A_LAN/24 dev lan
	nsx gw-a ip addr add $GW_A/24 dev wan
	nsx gw-b ip addr add $GW_B/24 dev wan
	nsx gw-b ip addr add $GW_B_LAN/24 dev lan
	nsx server ip addr add $SERVER/24 dev eth0
	for ns in client server; do nsx $ns ip link set dev eth0 up; done
	for ns in gw-a gw-b; do
		nsx $ns ip link set dev lan up
		nsx $ns ip link set dev wan up
		nsx $ns sysctl -qw net.ipv4.ip_forward=1
	done
	nsx client ip route add default via $GW_A_LAN
	nsx server ip route add default via $GW_B_LAN
	nsx gw-a ip route add $NET_B via $GW_B dev wan
	nsx gw-b ip route add $NET_A via $GW_A dev wan
	TOPO_MODE=$mode
}

# topo_pin_wire CPU [BACK]: every packet the wire receives from gw-a is
# processed on CPU, every packet from gw-b on BACK (default CPU), by RPS on
# the wire's receive queues.
topo_pin_wire() {
	_pin_rps wa "$1"
	_pin_rps wb "${2:-$1}"
}

# topo_rfs NS IFACE CPUS: receive flow steering on IFACE in NS: each flow's
# packets are processed on the CPU where its socket's reader runs, within
# CPUS ("0-1"), as on a host whose NIC does aRFS. The testbed's split
# topology gives client and server RFS so each TCP stream's stack work stays
# with its pinned iperf3 (kernel Documentation/networking/scaling.rst).
topo_rfs() {
	local mask=0 c
	for c in $(seq ${3%-*} ${3#*-}); do mask=$((mask | (1 << c))); done
	# Global (init netns only); already set is fine.
	[ "$(cat /proc/sys/net/core/rps_sock_flow_entries 2>/dev/null || echo 0)" -gt 0 ] ||
		echo 32768 >/proc/sys/net/core/rps_sock_flow_entries 2>/dev/null ||
		{ echo "note: no RFS (net.core.rps_sock_flow_entries is not writable here)" >&2; return 0; }
	nsx "$1" sh -c "printf '%x' $mask > /sys/class/net/$2/queues/rx-0/rps_cpus &&
		echo 4096 > /sys/class/net/$2/queues/rx-0/rps_flow_cnt" ||
		die "cannot set RFS on $1 $2"
}

_pin_rps() { # IFACE CPU (in the wire namespace)
	nsx wire sh -c "printf '%x' $((1 << $2)) > /sys/class/net/$1/queues/rx-0/rps_cpus" ||
		die "cannot pin the wire's $1 to CPU $2"
}

# topo_down: removes the namespaces and what runs in them.
topo_down() { lanes_reset; }

# topo_ping [COUNT]: pings the server from the client; fails if none answer.
topo_ping() {
	nsx client ping -q -c "${1:-3}" -i 0.2 -W 2 $SERVER >/dev/null
}

# ncpus: the guest's CPU count.
ncpus() { nproc; }
