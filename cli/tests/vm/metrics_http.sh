#!/bin/sh
# Prometheus metrics from a real kernel: strongSwan charon on gw-a initiates
# a per-CPU tunnel to lanes on gw-b, whose [daemon] metrics_listen serves
# GET /metrics. Pings pinned to every CPU cross the tunnel; a scrape (bash's
# /dev/tcp, the guest has no curl) must show the IKE SA, every CPU's Child SA
# with the kernel's packet counters (GETSA), SA installs with their latency,
# and a second scrape must show the counters grown. Non-GET requests get 405.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v bash >/dev/null || skip "no bash in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
IOP_IPERF=0
PORT=9567
iop_lanes_conf() {
	lanes_conf "$1" "$IOP/$1.toml"
	sed -i "/^\[daemon\]/a metrics_listen = \"127.0.0.1:$PORT\"" "$IOP/$1.toml"
}
# http NS REQUEST-LINE: the raw HTTP/1.1 answer of gw-b's metrics server.
http() {
	nsx "$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf '$2 HTTP/1.1\r\nHost: lanes\r\n\r\n' >&3 && cat <&3" | tr -d '\r'
}
# value FILE SERIES: the sample value of SERIES (exact text before the value).
value() { awk -v s="$2" 'index($0, s " ") == 1 { print $NF; found = 1 } END { if (!found) print "missing" }' "$1"; }
trap 'iop_dump; cat "$IOP"/scrape-*.txt 2>/dev/null | head -80' EXIT
topo_up wire
iop_pcpu_run strongswan lanes
grep -q metrics_listen "$IOP/gw-b.toml" || die "metrics_listen not in gw-b's config"
iop_log_has gw-b "metrics served at" 5 || die "gw-b's lanes did not start its metrics server"

step "scrape while pings cross every CPU's SA"
iop_ping_bg 6
sleep 2
http gw-b "GET /metrics" >"$IOP/scrape-1.txt"
sleep 3
http gw-b "GET /metrics" >"$IOP/scrape-2.txt"
iop_ping_wait 20
head -1 "$IOP/scrape-1.txt" | grep -q '^HTTP/1.1 200 OK' || die "scrape: $(head -1 "$IOP/scrape-1.txt")"
grep -q '^Content-Type: application/openmetrics-text' "$IOP/scrape-1.txt" || die "not OpenMetrics"
tail -1 "$IOP/scrape-2.txt" | grep -q '^# EOF' || die "exposition does not end with # EOF"
grep '^lanes_' "$IOP/scrape-2.txt" | grep -v '_bucket' | head -60
[ "$(value "$IOP/scrape-2.txt" 'lanes_ike_sas{state="established"}')" = 1 ] || die "want 1 established IKE SA"
for c in $(all_cpus); do
	s="lanes_child_sa_packets_total{connection=\"peer\",child=\"net\",cpu=\"$c\",direction=\"in\"}"
	a=$(value "$IOP/scrape-1.txt" "$s") b=$(value "$IOP/scrape-2.txt" "$s")
	echo "cpu $c inbound packets: $a then $b"
	[ "$a" != missing ] && [ "$b" != missing ] || die "no inbound packet series for cpu $c"
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a && a >= 0) }' || die "cpu $c inbound packets did not grow ($a -> $b)"
done
ok=$(value "$IOP/scrape-2.txt" 'lanes_sa_installs_total{result="ok"}')
n=$(value "$IOP/scrape-2.txt" 'lanes_sa_install_duration_seconds_count')
echo "SA installs ok: $ok, latency observations: $n"
awk -v o="$ok" -v c="$CPUS" 'BEGIN { exit !(o >= 2 * (c + 1)) }' || die "want >= $((2 * (CPUS + 1))) SA installs, got $ok"
[ "$(value "$IOP/scrape-2.txt" 'lanes_child_sa_replay_failures_total{connection="peer",child="net",cpu="0"}')" = 0 ] ||
	die "replay failures on a clean tunnel"
http gw-b "POST /metrics" | head -1 | grep -q '^HTTP/1.1 405' || die "POST was not refused with 405"
trap - EXIT
iop_result "strongswan lanes-responder metrics cpus=$CPUS installs=$ok" PASS
