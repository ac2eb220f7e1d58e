#!/bin/sh
# Self-healing, one Child SA closed by the peer (no rekey): lanes on gw-a
# initiates to charon on gw-b, which deletes single Child SAs with
# `swanctl --terminate --child-id`.
# 1. close_action = "start", per-CPU SAs precreated: charon deletes CPU 1's
#    SA; lanes creates CPU 1's SA again at once on the same IKE SA, and
#    traffic from CPU 1 passes.
# 2. close_action = "trap", a plain child: charon deletes it; lanes keeps the
#    selectors' policies as a trap with no SA (nothing leaves in the clear),
#    and a ping brings the SA back on the same IKE SA.
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/heal.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
IOP_LOG_LINES=${IOP_LOG_LINES:-150}
trap iop_dump EXIT
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
topo_up wire

# sw_child_id SPI: charon's unique id of the Child SA whose inbound SPI is
# SPI (8 hex digits), from `swanctl --list-sas`. Each side numbers CPUs on
# its own: charon's SA for its CPU 1 may be lanes' SA for CPU 0.
sw_child_id() {
	sw_sas gw-b | awk -v spi="$1" '$1 == "net:" { id = substr($2, 2); sub(/,$/, "", id) }
		$1 == "in" { s = $2; sub(/,$/, "", s); if (s == spi) { print id; exit } }'
}
# out_spi NS CPU: NS's outbound SA for CPU ("-": none), empty if none.
out_spi() { iop_sas "$1" | awk -v c="$2" '$2 == c && $3 == "out" { print $1; exit }'; }
# wait_for SECONDS CMD...: polls CMD every 0.5 s; fails after SECONDS.
wait_for() {
	_n=$(($1 * 2))
	shift
	while ! "$@"; do
		_n=$((_n - 1))
		[ $_n -le 0 ] && return 1
		sleep 0.5
	done
}

step "close_action = start: charon deletes CPU 1's Child SA"
LN_CHILD_EXTRA='close_action = "start"'
heal_up
old=$(out_spi gw-a 1)
id=$(sw_child_id "$(echo "$old" | sed -n 's/^0x\([0-9a-f]*\).*/\1/p')")
[ -n "$id" ] && [ -n "$old" ] || { sw_sas gw-b; die "no Child SA for lanes' CPU 1 (charon id '$id', lanes SPI '$old')"; }
echo "lanes' outbound SA for CPU 1: $old, charon's Child SA #$id"
sw gw-b --terminate --child-id "$id" --timeout 10 >"$IOP/terminate.out" 2>&1 || { cat "$IOP/terminate.out"; die "swanctl --terminate --child-id $id"; }
t0=$(date +%s)
cpu1_back() { s=$(out_spi gw-a 1) && [ -n "$s" ] && [ "$s" != "$old" ]; }
wait_for 10 cpu1_back || die "CPU 1's SA not back 10 s after the peer deleted it (now: '$(out_spi gw-a 1)')"
echo "CPU 1's outbound SA back after $(($(date +%s) - t0)) s: $(out_spi gw-a 1)"
[ "$(heal_ike_spi gw-a)" = "$HEAL_SPI" ] || die "the IKE SA changed ($HEAL_SPI -> $(heal_ike_spi gw-a)): the child should come back on the same one"
iop_log_has gw-a 'close_action starts it again' 5 || die "lanes did not log the close_action"
warm_cpu 1 30 || die "no traffic from CPU 1 after the Child SA came back"
heal_check_traffic
iop_result "strongswan lanes-initiator child-close(start, per-CPU)" PASS

step "close_action = trap: charon deletes the plain Child SA"
iop_lanes_stop gw-a
for p in $(ip netns pids gw-b); do kill -9 "$p"; done
for ns in gw-a gw-b; do
	nsx $ns ip xfrm state flush
	nsx $ns ip xfrm policy flush
done
rm -f "$IOP/gw-a.log"
LN_PCPU=no SW_PCPU=no LN_START=start
LN_CHILD_EXTRA='close_action = "trap"'
iop_start strongswan gw-b
iop_start lanes gw-a
two_sas() { [ "$(iop_sas gw-a | wc -l)" -ge 2 ]; }
wait_for 30 two_sas || die "start_action = start did not bring the plain child up"
topo_ping 3 || die "no ping through the plain tunnel"
spi=$(heal_ike_spi gw-a)
# Every policy change in gw-a from here on, printed if the trap is missing.
ip netns exec gw-a ip xfrm monitor policy >"$IOP/policy-monitor.txt" 2>&1 &
mon=$!
trap_missing() {
	echo "--- gw-a policies:"
	nsx gw-a ip xfrm policy
	echo "--- gw-a policy changes since the delete (ip xfrm monitor policy):"
	cat "$IOP/policy-monitor.txt"
	echo "--- lanes' kernel ops:"
	grep -E 'kernel( op failed)?:|Child SA|trap' "$IOP/gw-a.log" | tail -40
	kill "$mon" 2>/dev/null
	die "$1"
}
sw gw-b --terminate --child net --timeout 10 >"$IOP/terminate.out" 2>&1 || { cat "$IOP/terminate.out"; die "swanctl --terminate --child net"; }
wait_for 10 iop_no_sas gw-a || die "lanes kept the SAs of the deleted child"
iop_log_has gw-a 'installing traps' 5 || die "lanes did not log the trap"
nsx gw-a ip xfrm policy | grep -q 'dir out' || trap_missing "no outbound policy (trap) after the peer deleted the child"
kill "$mon" 2>/dev/null
echo "no SA, outbound trap policy held:"
nsx gw-a ip xfrm policy | grep -A2 'dir out' | head -3
wait_for 20 topo_ping 2 || die "traffic did not bring the Child SA back through the trap"
[ "$(iop_sas gw-a | wc -l)" -ge 2 ] || die "no SA pair after the acquire"
[ "$(heal_ike_spi gw-a)" = "$spi" ] || die "the IKE SA changed: the child should come back on the same one"
ln_alive gw-a || die "lanes died"
trap - EXIT
iop_result "strongswan lanes-initiator child-close(trap)" PASS
