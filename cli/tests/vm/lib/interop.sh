# Interop helpers: lanes against strongSwan (charon) and libreswan (pluto) in
# the VM testbed. Source from cli/tests/vm/interop_*.sh with:
#   . "$(dirname "$0")/lib/interop.sh"
# after which topo.sh, xfrm.sh, strongswan.sh, traffic.sh and lanes.sh are
# loaded (lanes.sh's lanes_conf writes the lanes configs).
#
# lanes runs as `lanes -v --config $IOP/NS.toml --socket $IOP/NS.sock daemon`
# (log $IOP/NS.log); charon as in strongswan.sh (log /tmp/charon-NS.log).
# Identities a.lanes.test / b.lanes.test and the PSK are the shared vectors'.

. /lanes/scripts/lib/topo.sh
. /lanes/scripts/lib/xfrm.sh
. /lanes/scripts/lib/strongswan.sh
. /lanes/scripts/lib/traffic.sh
. /lanes/scripts/lib/lanes.sh

IOP=/tmp/lanes-interop
mkdir -p "$IOP"
# charon appends to its log and lanes_reset keeps it: start each test clean.
rm -f /tmp/charon-gw-*.log /tmp/charon-gw-*.out
CPUS=$(nproc)

# Knobs for the lanes side (override before iop_lanes_conf):
LN_IKE=${LN_IKE:-aes128gcm16-prfsha256-x25519}
LN_ESP=${LN_ESP:-aes128gcm16}
LN_PCPU=${LN_PCPU:-yes}        # per_cpu_sas: no | yes | encap
LN_START=${LN_START:-trap}     # start_action
LN_ENCAP=${LN_ENCAP:-false}
LN_DPD=${LN_DPD:-0s}
LN_REKEY=${LN_REKEY:-4h}       # IKE SA rekey_time
LN_CHILD_REKEY=${LN_CHILD_REKEY:-1h}
LN_CHILD_EXTRA=${LN_CHILD_EXTRA:-} # extra TOML lines in the child table
LN_PSK=${LN_PSK:-$SW_PSK}

# iop_side NS: sets ME PEER MY PEER_ADDR MYNET PEERNET for gw-a or gw-b.
iop_side() {
	case $1 in
	gw-a) ME=a PEER=b MY=$GW_A PEER_ADDR=$GW_B MYNET=$NET_A PEERNET=$NET_B ;;
	gw-b) ME=b PEER=a MY=$GW_B PEER_ADDR=$GW_A MYNET=$NET_B PEERNET=$NET_A ;;
	*) die "iop_side: unknown namespace $1" ;;
	esac
}

# iop_lanes_conf NS: writes $IOP/NS.toml (connection "peer", child "net")
# with lanes.sh's lanes_conf and the knobs above.
iop_lanes_conf() { lanes_conf "$1" "$IOP/$1.toml"; }

# iop_lanes_start NS: starts the lanes daemon in NS on $IOP/NS.toml.
iop_lanes_start() {
	modprobe -q esp4
	rm -f "$IOP/$1.sock"
	# Not through nsx: a shell function in the background runs in a
	# subshell, so $! would be that shell, and stopping it would leave the
	# daemon running (it then tears down the next daemon's policies).
	# `ip netns exec` execs lanes: $! is the daemon itself.
	ip netns exec "$1" lanes -v --config "$IOP/$1.toml" --socket "$IOP/$1.sock" daemon \
		>>"$IOP/$1.log" 2>&1 &
	echo $! >"$IOP/$1.pid"
	i=0
	until [ -S "$IOP/$1.sock" ] && lnc "$1" status >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && { tail -30 "$IOP/$1.log"; die "lanes did not start in $1"; }
		sleep 0.1
	done
}

# iop_lanes_stop NS: SIGTERM, then SIGKILL after 3 s.
iop_lanes_stop() {
	[ -f "$IOP/$1.pid" ] || return 0
	p=$(cat "$IOP/$1.pid")
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$p" 2>/dev/null
	rm -f "$IOP/$1.pid"
	# Nothing else of lanes may be left in NS.
	for q in $(ip netns pids "$1" 2>/dev/null); do
		[ "$(cat /proc/$q/comm 2>/dev/null)" = lanes ] && die "a lanes daemon (pid $q) outlived iop_lanes_stop $1"
	done
	return 0
}

