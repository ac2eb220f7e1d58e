#!/bin/sh
# Baseline (c): two strongSwan charon instances (gw-a, gw-b; swanctl, PSK,
# per_cpu_sas = yes, start_action = trap) negotiate per-CPU Child SAs when
# traffic is pinned to each CPU: `swanctl --list-sas` shows cpu=<n> and
# `ip xfrm state` shows pcpu-num <n>, next to the fallback SA.
. /lanes/scripts/lib/topo.sh
. /lanes/scripts/lib/xfrm.sh
. /lanes/scripts/lib/strongswan.sh
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
n=$(ncpus)
[ "$n" -ge 2 ] || skip "needs >= 2 vCPUs (has $n)"
topo_up wire
sw_tunnel yes
sw_start gw-a
sw_start gw-b
trap 'sw_logs gw-a; sw_logs gw-b' EXIT

c=0
while [ $c -lt "$n" ]; do
	step "traffic pinned to CPU $c"
	# The first packets only trigger the acquires (RFC 9611: the fallback
	# SA, then the CPU's own SA); keep pinging until replies come back.
	i=0
	until nsx client taskset -c $c ping -q -c 2 -i 0.3 -W 1 $SERVER >/dev/null; do
		i=$((i + 1)); [ $i -gt 15 ] && die "no tunnel traffic on CPU $c"
	done
	c=$((c + 1))
done
sleep 1
sw gw-a --list-sas
cpus=$(sw_child_cpus gw-a | sort -u | tr '\n' ' ')
echo "gw-a child SA cpus: $cpus"
c=0
while [ $c -lt "$n" ]; do
	echo " $cpus " | grep -q " $c " || die "no Child SA with cpu=$c on gw-a"
	nsx gw-a ip xfrm state | grep -q "pcpu-num $c" || die "no pcpu-num $c SA in gw-a's kernel"
	c=$((c + 1))
done
nsx gw-a ip xfrm state | grep -E '^src|pcpu-num|dir'
trap - EXIT
