#!/bin/sh
# Daemon-to-daemon test: two lanes daemons in gw-a and gw-b bring up
# a per-CPU tunnel from start_action = trap; traffic pinned to each CPU gets
# its own SA pair; `lanes status --json` reports the CPUs; `lanes down` and
# SIGTERM remove everything from the kernel.
. /lanes/scripts/lib/topo.sh

[ "${LANES_VM_TESTS:-}" = 1 ] || skip "needs the VM testbed (LANES_VM_TESTS=1)"
command -v lanes >/dev/null || die "lanes binary not on PATH"
CPUS=$(ncpus)
W=/tmp/lanes-daemon
rm -rf "$W"; mkdir -p "$W"
PSK=lanes-test-psk-0a1b2c3d4e5f60718293

# conf ME PEER MY_ADDR PEER_ADDR MY_NET PEER_NET
conf() {
	cat <<CONF
[daemon]
listen = ["$3"]

[connections.$2]
local_addrs = ["$3"]
remote_addrs = ["$4"]
proposals = ["aes128gcm16-prfsha256-x25519"]
dpd_delay = "30s"
local = { auth = "psk", id = "$1.lanes.test" }
remote = { auth = "psk", id = "$2.lanes.test" }

[connections.$2.children.net]
local_ts = ["$5"]
remote_ts = ["$6"]
esp_proposals = ["aes128gcm16"]
start_action = "trap"
per_cpu_sas = "yes"

[secrets.ab]
ids = ["a.lanes.test", "b.lanes.test"]
secret = "$PSK"
CONF
}

cleanup() {
	for p in "$W"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	sleep 0.5
	for l in "$W"/*.log; do
		[ -f "$l" ] || continue
		echo "=== $l (warnings, errors, Child SA events)"
		grep -E "WARN|ERROR|not established|installed|removed" "$l" | tail -n 40
		echo "=== $l (tail)"
		tail -n 20 "$l"
	done
}
trap cleanup EXIT

step "topology (direct: each packet is received on the CPU that sent it)"
topo_up direct
conf a b $GW_A $GW_B $NET_A $NET_B > "$W/a.toml"
conf b a $GW_B $GW_A $NET_B $NET_A > "$W/b.toml"
chmod 600 "$W/a.toml" "$W/b.toml" # the key is inline: lanes refuses a config others can read
lanes --config "$W/a.toml" check || die "gw-a config rejected"
lanes --config "$W/b.toml" check || die "gw-b config rejected"

step "start both daemons"
for g in a b; do
	# `ip netns exec` execs lanes, so $! is the daemon itself (SIGTERM below).
	ip netns exec gw-$g lanes -v --config "$W/$g.toml" --socket "$W/$g.sock" daemon > "$W/$g.log" 2>&1 &
	echo $! > "$W/$g.pid"
done
for i in $(seq 50); do [ -S "$W/a.sock" ] && [ -S "$W/b.sock" ] && break; sleep 0.1; done
[ -S "$W/a.sock" ] || die "gw-a daemon did not start"
st_a() { lanes --socket "$W/a.sock" status --json; }
st_b() { lanes --socket "$W/b.sock" status --json; }
st_a | grep -q '"per_cpu": true' || die "no per-CPU trap on gw-a: $(st_a)"
nsx gw-a ip xfrm policy | grep -q 'flag 4\|flag cpu' || die "no CPU_ACQUIRE policy: $(nsx gw-a ip xfrm policy)"

step "traffic pinned to each of $CPUS CPUs"
# A CPU whose acquire is still pending (larval state) gets no new acquire
# until it expires: keep that short so a lost first try is retried soon.
for g in gw-a gw-b; do nsx $g sysctl -qw net.core.xfrm_acq_expires=3; done
all_cpus() {
	st_a > "$W/status-a.json"
	for c in $(seq 0 $((CPUS - 1))); do
		grep -q "\"cpu\": $c," "$W/status-a.json" || return 1
	done
}
# Bounded by time (TCG guests with many vCPUs are slow), with progress.
deadline=$(( $(date +%s) + ${LANES_DAEMON_WAIT:-150} ))
while :; do
	for c in $(seq 0 $((CPUS - 1))); do
		nsx client taskset -c "$c" ping -q -c 2 -i 0.2 -W 1 $SERVER >/dev/null 2>&1
	done
	all_cpus && break
	echo "    CPUs with SAs on gw-a: $(grep -o '"cpu": [0-9null]*' "$W/status-a.json" | sort | uniq -c | tr -s ' \n' ' ')"
	[ "$(date +%s)" -lt "$deadline" ] || break
done
st_a > "$W/status-a.json"; st_b > "$W/status-b.json"
cat "$W/status-a.json"
grep -q '"state": "established"' "$W/status-a.json" || die "no IKE SA on gw-a"
grep -q '"cpu": null' "$W/status-a.json" || die "no fallback SA on gw-a"
for c in $(seq 0 $((CPUS - 1))); do
	grep -q "\"cpu\": $c," "$W/status-a.json" || die "no SA pair for CPU $c on gw-a"
done
pcpu=$(nsx gw-a ip xfrm state | grep -c 'pcpu-num')
[ "$pcpu" -ge $((2 * CPUS)) ] || die "expected >= $((2 * CPUS)) per-CPU states in gw-a, got $pcpu: $(nsx gw-a ip xfrm state)"
grep -q '"cpu": [0-9]' "$W/status-b.json" || die "gw-b has no per-CPU SAs"
topo_ping 5 || die "no traffic through the tunnel"
grep -q '"packets_out": [1-9]' "$W/status-a.json" || die "no packets counted on gw-a's SAs"

step "lanes down removes everything from gw-a's kernel"
lanes --socket "$W/a.sock" down b || die "lanes down failed"
[ -z "$(nsx gw-a ip xfrm state)" ] || die "states left in gw-a: $(nsx gw-a ip xfrm state)"
[ -z "$(nsx gw-a ip xfrm policy | grep tmpl)" ] || die "policies left in gw-a: $(nsx gw-a ip xfrm policy)"
for i in $(seq 30); do [ -z "$(nsx gw-b ip xfrm state)" ] && break; sleep 0.1; done
[ -z "$(nsx gw-b ip xfrm state)" ] || die "gw-b kept states after the Delete: $(nsx gw-b ip xfrm state)"

step "SIGTERM cleans up gw-b"
pid=$(cat "$W/b.pid")
kill "$pid"
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && die "gw-b daemon still running 10 s after SIGTERM"
rm -f "$W/b.pid"
grep -q "kernel state removed" "$W/b.log" || die "gw-b did not report its cleanup"
[ -z "$(nsx gw-b ip xfrm policy | grep tmpl)" ] || die "policies left in gw-b after SIGTERM: $(nsx gw-b ip xfrm policy)"
[ ! -e "$W/b.sock" ] || die "gw-b left its socket behind"
echo "PASS: daemon-to-daemon per-CPU tunnel over $CPUS CPUs"
