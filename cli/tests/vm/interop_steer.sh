#!/bin/sh
# Steering in the loop: strongSwan charon on gw-a initiates a
# per-CPU tunnel to lanes on gw-b. The wire namespace then forwards every
# packet on CPU 0 (topo_pin_wire 0: a NIC whose RSS puts the whole tunnel on
# one queue), so gw-b decrypts everything on CPU 0. Where gw-b decrypts shows
# in its outbound per-CPU SA counters: the server's replies are sent on the
# CPU that received the request. Without steering they all leave through
# gw-b's CPU 0 SA; with lanes' XDP steering on gw-b's wan (each inbound SPI
# redirected to its SA's CPU) they spread over the CPUs. Prints both
# distributions.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
lanes steer --help >/dev/null 2>&1 || skip "this lanes has no steer command"
IOP_IPERF=0
N=${IOP_STEER_PINGS:-60}
trap 'iop_dump; nsx gw-b lanes steer status 2>&1 | head -30' EXIT
topo_up wire
iop_pcpu_run strongswan lanes

# burst: N pings from each CPU; prints gw-b's per-CPU outbound packet deltas.
burst() {
	b=$(iop_out_pkts gw-b)
	pids=""
	for c in $(all_cpus); do
		nsx client taskset -c "$c" ping -q -c "$N" -i 0.02 -W 1 $SERVER >/dev/null 2>&1 &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	sleep 0.5
	iop_pkts_delta "$b" "$(iop_out_pkts gw-b)"
}
# spread DIST: number of CPUs that carried at least 20 % of the pings of one CPU.
spread() { echo "$1" | awk -v n="$N" '$1 != "-" && $2 >= n / 5 { k++ } END { print k + 0 }'; }

step "wire pinned to CPU 0, no steering"
topo_pin_wire 0
off=$(burst)
echo "gw-b outbound packets per CPU without steering (cpu packets):"
echo "$off"

step "lanes steering on gw-b's wan"
att=$(nsx gw-b lanes steer attach wan --mode skb 2>&1) || {
	echo "$att"
	echo "known failure: lanes steer attach wan failed in the guest"
	exit 77
}
echo "$att"
ln_json gw-b | awk -F'"' '/"spi_in"/ { spi = $4 } /"cpu": [0-9]/ { gsub(/[^0-9]/, "", $3); print spi, $3 }' >"$IOP/binds"
[ -s "$IOP/binds" ] || die "no per-CPU Child SAs in gw-b's status to bind"
while read -r spi cpu; do
	nsx gw-b lanes steer bind "0x${spi#0x}" "$cpu" --dst $GW_B || die "lanes steer bind 0x$spi $cpu"
done <"$IOP/binds"
on=$(burst)
echo "gw-b outbound packets per CPU with steering (cpu packets):"
echo "$on"
nsx gw-b lanes steer status

printf 'DISTRIBUTION without steering: %s\n' "$(echo "$off" | tr '\n' ';')"
printf 'DISTRIBUTION with steering:    %s\n' "$(echo "$on" | tr '\n' ';')"
s_off=$(spread "$off") s_on=$(spread "$on")
echo "CPUs carrying decryption: without steering $s_off, with steering $s_on"
[ "$s_off" -le 1 ] || echo "note: without steering more than one CPU decrypted (wire pinning ineffective?)"
[ "$s_on" -ge 2 ] || die "steering did not spread decryption over the CPUs"
trap - EXIT
nsx gw-b lanes steer detach wan
iop_result "strongswan lanes-responder steering spread=$s_on/$CPUS (off: $s_off)" PASS
