#!/bin/sh
# The testbed's split topology end to end (`cargo xtask testbed
# --topo split`): runs /lanes/scripts/testbed with each side of the tunnel on
# its own half of the vCPUs, lanes on gw-a and strongSwan on gw-b, one SA and
# per-CPU SAs with steering, one short TCP measurement each. Both must carry
# traffic; the steering must bind gw-a's per-CPU SAs to CPUs of the receiving
# side (N..2N-1) and redirect packets; client and server must have RFS.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] && [ $((CPUS % 2)) -eq 0 ] || skip "needs an even number of vCPUs (has $CPUS)"
lanes steer --help >/dev/null 2>&1 || skip "this lanes has no steer command"
side=$((CPUS / 2))

# To a file (the daemons it leaves running would hold a $(...) pipe open),
# outside /tmp/lanes-*, which its lanes_reset removes.
TB=/tmp/testbed-split; mkdir -p $TB
TB_PEER=lanes TB_TOPOS=split TB_CASES="one-sa pcpu-steer" TB_PROTOS=tcp TB_DURATION=3 \
	TB_REPS=1 TB_RR=0 sh /lanes/scripts/testbed >"$TB/out" 2>"$TB/err" ||
	{ cat "$TB/out" "$TB/err"; die "the testbed script failed"; }
out=$(cat "$TB/out")
mkdir -p "$IOP" # removed by the testbed's lanes_reset; iop_result writes there
echo "$out"
echo "$out" | grep -q '^@@TB-SKIP' && { cat "$TB/err"; die "the testbed skipped a case"; }

# field LINE KEY: the value of KEY=... in LINE.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
one=$(echo "$out" | grep '^@@TB topo=split case=one-sa ')
steer=$(echo "$out" | grep '^@@TB topo=split case=pcpu-steer ')
[ -n "$one" ] && [ -n "$steer" ] || { cat "$TB/err"; die "missing measurements"; }
for l in "$one" "$steer"; do
	awk -v m="$(field "$l" mbps)" 'BEGIN { exit !(m > 0) }' || die "no throughput: $l"
done
[ "$(field "$steer" steered)" -gt 0 ] || die "the XDP program redirected nothing: $steer"

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