# lnc NS ARGS...: the lanes CLI against the daemon of NS.
lnc() { _ns=$1; shift; lanes --socket "$IOP/$_ns.sock" "$@"; }
# ln_json NS: `lanes status --json` of NS.
ln_json() { lnc "$1" status --json; }
# ln_alive NS: the daemon of NS still runs and answers.
ln_alive() { kill -0 "$(cat "$IOP/$1.pid")" 2>/dev/null && lnc "$1" status >/dev/null 2>&1; }

# Knobs for the strongSwan side: SW_IKE, SW_ESP (strongswan.sh), SW_PCPU,
# SW_CONN_EXTRA (lines in the connection), SW_CHILD_EXTRA (lines in the child),
# SW_SECRET (PSK), SW_CHARON_EXTRA (lines in strongswan.conf's charon section).
SW_PCPU=${SW_PCPU:-yes}
SW_CONN_EXTRA=${SW_CONN_EXTRA:-}
SW_CHILD_EXTRA=${SW_CHILD_EXTRA:-}

# iop_sw_conf NS: swanctl.conf for charon in NS (connection "lanes", child "net").
iop_sw_conf() {
	iop_side "$1"
	sw_config "$1" "$MY" "$PEER_ADDR" "$MYNET" "$PEERNET" "$ME.lanes.test" "$PEER.lanes.test" \
		"$SW_PCPU" "$SW_CHILD_EXTRA"
	f=/etc/netns/$1/swanctl/swanctl.conf
	# Line-buffered log: the tests grep it while charon runs.
	printf '\tfilelog {\n\t\tlanes {\n\t\t\tflush_line = yes\n\t\t}\n\t}\n' >"$IOP/sw-flush"
	sed -i "/^charon {/r $IOP/sw-flush" "/etc/netns/$1/strongswan.conf"
	if [ -n "$SW_CONN_EXTRA" ]; then
		printf '%s\n' "$SW_CONN_EXTRA" >"$IOP/sw-conn-extra"
		sed -i "/^\t\tversion = 2/r $IOP/sw-conn-extra" "$f"
	fi
	if [ -n "${SW_CHARON_EXTRA:-}" ]; then
		printf '%s\n' "$SW_CHARON_EXTRA" >"$IOP/sw-charon-extra"
		sed -i "/^charon {/r $IOP/sw-charon-extra" "/etc/netns/$1/strongswan.conf"
	fi
	if [ -n "${SW_SECRET:-}" ]; then
		sed -i "s/secret = \"$SW_PSK\"/secret = \"$SW_SECRET\"/" "$f"
	fi
}

# sw_sas NS: `swanctl --list-sas` of NS (for logs).
sw_sas() { sw "$1" --list-sas 2>&1; }

# Wire capture: iop_cap_start, traffic, iop_cap_stop; then iop_cap_count FILTER.
iop_cap_start() {
	rm -f "$IOP/wire.pcap"
	ip netns exec wire tcpdump -U -ni wa -w "$IOP/wire.pcap" 'esp or udp port 4500' >"$IOP/tcpdump.log" 2>&1 &
	echo $! >"$IOP/tcpdump.pid"
	i=0
	until grep -q listening "$IOP/tcpdump.log" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 50 ] && break; sleep 0.1
	done
}
iop_cap_stop() {
	sleep 0.5
	kill "$(cat "$IOP/tcpdump.pid")" 2>/dev/null
	wait "$(cat "$IOP/tcpdump.pid")" 2>/dev/null
	return 0
}
# iop_cap_count FILTER: packets in the capture that match a pcap filter.
iop_cap_count() { tcpdump -nr "$IOP/wire.pcap" "$1" 2>/dev/null | wc -l; }

# iop_drive_cpus: pings from the client pinned to each CPU until replies come
# back (the first packets of each CPU only raise the acquires).
iop_drive_cpus() {
	c=0
	while [ $c -lt "$CPUS" ]; do
		warm_cpu $c 30 || die "no tunnel traffic from CPU $c"
		c=$((c + 1))
	done
}

# iop_sas NS: xfrm_counters of NS without the kernel's larval acquire
# states (SPI 0: an acquire nobody answered yet, not an SA).
iop_sas() { xfrm_counters "$1" | awk '$1 !~ /^0x0+(\(0\))?$/'; }
# iop_pcpu_list NS [DIR]: the pcpu-num values of NS's SAs (optionally only
# `dir DIR`), sorted and unique, space separated.
iop_pcpu_list() {
	iop_sas "$1" | awk -v d="${2:-}" '$2 != "-" && (d == "" || $3 == d) { print $2 }' |
		sort -un | tr '\n' ' '
}
# iop_fallback_count NS: SAs without a CPU in NS.
iop_fallback_count() { iop_sas "$1" | awk '$2 == "-"' | wc -l; }

