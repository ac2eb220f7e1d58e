# Helpers for the guest benchmarks (cargo xtask bench). Source after topo.sh.
#
# Machine-readable output, collected by xtask/src/bench.rs:
#   @@BENCH NAME VALUE UNIT            one figure
#   @@RATIO NAME VALUE OP TARGET       a ratio and its target (OP: >= or <=)
#   @@RAW NAME ARM ROUND SLOT WARMUP VALUE UNIT   one repetition (xtask/src/bench/raw.rs)
#   @@FAIL  WHAT                       a measurement that could not be made

# bench_fig NAME VALUE UNIT
bench_fig() { echo "@@BENCH $1 $2 $3"; }
# bench_raw NAME ARM VALUE UNIT: one repetition of round ROUND, slot SLOT,
# a warm-up when WARM is set (all from the caller's variables).
bench_raw() {
	echo "@@RAW $1 $2 ${ROUND:-0} ${SLOT:-0} $([ -n "${WARM:-}" ] && echo 1 || echo 0) $3 $4"
}
# bench_ratio NAME NUM DEN OP TARGET: prints NUM/DEN with its target.
bench_ratio() {
	awk -v n="$1" -v a="$2" -v b="$3" -v op="$4" -v t="$5" \
		'BEGIN { if (b + 0 == 0) { print "@@FAIL " n ": denominator is 0"; exit } printf "@@RATIO %s %.3f %s %s\n", n, a / b, op, t }'
}
# bench_fail WHAT: records a failed measurement (the script goes on).
bench_fail() { echo "@@FAIL $*"; BENCH_FAILED=1; }
BENCH_FAILED=0

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ns_daemon_pid NS NAME: the PID of the process called NAME in namespace NS.
ns_daemon_pid() {
	for _p in $(ip netns pids "$1" 2>/dev/null); do
		[ "$(cat /proc/$_p/comm 2>/dev/null)" = "$2" ] && { echo "$_p"; return 0; }
	done
	return 1
}

# rss_kib PID: VmRSS of PID in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# sa_count NS: SAs in NS's kernel (XFRM_MSG_GETSADINFO, cheap at any size).
sa_count() { nsx "$1" ip xfrm state count 2>/dev/null | awk '{ print $NF }'; }

# pcpu_sa_count NS: SAs with a pcpu-num in NS's kernel.
pcpu_sa_count() { nsx "$1" ip xfrm state 2>/dev/null | grep -c 'pcpu-num'; }

# wait_sas NS WANT TIMEOUT_S: polls every 0.1 s until NS holds at least WANT
# SAs, printing the count to stderr every 15 s; on timeout prints the count
# reached and fails.
wait_sas() {
	_start=$(now_ms)
	_deadline=$((_start + $3 * 1000))
	_next=$((_start + 15000))
	while :; do
		_n=$(sa_count "$1")
		[ "${_n:-0}" -ge "$2" ] && return 0
		_now=$(now_ms)
		[ "$_now" -ge "$_deadline" ] && { echo "timeout: $_n of $2 SAs in $1"; return 1; }
		[ "$_now" -ge "$_next" ] && { echo "  $1: $_n of $2 SAs after $(((_now - _start) / 1000)) s" >&2; _next=$((_next + 15000)); }
		sleep 0.1
	done
}

# udp_drops NS: UDP receive-buffer errors in NS (datagrams the kernel dropped).
udp_drops() { nsx "$1" awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }

# ns_clean NS: kills everything in NS and flushes its SAs and policies.
ns_clean() {
	for _p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$_p" 2>/dev/null; done
	sleep 0.3
	nsx "$1" ip xfrm state flush
	nsx "$1" ip xfrm policy flush
}
