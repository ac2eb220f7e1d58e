#!/bin/sh
# Baseline (b): per-CPU SAs (`pcpu-num`, `dir out`/`dir in`, out policy
# with the CPU-acquire flag 0x4). Traffic pinned with taskset to CPU n
# uses the SA with pcpu-num n and no other per-CPU SA.
. /lanes/scripts/lib/topo.sh
. /lanes/scripts/lib/xfrm.sh
n=$(ncpus)
[ "$n" -ge 2 ] || skip "needs >= 2 vCPUs (has $n)"
topo_up wire
xfrm_tunnel_pcpu

snapshot() { c=0; while [ $c -lt "$n" ]; do printf '%s ' "$(xfrm_packets gw-a $(printf '0x%x' $((0x1100 + c))))"; c=$((c + 1)); done; }

c=0
while [ $c -lt "$n" ]; do
	step "traffic pinned to CPU $c"
	before=$(snapshot)
	nsx client taskset -c $c ping -q -c 5 -i 0.2 -W 2 $SERVER >/dev/null || die "ping on CPU $c failed"
	# Both ends pinned: TCP sends from the CPU that processes the ACKs.
	nsx server taskset -c $c iperf3 -s -1 -D
	sleep 0.5
	nsx client taskset -c $c iperf3 -c $SERVER -t 2 -f m >/tmp/lanes-iperf.txt || die "iperf3 on CPU $c failed"
	grep receiver /tmp/lanes-iperf.txt
	after=$(snapshot)
	echo "per-CPU SA packets before: $before after: $after"
	i=0
	for b in $before; do
		a=$(echo "$after" | cut -d' ' -f$((i + 1)))
		d=$((a - b))
		if [ $i -eq $c ]; then
			[ $d -gt 500 ] || die "SA of CPU $c counted only $d packets"
		else
			[ $d -eq 0 ] || die "SA of CPU $i counted $d packets while traffic ran on CPU $c"
		fi
		i=$((i + 1))
	done
	c=$((c + 1))
done
xfrm_counters gw-a
