#!/bin/sh
# Byte-limited rekey: lanes on gw-a with rekey_bytes = "1MB" and life_bytes
# = "1536k" against charon on gw-b, one SA pair (the default life_bytes, 10 %
# over rekey_bytes as in strongSwan, leaves 0.1 s at this rate: too little for
# a rekey in a loaded TCG guest; the default itself is unit-tested). A UDP iperf3 stream at
# 8 Mbit/s for 8 s crosses the tunnel: the kernel's soft byte limit
# (XFRM_MSG_EXPIRE, hard = 0) makes lanes rekey several times, the hard
# limit is never reached, and the stream loses at most 1 % of its datagrams.
# rand_bytes = "256k": each SA's soft limit is 1MB minus up to 256k at random.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v iperf3 >/dev/null || skip "no iperf3 in this image"
trap iop_dump EXIT
topo_up wire
LN_PCPU=no SW_PCPU=no LN_CHILD_EXTRA='rekey_bytes = "1MB"
life_bytes = "1536k"
rand_bytes = "256k"'
iop_start strongswan gw-b
iop_start lanes gw-a
warm_cpu 0 30 || die "no tunnel"
limits=$(nsx gw-a ip -s xfrm state | grep -o 'soft [0-9]*(bytes), hard [0-9]*(bytes)')
echo "$limits" | awk -F'[ (]' '{ n++; if ($2 < 786432 || $2 > 1048576 || $5 != 1572864) bad++ }
	END { exit !(n >= 2 && bad == 0) }' ||
	die "the byte limits are not installed (want soft in [768k, 1M], hard 1536k): $limits"
before=$(iop_out_spis gw-a)
step "UDP iperf3 at 8 Mbit/s for 8 s"
nsx server iperf3 -s -1 -D -p 5201
sleep 0.5
nsx client iperf3 -u -b 8M -l 1200 -t 8 -c $SERVER -p 5201 >"$IOP/iperf-udp.txt" 2>&1 ||
	{ cat "$IOP/iperf-udp.txt"; die "iperf3 failed"; }
sleep 1
after=$(iop_out_spis gw-a)
soft=$(grep -c 'expire.*hard=false' "$IOP/gw-a.log")
hard=$(grep -c 'expire.*hard=true' "$IOP/gw-a.log")
lost=$(awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /^\(.*%\)$/) { gsub(/[()%]/, "", $i); print $i } }' "$IOP/iperf-udp.txt" | tail -1)
echo "outbound SAs before: $before after: $after"
echo "soft expires: $soft, hard expires: $hard, datagrams lost: ${lost:-?}%"
grep receiver "$IOP/iperf-udp.txt"
[ "$soft" -ge 3 ] || die "expected at least 3 byte-limit rekeys for ~8 MB, saw $soft soft expires"
[ "$hard" -eq 0 ] || die "a hard limit was reached ($hard)"
[ "$before" != "$after" ] || die "the outbound SA was not replaced"
[ -n "$lost" ] || die "no loss figure from iperf3"
awk -v l="$lost" 'BEGIN { exit !(l <= 1) }' || die "lost $lost% of the datagrams (max 1%)"
topo_ping 3 || die "no ping after the rekeys"
trap - EXIT
iop_result "strongswan lanes-initiator rekey_bytes=1MB soft=$soft lost=${lost}%" PASS