# iop_expect_cpus NS WHAT LIST: every CPU 0..CPUS-1 appears in LIST.
iop_expect_cpus() {
	c=0
	while [ $c -lt "$CPUS" ]; do
		echo " $3 " | grep -q " $c " || die "$1: no $2 for CPU $c (have: $3)"
		c=$((c + 1))
	done
}

# iop_dump: state of both gateways (on exit, for the log).
iop_dump() {
	for ns in gw-a gw-b; do
		echo "=== $ns: ip -s xfrm state (summary: spi pcpu dir bytes packets)"
		xfrm_counters "$ns" 2>/dev/null
		echo "=== $ns: ip xfrm policy (out)"
		nsx "$ns" ip xfrm policy 2>/dev/null | grep -A1 'dir out' | head -8
		if [ -f "$IOP/$ns.log" ]; then
			echo "=== lanes log $ns"
			tail -n "${IOP_LOG_LINES:-40}" "$IOP/$ns.log"
		fi
		if [ -f "$IOP/pluto-$ns.log" ]; then
			ls_logs "$ns" "${IOP_LOG_LINES:-40}"
		fi
		if [ -f "/tmp/charon-$ns.log" ]; then
			sw_logs "$ns" "${IOP_LOG_LINES:-40}"
		fi
	done
}

# iop_result KEY RESULT: records one matrix cell (printed at the end).
iop_result() { echo "@@INTEROP $1 $2" | tee -a "$IOP/results"; }

# iop_iperf SECONDS: one TCP iperf3 stream per CPU (client and server pinned
# to it); prints the total receiver Mbit/s. (traffic.sh's `streams` waits for
# every child of the shell, daemons included.)
iop_iperf() {
	pids=""
	for c in $(all_cpus); do
		nsx server taskset -c "$c" iperf3 -s -1 -D -p $((5201 + c))
	done
	sleep 0.5
	for c in $(all_cpus); do
		nsx client taskset -c "$c" iperf3 -c $SERVER -p $((5201 + c)) -t "$1" -f m \
			>"$IOP/iperf-$c.txt" 2>&1 &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	for c in $(all_cpus); do
		awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' \
			"$IOP/iperf-$c.txt" | tail -1
	done | awk '{ s += $1 } END { printf "%.1f\n", s }'
}

# iop_start KIND NS: starts lanes or charon (KIND lanes|strongswan) in NS
# with the knobs above.
iop_start() {
	case $1 in
	lanes) iop_lanes_conf "$2"; iop_lanes_start "$2" ;;
	strongswan) iop_sw_conf "$2"; sw_start "$2" ;;
	libreswan) iop_ls_conf "$2"; iop_ls_start "$2" ;;
	*) die "iop_start: unknown peer kind $1" ;;
	esac
}

# iop_check_side KIND NS: the per-CPU checks of one gateway: an IKE SA, the
# fallback SA (in and out without a CPU), one SA for every CPU in the kernel
# and in the daemon's view (lanes status --json / swanctl --list-sas cpu=).
iop_check_side() {
	k=$1 ns=$2
	list=$(iop_pcpu_list "$ns")
	echo "$ns ($k): kernel SAs with pcpu-num: $list; without: $(iop_fallback_count "$ns")"
	iop_expect_cpus "$ns" "SA with pcpu-num" "$list"
	[ "$(iop_fallback_count "$ns")" -ge 2 ] || die "$ns: no fallback SA pair (SAs without a CPU)"
	case $k in
	lanes)
		ln_json "$ns" >"$IOP/status-$ns.json"
		grep -q '"state": "established"' "$IOP/status-$ns.json" || die "$ns: no established IKE SA in lanes status"
		grep -q '"cpu": null' "$IOP/status-$ns.json" || die "$ns: no fallback Child SA in lanes status"
		cpus=$(grep -o '"cpu": [0-9][0-9]*' "$IOP/status-$ns.json" | awk '{ print $2 }' | sort -un | tr '\n' ' ')
		echo "$ns (lanes): Child SA cpus in status: $cpus"
		iop_expect_cpus "$ns" "Child SA in lanes status" "$cpus"
		;;
	strongswan)
		sw_sas "$ns" >"$IOP/sas-$ns.txt"
		grep -q ESTABLISHED "$IOP/sas-$ns.txt" || { cat "$IOP/sas-$ns.txt"; die "$ns: no ESTABLISHED IKE SA in charon"; }
		cpus=$(sw_child_cpus "$ns" | grep '^[0-9]' | sort -un | tr '\n' ' ')
		echo "$ns (strongSwan): Child SA cpus in swanctl: $cpus"
		iop_expect_cpus "$ns" "Child SA with cpu= in swanctl" "$cpus"
		;;
	esac
}

