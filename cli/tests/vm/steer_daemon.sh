#!/bin/sh
# The daemon's own XDP steering, observed: strongSwan charon on gw-a
# initiates a per-CPU tunnel to lanes on gw-b, whose [daemon] attaches the
# steering program to wan (skb mode) and binds each per-CPU SA's inbound SPI.
# While pings cross every CPU's SA, the per-binding packet counters must grow
# in `lanes status --json`, in `lanes top`'s steering line and in the
# metrics (lanes_steering_binding_packets_total). Then, with the daemon's
# capabilities already dropped, its Child SAs rekey (rekey_time 25 s): the
# new SPIs must be in the XDP map (bpftool) with their packets counted, and
# the old ones gone from it.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v bash >/dev/null || skip "no bash in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
IOP_IPERF=0
LN_CHILD_REKEY=25s
PORT=9567
iop_lanes_conf() {
	lanes_conf "$1" "$IOP/$1.toml"
	sed -i -e "/^\[daemon\]/a steer_mode = \"skb\"" -e "/^\[daemon\]/a steer_interfaces = [\"wan\"]" \
		-e "/^\[daemon\]/a metrics_listen = \"127.0.0.1:$PORT\"" "$IOP/$1.toml"
}
# scrape NS: the metrics of NS's daemon (bash's /dev/tcp; the guest has no curl).
scrape() {
	nsx "$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /metrics HTTP/1.1\r\nHost: lanes\r\n\r\n' >&3 && cat <&3" | tr -d '\r'
}
# bound NS: "spi steered_packets" of each Child SA of NS bound to a CPU.
bound() {
	ln_json "$1" | awk -F'"' '
		/"spi_in"/ { spi = $4 }
		/"state": "(bound|off|failed)"/ { st = $4 }
		/"steered_packets"/ { n = $3; gsub(/[^0-9]/, "", n); if (st == "bound") print spi, n }'
}
# grown BEFORE AFTER: how many SPIs of AFTER counted more packets than in BEFORE.
grown() {
	printf '%s\n--\n%s\n' "$1" "$2" | awk '$1 == "--" { a = 1; next } !a { b[$1] = $2; next } $2 > b[$1] + 0 { n++ } END { print n + 0 }'
}
trap 'iop_dump; tail -40 "$IOP/gw-b.log"' EXIT
topo_up wire
iop_pcpu_run strongswan lanes
iop_log_has gw-b "XDP steering attached" 5 || die "gw-b's lanes did not attach steering to wan"

step "per-binding steering counters under pings on every CPU"
iop_ping_bg 6
sleep 1
b0=$(bound gw-b)
m0=$(scrape gw-b)
lnc gw-b top --count 2 --interval 1 >"$IOP/top-plain.txt" || die "lanes top --count 2 failed"
b1=$(bound gw-b)
m1=$(scrape gw-b)
iop_ping_wait 20
echo "bound SPIs and steered packets, before and after:"
echo "$b0"
echo "$b1"
[ "$(echo "$b1" | grep -c .)" -ge "$CPUS" ] || die "want >= $CPUS bound SPIs in gw-b's status"
g=$(grown "$b0" "$b1")
[ "$g" -ge 2 ] || die "steered packets grew on $g bindings, want >= 2"
cat "$IOP/top-plain.txt"
line=$(grep '^steering redirects:' "$IOP/top-plain.txt" | tail -1)
echo "$line" | grep -q 'bindings: ' || die "no per-binding rates in lanes top's steering line"
busy=$(echo "$line" | sed 's/.*bindings: //' | tr ',' '\n' | awk '$NF + 0 > 0 { n++ } END { print n + 0 }')
[ "$busy" -ge 2 ] || die "lanes top shows steered packets on $busy bindings, want >= 2"
echo "$m1" | grep '^lanes_steering'
metric() { echo "$1" | awk -v c="cpu=\"$2\"" '/^lanes_steering_binding_packets_total\{/ && index($0, c) { s += $NF } END { print s + 0 }'; }
mg=0
for c in $(all_cpus); do
	a=$(metric "$m0" "$c") b=$(metric "$m1" "$c")
	echo "cpu $c steered packets (metrics): $a then $b"
	[ "$b" -gt "$a" ] && mg=$((mg + 1))
done
[ "$mg" -ge 2 ] || die "lanes_steering_binding_packets_total grew for $mg CPUs, want >= 2"

step "rekeys after the capability drop rebind the new SPIs"
pid=$(pgrep -n -f "lanes -v --config $IOP/gw-b.toml") || die "no lanes process on gw-b"
cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
echo "gw-b (lanes) effective capabilities: $cap"
[ "$cap" = 0000008000001004 ] || die "gw-b's lanes runs with capabilities $cap, want 0000008000001004"
old=$(echo "$b1" | awk '{ print $1 }')
# Long enough to outlast the rekey wait (up to 30 s) and the 3 s count below.
iop_ping_bg 40
i=0
while :; do
	now=$(bound gw-b | awk '{ print $1 }')
	[ -n "$now" ] && ! echo "$now" | grep -qxF "$old" && break
	i=$((i + 1))
	[ $i -gt 60 ] && die "gw-b's bound SPIs were not all rekeyed in 30 s: $(echo $now)"
	sleep 0.5
done
echo "rekeyed after $((i / 2)) s: $(echo $old) -> $(echo $now)"
b2=$(bound gw-b)
sleep 3
b3=$(bound gw-b)
# in_map SPI: SPI's wire bytes end a slot of the daemon's LANES_SPI_SLOTS
# or a key of its LANES_SPI_CPU (where full buckets spill).
in_map() {
	pat=$(echo "$1" | sed 's/\(..\)/"0x\1",/g; s/,$/]/')
	grep -qF "$pat" "$IOP/spi-map.json"
}
if command -v bpftool >/dev/null; then
	{ bpftool -j map dump name LANES_SPI_SLOTS && bpftool -j map dump name LANES_SPI_CPU; } >"$IOP/spi-map.json" ||
		die "bpftool map dump failed"
	for spi in $now; do in_map "$spi" || die "new SPI $spi is not in the XDP map"; done
	for spi in $old; do in_map "$spi" && die "rekeyed SPI $spi is still in the XDP map"; done
	echo "XDP map: $(echo "$now" | grep -c .) new SPIs bound, $(echo "$old" | grep -c .) old ones gone"
else
	echo "no bpftool in this image: map checked through status only"
fi
g2=$(grown "$b2" "$b3")
echo "$b3"
[ "$g2" -ge 2 ] || die "steered packets of the new SPIs grew on $g2 bindings, want >= 2"
# Last, so the map checks above run even when pings were lost in the rekey.
iop_ping_wait 5
trap - EXIT
iop_result "strongswan lanes-responder steer-daemon bindings=$g top=$busy metrics=$mg rekeyed=$g2" PASS
