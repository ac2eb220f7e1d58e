#!/bin/sh
# Interop with libreswan (pluto; no RFC 9611), PSK, default
# proposals on both sides:
#  1. lanes initiator (gw-a, start_action = trap, per_cpu_sas = no) ->
#     libreswan responder (gw-b): one Child SA carries ping and iperf3;
#  2. libreswan initiator (gw-a, auto=start) -> lanes responder (gw-b): same;
#  3. lanes initiator with per_cpu_sas = yes: libreswan ignores
#     SA_RESOURCE_INFO, lanes falls back to one regular Child SA (no
#     pcpu-num SAs) and traffic from every CPU flows.
. "$(dirname "$0")/lib/interop.sh"
command -v ipsec >/dev/null && [ -x /usr/libexec/ipsec/pluto ] ||
	skip "no libreswan in this image (cargo xtask vm test --variant libreswan)"
LN_IKE=default LN_ESP=default
trap iop_dump EXIT

# check_plain LANES_NS PLUTO_NS: one established IKE SA and one Child SA in
# lanes, an SA pair in both kernels, traffic, ESP on the wire.
check_plain() {
	iop_cap_start
	warm_cpu 0 40 || die "no traffic through the tunnel"
	topo_ping 5 || die "ping through the tunnel failed"
	iop_cap_stop
	ln_json "$1" >"$IOP/status-$1.json"
	grep -q '"state": "established"' "$IOP/status-$1.json" || die "no established IKE SA in lanes"
	grep -E '"algorithms"' "$IOP/status-$1.json"
	n=$(grep -c '"spi_in"' "$IOP/status-$1.json")
	[ "$n" -eq 1 ] || die "expected one Child SA in lanes, got $n"
	ls_ipsec "$2" trafficstatus | tee "$IOP/traffic.txt"
	grep -q lanes "$IOP/traffic.txt" || die "libreswan shows no Child SA"
	esp=$(iop_cap_count esp)
	echo "ESP packets on the wire: $esp"
	[ "$esp" -gt 0 ] || die "no ESP on the wire"
	mbit=$(iop_iperf 2)
	echo "iperf3: $mbit Mbit/s"
	awk -v m="$mbit" 'BEGIN { exit !(m > 0) }' || die "iperf3 moved no data"
}

step "1. lanes initiator -> libreswan responder"
topo_up wire
LS_AUTO=add iop_start libreswan gw-b
LN_PCPU=no iop_start lanes gw-a
check_plain gw-a gw-b
iop_result "libreswan lanes-initiator default plain" PASS

step "2. libreswan initiator -> lanes responder"
iop_reset
LN_PCPU=no LN_START=none iop_start lanes gw-b
LS_AUTO=start iop_start libreswan gw-a
i=0
until ln_json gw-b | grep -q '"spi_in"'; do
	i=$((i + 1)); [ $i -gt 60 ] && die "libreswan did not bring up a Child SA with lanes"
	sleep 0.5
done
check_plain gw-b gw-a
iop_result "libreswan lanes-responder default plain" PASS

step "3. lanes initiator with per_cpu_sas = yes -> libreswan (no RFC 9611)"
iop_reset
LS_AUTO=add iop_start libreswan gw-b
LN_PCPU=yes iop_start lanes gw-a
check_plain gw-a gw-b
c=0
while [ $c -lt "$CPUS" ]; do warm_cpu $c 20 || die "no traffic from CPU $c"; c=$((c + 1)); done
[ -z "$(iop_pcpu_list gw-a)" ] || die "per-CPU SAs installed although libreswan did not agree: $(iop_pcpu_list gw-a)"
iop_result "libreswan lanes-initiator per_cpu_sas=yes->regular-SA" PASS
trap - EXIT