# iop_pcpu_run A_KIND B_KIND: gw-a runs A_KIND and initiates (traffic from the
# client raises its acquires), gw-b runs B_KIND; checks one SA pair per CPU on
# both sides, the fallback SA, ping and iperf3 through the tunnel, and ESP on
# the wire (ESP-in-UDP when LN_ENCAP=true).
iop_pcpu_run() {
	iop_start "$2" gw-b
	iop_start "$1" gw-a
	iop_cap_start
	step "traffic from the client pinned to each of $CPUS CPUs"
	iop_drive_cpus
	topo_ping 5 || die "no ping through the tunnel"
	iop_cap_stop
	sleep 1
	iop_check_side "$1" gw-a
	iop_check_side "$2" gw-b
	esp=$(iop_cap_count esp)
	udp=$(iop_cap_count 'udp port 4500 and udp[8:4] != 0')
	echo "on the wire: $esp ESP packets, $udp ESP-in-UDP packets"
	if [ "$LN_ENCAP" = true ]; then
		[ "$udp" -gt 0 ] || die "no ESP-in-UDP on the wire"
		[ "$esp" -eq 0 ] || die "plain ESP on the wire although encap = yes"
	else
		[ "$esp" -gt 0 ] || die "no ESP on the wire"
	fi
	if [ "${IOP_IPERF:-1}" = 1 ]; then
		step "iperf3, one TCP stream per CPU, 3 s"
		mbit=$(iop_iperf 3)
		echo "iperf3 total: $mbit Mbit/s"
		awk -v m="$mbit" 'BEGIN { exit !(m > 0) }' || die "iperf3 moved no data through the tunnel"
	fi
	echo "gw-a per-SA counters (spi pcpu dir bytes packets):"
	xfrm_counters gw-a
}

# iop_reset: a clean testbed between cases of one script (keeps nothing).
iop_reset() {
	iop_dump >"$IOP/../lanes-interop-prev.log" 2>&1 || true
	lanes_reset
	rm -f /tmp/charon-gw-*.log /tmp/charon-gw-*.out
	mkdir -p "$IOP"
	topo_up wire
}

