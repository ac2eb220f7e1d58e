# lanes as a gateway: the config writer and daemon start the demo, the
# testbed and the interop tests (cli/tests/vm/lib/interop.sh) share. Source
# after topo.sh and strongswan.sh.

# lanes_conf NS FILE [PERCPU]: writes a lanes config for gateway NS (gw-a or
# gw-b) to FILE: connection "peer" to the other gateway, child "net" between
# the two LANs, the shared vectors' ids and PSK, and checks it with
# `lanes check`. PERCPU (per_cpu_sas) defaults to LN_PCPU, else yes. Knobs
# (environment): LN_IKE, LN_ESP (proposals; default SW_IKE, SW_ESP),
# LN_START (start_action; trap), LN_PSK (SW_PSK); only written when set, else
# lanes' defaults apply: LN_ENCAP (encap), LN_DPD (dpd_delay), LN_REKEY (the
# IKE SA's rekey_time), LN_CHILD_REKEY (the child's rekey_time),
# LN_CHILD_EXTRA (extra TOML lines in the child table), LN_CONN_EXTRA (extra
# TOML lines in the connection table).
lanes_conf() {
	local ns=$1 file=$2 me peer my peer_addr mynet peernet conn="" child=""
	case $ns in
	gw-a) me=a peer=b my=$GW_A peer_addr=$GW_B mynet=$NET_A peernet=$NET_B ;;
	gw-b) me=b peer=a my=$GW_B peer_addr=$GW_A mynet=$NET_B peernet=$NET_A ;;
	*) die "lanes_conf: unknown gateway namespace $ns" ;;
	esac
	[ -n "${LN_ENCAP:-}" ] && conn="${conn}encap = $LN_ENCAP
"
	[ -n "${LN_DPD:-}" ] && conn="${conn}dpd_delay = \"$LN_DPD\"
"
	[ -n "${LN_REKEY:-}" ] && conn="${conn}rekey_time = \"$LN_REKEY\"
"
	[ -n "${LN_CHILD_REKEY:-}" ] && child="${child}rekey_time = \"$LN_CHILD_REKEY\"
"
	[ -n "${LN_CHILD_EXTRA:-}" ] && child="${child}$LN_CHILD_EXTRA
"
	[ -n "${LN_CONN_EXTRA:-}" ] && conn="${conn}$LN_CONN_EXTRA
"
	cat >"$file" <<CONF
[daemon]
listen = ["$my"]
${LN_DAEMON_EXTRA:-}

[connections.peer]
local_addrs = ["$my"]
remote_addrs = ["$peer_addr"]
proposals = ["${LN_IKE:-$SW_IKE}"]
${conn}local = { auth = "psk", id = "$me.lanes.test" }
remote = { auth = "psk", id = "$peer.lanes.test" }

[connections.peer.children.net]
local_ts = ["$mynet"]
remote_ts = ["$peernet"]
esp_proposals = ["${LN_ESP:-$SW_ESP}"]
mode = "tunnel"
start_action = "${LN_START:-trap}"
per_cpu_sas = "${3:-${LN_PCPU:-yes}}"
${child}
[secrets.ab]
ids = ["a.lanes.test", "b.lanes.test"]
secret = "${LN_PSK:-$SW_PSK}"
CONF
	chmod 600 "$file" # the key is inline: lanes refuses a config others can read
	lanes --config "$file" check >/dev/null || {
		cat "$file"
		lanes --config "$file" check
		die "lanes rejected the config for $ns"
	}
}

