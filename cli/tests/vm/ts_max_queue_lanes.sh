#!/bin/sh
# lanes as the receiver of TS_MAX_QUEUE (RFC 9611 §4.2), lanes to lanes:
# strongSwan 6.1 never sends TS_MAX_QUEUE (its responder maps extra SAs onto
# CPU 0), so the capped responder is lanes on gw-b with per_cpu_max = 1 and
# the initiator is lanes on gw-a with per-CPU traps, >= 3 vCPUs. gw-a must
# log the refusal, stop asking, keep its IKE SA, fallback SA and per-CPU SAs,
# and traffic from the CPUs that have an SA keeps flowing. A refused CPU's
# traffic uses the fallback SA: gw-a drops XFRM_POLICY_CPU_ACQUIRE from the
# group's outbound policy while the group is full (unlike charon, whose
# refused CPUs wait on the larval acquire state until xfrm_acq_expires).
. "$(dirname "$0")/lib/interop.sh"
[ "$CPUS" -ge 3 ] || skip "needs >= 3 vCPUs (has $CPUS; cargo xtask vm test --cpus 3)"
trap iop_dump EXIT
topo_up wire
topo_pin_wire $((CPUS - 1))
LN_CHILD_EXTRA='per_cpu_max = 1' iop_start lanes gw-b
iop_start lanes gw-a
for c in $(all_cpus); do iop_poke "$c"; iop_poke "$c"; done
iop_log_has gw-b 'answering TS_MAX_QUEUE' 30 || die "gw-b (per_cpu_max = 1) did not answer TS_MAX_QUEUE"
iop_log_has gw-a 'received TS_MAX_QUEUE' 10 || die "gw-a did not log the TS_MAX_QUEUE it received"
grep 'TS_MAX_QUEUE' "$IOP/gw-a.log" | head -3
ln_alive gw-a || die "gw-a's lanes died"
ln_json gw-a >"$IOP/status-gw-a.json"
grep -q '"state": "established"' "$IOP/status-gw-a.json" || die "gw-a lost its IKE SA after TS_MAX_QUEUE"
grep -q '"cpu": null' "$IOP/status-gw-a.json" || die "gw-a has no fallback Child SA after TS_MAX_QUEUE"
[ "$(iop_fallback_count gw-a)" -ge 2 ] || die "gw-a's kernel has no fallback SA pair"
have=$(iop_pcpu_list gw-a out)
echo "gw-a outbound per-CPU SAs: ${have:-none}"
[ -n "$have" ] || die "gw-a has no per-CPU SA at all"
for c in $have; do warm_cpu "$c" 10 || die "traffic from CPU $c (which has an SA) stopped after TS_MAX_QUEUE"; done
# It stops asking: no new request for the refused CPUs in 3 s of traffic.
n1=$(grep -c 'answering TS_MAX_QUEUE' "$IOP/gw-b.log")
for c in $(all_cpus); do iop_poke "$c"; done
sleep 1
n2=$(grep -c 'answering TS_MAX_QUEUE' "$IOP/gw-b.log")
echo "TS_MAX_QUEUE answers by gw-b: $n1, after more traffic on every CPU: $n2"
[ "$n2" -eq "$n1" ] || die "gw-a kept asking for per-CPU SAs after TS_MAX_QUEUE ($n1 -> $n2)"
iop_log_has gw-a 'per-CPU acquires off' 5 || die "gw-a did not switch CPU_ACQUIRE off after TS_MAX_QUEUE"
blocked=""
for c in $(all_cpus); do
	echo " $have " | grep -q " $c " && continue
	warm_cpu "$c" 5 || blocked="$blocked $c"
done
if [ -n "$blocked" ]; then
	nsx gw-a ip xfrm policy | head -20
	nsx gw-a ip xfrm state | grep -B1 -A4 'spi 0x00000000' | grep -E '^src|spi|pcpu-num'
	die "refused CPUs$blocked do not reach the fallback SA after TS_MAX_QUEUE"
fi
trap - EXIT
iop_result "lanes lanes-initiator received TS_MAX_QUEUE (per_cpu_max=1<$CPUS; refused CPUs use the fallback SA)" PASS