# iop_log_has NS PATTERN: the daemon log of NS (lanes or charon) matches
# PATTERN (grep -E), waiting up to $3 seconds (default 20).
iop_log_has() {
	i=0
	while [ $i -lt $((${3:-20} * 5)) ]; do
		cat "$IOP/$1.log" "/tmp/charon-$1.log" 2>/dev/null | grep -Eq "$2" && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# iop_no_sas NS: NS's kernel has no SA (larval acquire states, SPI 0, which
# the kernel makes for a trap policy's packets, do not count).
iop_no_sas() { ! nsx "$1" ip xfrm state | grep 'proto esp spi' | grep -qv 'spi 0x00000000 '; }

# iop_poke [CPU]: a few pings from the client (pinned), results ignored: the
# acquire that starts a negotiation.
iop_poke() { nsx client taskset -c "${1:-0}" ping -q -c 2 -i 0.3 -W 1 $SERVER >/dev/null 2>&1; return 0; }

# iop_out_spis NS: "spi:cpu" of NS's outbound SAs (source = NS's wan address;
# cpu "-" for the fallback), from the kernel, sorted, space separated.
iop_out_spis() {
	iop_side "$1"
	nsx "$1" ip xfrm state | awk -v me="$MY" '
		BEGIN { cpu = "-" }
		function flush() { if (out && spi != "") print spi ":" cpu; spi = ""; cpu = "-" }
		/^src / { flush(); out = ($2 == me) }
		/proto esp spi/ { for (i = 1; i <= NF; i++) if ($i == "spi") spi = $(i + 1) }
		/pcpu-num/ { for (i = 1; i <= NF; i++) if ($i == "pcpu-num") cpu = $(i + 1) }
		END { flush() }' | sort | tr '\n' ' '
}

# iop_ping_bg SECONDS: one ping per CPU (pinned, 5/s) in the background;
# iop_ping_wait then waits for them and fails on more than $1 % loss (default 5).
iop_ping_bg() {
	ping_pids=""
	for c in $(all_cpus); do
		nsx client taskset -c "$c" ping -q -i 0.2 -c $(($1 * 5)) -W 1 $SERVER >"$IOP/ping-$c.txt" 2>&1 &
		ping_pids="$ping_pids $!"
	done
}
iop_ping_wait() {
	for p in $ping_pids; do wait "$p"; done
	for c in $(all_cpus); do
		loss=$(grep -o '[0-9.]*% packet loss' "$IOP/ping-$c.txt" | cut -d% -f1)
		echo "CPU $c: $(grep 'packets transmitted' "$IOP/ping-$c.txt")"
		[ -n "$loss" ] || die "no ping summary for CPU $c"
		awk -v l="$loss" -v m="${1:-5}" 'BEGIN { exit !(l <= m) }' || die "CPU $c lost $loss% of its pings (max ${1:-5}%)"
	done
}

# iop_rekey_run DRIVER: per-CPU tunnel (lanes initiator on gw-a, charon on
# gw-b), the side DRIVER (lanes|strongswan) rekeys Child SAs every 15 s and the
# IKE SA every 25 s; pings run on every CPU for 40 s. Afterwards every
# outbound SA has a new SPI, every CPU still has exactly one outbound SA and
# the fallback SA exists, the IKE SA was rekeyed, and loss stays below 5 %.
iop_rekey_run() {
	IOP_IPERF=0
	if [ "$1" = lanes ]; then
		LN_CHILD_REKEY=15s LN_REKEY=25s
	else
		SW_CHILD_EXTRA='rekey_time = 15s'
		SW_CONN_EXTRA='rekey_time = 25s'
	fi
	iop_pcpu_run lanes strongswan
	before=$(iop_out_spis gw-a)
	ike_before=$(ln_json gw-a | grep '"spi_i"' | head -1)
	echo "gw-a outbound SAs before: $before ($ike_before)"
	step "pings on every CPU for 40 s while $1 rekeys"
	iop_ping_bg 40
	iop_ping_wait 5
	after=$(iop_out_spis gw-a)
	ike_after=$(ln_json gw-a | grep '"spi_i"' | head -1)
	echo "gw-a outbound SAs after: $after ($ike_after)"
	for sa in $before; do
		echo " $after " | grep -q " ${sa%%:*}:" && die "outbound SA ${sa%%:*} was not rekeyed in 40 s"
	done
	cpus=$(echo "$after" | tr ' ' '\n' | grep -v ':-$' | grep . | cut -d: -f2 | sort -n | tr '\n' ' ')
	echo "$after" | tr ' ' '\n' | grep -q ':-$' || die "no fallback SA after the rekeys"
	iop_expect_cpus gw-a "outbound SA after the rekeys" "$cpus"
	n=$(echo "$cpus" | wc -w)
	[ "$n" -eq "$CPUS" ] || die "expected one outbound per-CPU SA per CPU after the rekeys, got CPUs: $cpus"
	[ "$ike_before" != "$ike_after" ] || die "the IKE SA was not rekeyed ($ike_after)"
	iop_check_side lanes gw-a
	iop_check_side strongswan gw-b
	grep -ci 'rekey' "$IOP/gw-a.log" | sed 's/^/lanes log lines mentioning rekey: /'
	grep -ci 'rekey' /tmp/charon-gw-b.log | sed 's/^/charon log lines mentioning rekey: /'
}

# libreswan (pluto), one instance in the VM: its ctl socket is the default
# /run/pluto/pluto.ctl; ipsec.conf and ipsec.secrets live in /etc/netns/NS
# (bind-mounted over /etc by `ip netns exec`); log $IOP/pluto-NS.log.
# LS_AUTO: add (respond only) | start (initiate at once) | ondemand (trap).
LS_AUTO=${LS_AUTO:-add}
iop_ls_conf() {
	iop_side "$1"
	d=/etc/netns/$1
	mkdir -p "$d"
	cat >"$d/ipsec.conf" <<CONF
config setup
	logfile=$IOP/pluto-$1.log
	logtime=yes
	plutodebug=none

conn lanes
	keyexchange=ikev2
	authby=secret
	left=$MY
	leftid=@$ME.lanes.test
	leftsubnet=$MYNET
	right=$PEER_ADDR
	rightid=@$PEER.lanes.test
	rightsubnet=$PEERNET
	${LS_EXTRA:-}
	auto=$LS_AUTO
CONF
	cat >"$d/ipsec.secrets" <<CONF
@a.lanes.test @b.lanes.test : PSK "${LS_PSK:-$SW_PSK}"
CONF
	chmod 600 "$d/ipsec.secrets"
}
# ls_ipsec NS ARGS...: the ipsec command in NS.
ls_ipsec() { _ns=$1; shift; nsx "$_ns" ipsec "$@"; }
iop_ls_start() {
	modprobe -q esp4
	[ -d /var/lib/ipsec/nss ] && [ -n "$(ls /var/lib/ipsec/nss 2>/dev/null)" ] ||
		ipsec initnss >/tmp/lanes-interop/initnss.log 2>&1 || { cat /tmp/lanes-interop/initnss.log; die "ipsec initnss"; }
	mkdir -p /run/pluto
	ip netns exec "$1" ipsec pluto --config /etc/ipsec.conf --nofork >"$IOP/pluto-$1.out" 2>&1 &
	echo $! >"$IOP/pluto-$1.pid"
	i=0
	until ls_ipsec "$1" whack --status >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat "$IOP/pluto-$1.out"; tail -20 "$IOP/pluto-$1.log"; die "pluto did not start in $1"; }
		sleep 0.2
	done
	# auto= is applied at start-up by pluto's addconn; make sure the
	# connection is loaded (and routed for ondemand).
	ls_ipsec "$1" auto --add lanes >>"$IOP/pluto-$1.out" 2>&1
	case $LS_AUTO in
	ondemand) ls_ipsec "$1" auto --route lanes >>"$IOP/pluto-$1.out" 2>&1 ;;
	start) ls_ipsec "$1" whack --initiate --asynchronous --name lanes >>"$IOP/pluto-$1.out" 2>&1 ;;
	esac
	return 0
}
ls_logs() { echo "--- pluto $1"; tail -n "${2:-60}" "$IOP/pluto-$1.log" "$IOP/pluto-$1.out" 2>/dev/null; }