# lanes_start NS: starts the lanes daemon in NS with the tunnel sw_tunnel
# configured for strongSwan there (same PSK, ids, subnets, proposals and
# per_cpu_sas), so either gateway can run lanes or charon. The daemon logs to
# /tmp/lanes-NS.log and listens on /tmp/lanes-NS.sock.
lanes_start() {
	command -v lanes >/dev/null || die "no lanes binary in the payload"
	local ns=$1 pcpu conf=/tmp/lanes-$1.toml
	pcpu=$(sed -n 's/^[[:space:]]*per_cpu_sas = //p' /etc/netns/$ns/swanctl/swanctl.conf 2>/dev/null | head -1)
	lanes_conf "$ns" "$conf" "${pcpu:-yes}"
	modprobe -q esp4
	rm -f /tmp/lanes-$ns.sock
	nsx "$ns" lanes --config "$conf" --socket /tmp/lanes-$ns.sock daemon >>/tmp/lanes-$ns.log 2>&1 &
	local i=0
	until lanes --socket /tmp/lanes-$ns.sock status >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 150 ] && { tail -30 /tmp/lanes-$ns.log; die "lanes did not start in $ns"; }
		sleep 0.1
	done
}

# lanes_logs NS: the lanes daemon log of NS (for failures).
lanes_logs() { echo "--- lanes $1"; tail -n "${2:-60}" /tmp/lanes-$1.log 2>/dev/null; }

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
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	nsx "$1" ip xfrm state flush
	nsx "$1" ip xfrm policy flush
}

# steer_on NS IFACE [MODE]: attach lanes' XDP steering (MODE native|skb,
# default native) to IFACE in NS and bind
# every inbound per-CPU SA of NS (from `ip xfrm state`: dir in, pcpu-num N)
# to its CPU, keyed by the SA's destination address. Works whichever daemon
# (charon or lanes) negotiated the SAs. Returns 2 with a note on stdout
# when this lanes has no steering.
steer_on() {
	_steer_attach "$@" || return
	nsx "$1" ip xfrm state | gawk '
		function flush() { if (spi != "" && dir == "in" && cpu != "") print spi, cpu, dst; spi = ""; dir = ""; cpu = "" }
		/^src / { flush(); dst = $4 }
		/proto esp spi/ { for (i = 1; i <= NF; i++) if ($i == "spi") spi = $(i + 1) }
		/pcpu-num/ { for (i = 1; i <= NF; i++) if ($i == "pcpu-num") cpu = $(i + 1) }
		/^[ \t]*dir (in|out)/ { dir = $2 }
		END { flush() }' | while read -r spi cpu dst; do
		nsx "$1" lanes steer bind "$spi" "$cpu" --dst "$dst" >>/tmp/lanes-steer-$1.log 2>&1 || return 1
	done
}

_steer_attach() { # NS IFACE [MODE]
	if ! command -v lanes >/dev/null || ! lanes steer attach --help >/dev/null 2>&1; then
		echo "lanes steer attach is not available"
		return 2
	fi
	nsx "$1" lanes steer attach "$2" --mode "${3:-native}" >/tmp/lanes-steer-$1.log 2>&1 || { cat /tmp/lanes-steer-$1.log; return 1; }
}

# steer_on_split NS IFACE MODE PEER_NS N: the testbed's split topology (one
# kernel, each side on its own N CPUs). Attaches like steer_on, then binds
# the SA that PEER_NS sends on from its CPU k (its outbound SA with pcpu-num
# k < N) to CPU N+k (needs xfrm.sh). Both gateways' CPU numbers share one
# kernel here, so the receiver's own pcpu-num may name a sending-side CPU.
steer_on_split() {
	_steer_attach "$1" "$2" "$3" || return
	xfrm_counters "$4" | gawk -v n="$5" '$3 == "out" && $2 != "-" && $2 < n { sub(/\(.*/, "", $1); print $1, $2 + n }' |
		while read -r spi cpu; do
			nsx "$1" lanes steer bind "$spi" "$cpu" --dst $GW_B >>/tmp/lanes-steer-$1.log 2>&1 || return 1
		done
}

# steered_total NS: the XDP program's "steered" counter in NS, all CPUs
# (`lanes steer status --json`; 0 when nothing is attached).
steered_total() {
	nsx "$1" lanes steer status --json 2>/dev/null | tr -d ' \n' |
		sed -n 's/.*"steered":{[^}]*"total":\([0-9]*\).*/\1/p' | grep . || echo 0
}

# steer_off NS IFACE: detach the steering program.
steer_off() { nsx "$1" lanes steer detach "$2" >/dev/null 2>&1; return 0; }
