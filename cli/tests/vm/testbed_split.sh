#!/bin/sh
# The testbed's split topology end to end (`cargo xtask testbed
# --topo split`): runs /lanes/scripts/testbed with each side of the tunnel on
# its own half of the vCPUs, lanes on gw-a and strongSwan on gw-b, one SA and
# per-CPU SAs with steering, one short TCP measurement and one short search
# for the highest 64-byte UDP rate within 1 % loss each. Both must carry
# traffic; the steering must bind gw-a's per-CPU SAs to CPUs of the receiving
# side (N..2N-1) and redirect packets; the kprobe on esp_input must count
# gw-b's decryptions, with steering all on the receiving side; client and
# server must have RFS.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] && [ $((CPUS % 2)) -eq 0 ] || skip "needs an even number of vCPUs (has $CPUS)"
lanes steer --help >/dev/null 2>&1 || skip "this lanes has no steer command"
side=$((CPUS / 2))

# To a file (the daemons it leaves running would hold a $(...) pipe open),
# outside /tmp/lanes-*, which its lanes_reset removes.
TB=/tmp/testbed-split; mkdir -p $TB
TB_TOPOS=split TB_SCHEDULE="1:one-sa@lanes,pcpu-steer@lanes" TB_PROTOS="tcp udp64" TB_DURATION=3 \
	TB_UDP_PPS=500 TB_SEARCH_DURATION=1 TB_SEARCH_STEPS=1 TB_LOSS_PCT=1 \
	sh /lanes/scripts/testbed >"$TB/out" 2>"$TB/err" ||
	{ cat "$TB/out" "$TB/err"; die "the testbed script failed"; }
out=$(cat "$TB/out")
mkdir -p "$IOP" # removed by the testbed's lanes_reset; iop_result writes there
echo "$out"
echo "$out" | grep -q '^@@TB-SKIP' && { cat "$TB/err"; die "the testbed skipped a case"; }

# field LINE KEY: the value of KEY=... in LINE.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
one=$(echo "$out" | grep '^@@TB topo=split case=one-sa .*proto=tcp ')
steer=$(echo "$out" | grep '^@@TB topo=split case=pcpu-steer .*proto=tcp ')
small=$(echo "$out" | grep '^@@TB topo=split case=pcpu-steer .*proto=udp64 ')
[ -n "$one" ] && [ -n "$steer" ] || { cat "$TB/err"; die "missing measurements"; }
for l in "$one" "$steer"; do
	awk -v m="$(field "$l" mbps)" 'BEGIN { exit !(m > 0) }' || die "no throughput: $l"
done
[ "$(field "$steer" steered)" -gt 0 ] || die "the XDP program redirected nothing: $steer"

# Decryptions counted per CPU: every one of gw-b's inbound SAs (spi_in) on a
# CPU of the receiving side.
info=$(echo "$out" | grep '^@@TB-INFO')
[ "$(field "$info" esp_count)" = on ] || die "no per-CPU decryption count: $info"
dec=$(field "$steer" dec)
spis=$(field "$steer" spi_in | tr ',' '\n' | cut -d: -f1)
counted=0
for e in $(echo "$dec" | tr ',' ' '); do
	c=${e%%:*} rest=${e#*:}
	echo "$spis" | grep -qx "${rest%%:*}" || continue
	[ "$c" -ge "$side" ] && [ "$c" -lt "$CPUS" ] || die "gw-b decrypted on CPU $c, not on the receiving side: $dec"
	counted=$((counted + ${rest#*:}))
done
echo "decryptions counted on gw-b: $counted ($dec)"
[ "$counted" -gt 0 ] || die "no decryption of gw-b's SAs counted: dec=$dec spi_in=$(field "$steer" spi_in)"

# The bounded search: a rate, its trials, and a delivered rate.
[ -n "$small" ] || die "no udp64 measurement"
[ "$(field "$small" offered_pps)" -gt 0 ] && [ -n "$(field "$small" trials)" ] ||
	die "the search reported no rate: $small"
echo "udp64 within 1 % loss: $(field "$small" offered_pps) datagrams/s per stream, trials $(field "$small" trials)"

binds=$(sed -n 's/^bound spi .* -> cpu \([0-9]*\)$/\1/p' /tmp/lanes-steer-gw-b.log)
echo "steering bound gw-a's SAs to CPUs: $(echo $binds)"
[ -n "$binds" ] || die "no SA bound (log: $(cat /tmp/lanes-steer-gw-b.log))"
for c in $binds; do
	[ "$c" -ge "$side" ] && [ "$c" -lt "$CPUS" ] || die "SA bound to CPU $c, not on the receiving side ($side..$((CPUS - 1)))"
done
for ns in client server; do
	[ "$(nsx $ns cat /sys/class/net/eth0/queues/rx-0/rps_flow_cnt)" = 4096 ] || die "no RFS on $ns eth0"
done
iop_result "testbed split one-sa=$(field "$one" mbps) pcpu-steer=$(field "$steer" mbps) steered=$(field "$steer" steered)" PASS