# iop_out_pkts NS: "cpu packets" of NS's outbound SAs (cpu "-" = fallback).
iop_out_pkts() {
	iop_side "$1"
	nsx "$1" ip -s xfrm state | awk -v me="$MY" '
		BEGIN { cpu = "-" }
		function flush() { if (out && seen) print cpu, pkts; seen = 0; cpu = "-"; pkts = 0 }
		/^src / { flush(); out = ($2 == me); seen = 1 }
		/pcpu-num/ { for (i = 1; i <= NF; i++) if ($i == "pcpu-num") cpu = $(i + 1) }
		/lifetime current:/ { cur = 1; next }
		cur && /\(bytes\)/ { gsub(/[(),a-z]/, " "); pkts = $2; cur = 0 }
		END { flush() }' | sort
}
# iop_pkts_delta BEFORE AFTER: per-CPU packet deltas ("cpu delta"), summing
# the SAs of each CPU (rekeys may add SAs).
iop_pkts_delta() {
	{ echo "$1" | awk 'NF == 2 { print $1, -$2 }'; echo "$2"; } |
		awk 'NF == 2 { d[$1] += $2 } END { for (c in d) print c, d[c] }' | sort
}

# iop_algo_case ROLE IKE ESP: a per-CPU tunnel with lanes as ROLE
# (initiator: lanes on gw-a; responder: lanes on gw-b) against charon, both
# configured with the IKE and ESP proposal strings; prints the kernel's
# algorithms. The first call builds the topology, later ones reset it.
iop_algo_case() {
	if [ "${_iop_algo_first:-1}" = 1 ]; then topo_up wire; else iop_reset; fi
	_iop_algo_first=0
	step "lanes $1, IKE $2, ESP $3"
	SW_IKE=$2 SW_ESP=$3 LN_IKE=$2 LN_ESP=$3 IOP_IPERF=0
	if [ "$1" = initiator ]; then iop_pcpu_run lanes strongswan; else iop_pcpu_run strongswan lanes; fi
	nsx gw-a ip xfrm state | grep -E '^\s+(aead|enc|auth-trunc|auth) ' | sed 's/0x[0-9a-f]*/<key>/' | sort -u
	iop_result "strongswan lanes-$1 ike=$2 esp=$3 per-cpu" PASS
}
