#!/bin/sh
# Interop TS_MAX_QUEUE (RFC 9611 §4.2): lanes responds on gw-b
# with per_cpu_max = 1, charon initiates on gw-a and wants a per-CPU SA for
# each of >= 3 CPUs. The wire (so gw-b's receive and reply path) runs on the
# last CPU, so lanes raises at most one acquire of its own; charon's requests
# beyond the cap get TS_MAX_QUEUE, and traffic from every CPU that has an SA
# keeps flowing. Needs >= 3 vCPUs: with 2, lanes' own per-CPU SA and the one
# it accepted cover both of charon's CPUs (cargo xtask test boots 3 for it).
#
# Known peer issue, printed and not failed: a CPU charon was refused stays
# blocked. Its outbound policy has XFRM_POLICY_CPU_ACQUIRE and the kernel's
# larval acquire state for that CPU (SPI 0, pcpu-num N, in gw-a's kernel)
# stays until net.core.xfrm_acq_expires (charon sets it to its retransmit
# time, 165 s by default): while it lives the kernel treats the
# acquire as in progress and drops that CPU's packets instead of using the
# fallback SA; when it expires the next packet goes out on the fallback SA and
# raises the same acquire again. strongSwan 6.1 does nothing on TS_MAX_QUEUE
# but fail the Child SA. The test then shows the initiator-side fix: the same
# outbound policy without CPU_ACQUIRE lets the refused CPU use the fallback SA.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 3 ] || skip "needs >= 3 vCPUs (has $CPUS; cargo xtask vm test --cpus 3)"
trap iop_dump EXIT
topo_up wire
topo_pin_wire $((CPUS - 1))
iop_start strongswan gw-a
LN_CHILD_EXTRA='per_cpu_max = 1' iop_start lanes gw-b
for c in $(all_cpus); do iop_poke "$c"; iop_poke "$c"; done
iop_log_has gw-a 'received TS_MAX_QUEUE' 30 || die "charon did not receive TS_MAX_QUEUE"
iop_log_has gw-b 'TS_MAX_QUEUE' 5 || die "lanes did not log TS_MAX_QUEUE"
grep 'TS_MAX_QUEUE' /tmp/charon-gw-a.log | head -3
grep 'TS_MAX_QUEUE' "$IOP/gw-b.log" | head -3
sw gw-a --list-sas | grep -q ESTABLISHED || die "charon lost the IKE SA after TS_MAX_QUEUE"
have=$(sw_child_cpus gw-a | grep '^[0-9]' | sort -un | tr '\n' ' ')
echo "charon Child SA cpus: $have"
[ "$(iop_fallback_count gw-a)" -ge 2 ] || die "gw-a has no fallback SA pair after TS_MAX_QUEUE"
ln_alive gw-b || die "lanes died"
# CPUs charon has an SA for keep working.
for c in $have; do warm_cpu "$c" 10 || die "traffic from CPU $c (which has an SA) stopped after TS_MAX_QUEUE"; done
echo "CPUs with a per-CPU SA ($have) keep working; lanes sent TS_MAX_QUEUE beyond per_cpu_max = 1"
trap - EXIT

# The refused CPUs (the known peer issue above).
blocked=""
for c in $(all_cpus); do
	echo " $have " | grep -q " $c " && continue
	warm_cpu "$c" 5 || blocked="$blocked $c"
done
if [ -z "$blocked" ]; then
	iop_result "strongswan lanes-responder per_cpu_max=1<$CPUS TS_MAX_QUEUE" PASS
	exit 0
fi
echo "refused CPUs without traffic:$blocked; gw-a's larval acquire states and outbound policy:"
nsx gw-a ip xfrm state | grep -B1 -A4 'spi 0x00000000' | grep -E '^src|spi|pcpu-num'
nsx gw-a ip xfrm policy list dir out | grep -E '^src|flag|tmpl|proto' | head -6
echo "KNOWN peer issue: strongSwan 6.1 keeps XFRM_POLICY_CPU_ACQUIRE after TS_MAX_QUEUE, so the kernel" \
	"parks each refused CPU on its larval acquire state (net.core.xfrm_acq_expires, set by charon:" \
	"$(nsx gw-a sysctl -n net.core.xfrm_acq_expires) s) instead of the fallback SA, then acquires again"
# The initiator-side fix, by hand: charon's outbound policy without CPU_ACQUIRE.
pol=$(nsx gw-a ip xfrm policy list dir out src $NET_A dst $NET_B)
prio=$(echo "$pol" | awk '/priority/ { for (i = 1; i < NF; i++) if ($i == "priority") print $(i + 1) }' | head -1)
reqid=$(echo "$pol" | awk '/reqid/ { for (i = 1; i < NF; i++) if ($i == "reqid") print $(i + 1) }' | head -1)
if [ -n "$prio" ] && [ -n "$reqid" ] &&
	nsx gw-a ip xfrm policy update src $NET_A dst $NET_B dir out priority "$prio" \
		tmpl src $GW_A dst $GW_B proto esp reqid "$reqid" mode tunnel; then
	fixed=""
	for c in $blocked; do warm_cpu "$c" 5 && fixed="$fixed $c"; done
	echo "with CPU_ACQUIRE cleared on gw-a's outbound policy, refused CPUs on the fallback SA:${fixed:- none}"
else
	echo "could not rewrite gw-a's outbound policy (priority '$prio', reqid '$reqid')"
fi
iop_result "strongswan lanes-responder per_cpu_max=1<$CPUS TS_MAX_QUEUE(sent+honoured; refused CPUs$blocked blocked by charon's larval state: KNOWN peer issue)" PASS
exit 0
