# lanes as a gateway (the hook the demo and the testbed use once the daemon
# can run a per-CPU tunnel). Source after topo.sh and strongswan.sh.
#
# lanes_start NS: start lanes in NS with the same tunnel sw_config writes
# for strongSwan (PSK, ids, subnets, per-CPU SAs). Until the daemon is
# wired here this fails with a clear message; implement it by writing a
# lanes config to /etc/netns/NS/lanes.toml and running
#   ip netns exec NS lanes daemon --config /etc/lanes.toml &
lanes_start() {
	command -v lanes >/dev/null || die "no lanes binary in the payload"
	die "lanes as a gateway is not wired into the VM scripts yet (xtask/guest/lib/lanes.sh: lanes_start)"
}

# gw_start KIND NS: start the IKE daemon KIND (strongswan|lanes) in NS.
gw_start() {
	case $1 in
	strongswan) sw_start "$2" ;;
	lanes) lanes_start "$2" ;;
	*) die "unknown gateway kind $1" ;;
	esac
}

# gw_stop NS: stop whatever runs in NS and remove its SAs and policies.
gw_stop() {
	for p in $(ip netns pids "$1" 2>/dev/null); do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	nsx "$1" ip xfrm state flush
	nsx "$1" ip xfrm policy flush
}

# steer_on NS IFACE: attach lanes' XDP steering to IFACE in NS and bind the
# inbound per-CPU SAs to their CPUs. Returns 2 (with a note on stdout) while
# `lanes steer attach` does not exist yet, so callers can skip cleanly.
steer_on() {
	if ! command -v lanes >/dev/null || ! lanes steer attach --help >/dev/null 2>&1; then
		echo "lanes steer attach is not available yet"
		return 2
	fi
	nsx "$1" lanes steer attach "$2" || return 1
	nsx "$1" lanes steer bind --from-xfrm || return 1
}

# steer_off NS IFACE: detach the steering program.
steer_off() { nsx "$1" lanes steer detach "$2" >/dev/null 2>&1; return 0; }
