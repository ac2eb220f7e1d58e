#!/bin/sh
# Post-quantum interop against strongSwan charon, both roles, per-CPU SAs
# (precreated by lanes as initiator, on demand by charon as initiator):
# IKE proposal aes256gcm16-prfsha384-x25519-ke1_mlkem768, so ML-KEM-768 runs
# in an IKE_INTERMEDIATE exchange (RFC 9242, RFC 9370) before IKE_AUTH. Checks
# that charon reports the additional key exchange, that IKE_INTERMEDIATE went
# over the wire, traffic on every CPU, and that lanes rekeys every Child SA
# (15 s) with pings running. ESP is aes256gcm16-x25519-ke1_mlkem768: every
# per-CPU SA made by CREATE_CHILD_SA, and every rekey, runs its own
# IKE_FOLLOWUP_KE (RFC 9370 §2.2.4); the IKE_AUTH Child SA has none (§2.2.3).
# The IKE SA is rekeyed too (20 s), with its own IKE_FOLLOWUP_KE: by lanes
# when it initiated, by charon when lanes responds, so each side runs both
# halves of an IKE rekey with additional key exchanges once.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
PQ_IKE=aes256gcm16-prfsha384-x25519-ke1_mlkem768
PQ_ESP=aes256gcm16-x25519-ke1_mlkem768
trap iop_dump EXIT

# pq_case ROLE: lanes as ROLE (initiator on gw-a, or responder on gw-b).
pq_case() {
	if [ "${_pq_first:-1}" = 1 ]; then topo_up wire; else iop_reset; fi
	_pq_first=0
	SW_IKE=$PQ_IKE SW_ESP=$PQ_ESP LN_IKE=$PQ_IKE LN_ESP=$PQ_ESP
	LN_CHILD_REKEY=15s IOP_IPERF=0
	if [ "$1" = initiator ]; then
		step "lanes $1, IKE $PQ_IKE, ESP $PQ_ESP, Child SA rekey 15 s, lanes rekeys the IKE SA at 20 s"
		# lanes precreates its per-CPU SAs (each with its own IKE_FOLLOWUP_KE);
		# as responder it answers charon's on-demand ones.
		LN_REKEY=20s SW_CONN_EXTRA= LN_CHILD_EXTRA='per_cpu_mode = "precreate"'
		iop_pcpu_run lanes strongswan
		pq_ln=gw-a pq_sw=gw-b
	else
		step "lanes $1, IKE $PQ_IKE, ESP $PQ_ESP, Child SA rekey 15 s, charon rekeys the IKE SA at 20 s"
		LN_REKEY=4h SW_CONN_EXTRA='rekey_time = 20s' LN_CHILD_EXTRA=
		iop_pcpu_run strongswan lanes
		pq_ln=gw-b pq_sw=gw-a
	fi
	ike_before=$(ln_json "$pq_ln" | grep '"spi_i"' | head -1)
	sw_sas "$pq_sw" >"$IOP/pq-sas.txt"
	grep -i 'ML_KEM_768' "$IOP/pq-sas.txt" || { cat "$IOP/pq-sas.txt"; die "charon's IKE SA has no ML_KEM_768"; }
	grep -q 'IKE_INTERMEDIATE' "/tmp/charon-$pq_sw.log" || die "no IKE_INTERMEDIATE in charon's log"
	grep 'IKE_INTERMEDIATE' "/tmp/charon-$pq_sw.log" | head -4
	before=$(iop_out_spis "$pq_ln")
	echo "$pq_ln outbound SAs before: $before"
	step "pings on every CPU for 25 s while the Child SAs and the IKE SA are rekeyed"
	iop_ping_bg 25
	iop_ping_wait 5
	ike_after=$(ln_json "$pq_ln" | grep '"spi_i"' | head -1)
	echo "lanes IKE SA before: $ike_before; after: $ike_after"
	[ "$ike_before" != "$ike_after" ] || die "the IKE SA was not rekeyed in 25 s"
	grep 'rekeyed between' "/tmp/charon-$pq_sw.log" || die "charon logged no IKE SA rekey"
	sw_sas "$pq_sw" | awk '/ESTABLISHED/ { ike = 1 } /INSTALLED/ { ike = 0 } ike' >"$IOP/pq-ike.txt"
	grep -q 'KE1_ML_KEM_768' "$IOP/pq-ike.txt" || { cat "$IOP/pq-ike.txt"; die "the rekeyed IKE SA has no KE1_ML_KEM_768"; }
	after=$(iop_out_spis "$pq_ln")
	echo "$pq_ln outbound SAs after: $after"
	for sa in $before; do
		echo " $after " | grep -q " ${sa%%:*}:" && die "outbound SA ${sa%%:*} was not rekeyed in 25 s"
	done
	iop_check_side lanes "$pq_ln"
	iop_check_side strongswan "$pq_sw"
	f=$(grep -c 'IKE_FOLLOWUP_KE response' "/tmp/charon-$pq_sw.log")
	echo "IKE_FOLLOWUP_KE exchanges in charon's log: $f"
	[ "$f" -ge "$CPUS" ] || die "expected an IKE_FOLLOWUP_KE per per-CPU SA and rekey, saw $f"
	sw_sas "$pq_sw" | grep -c 'KE1_ML_KEM_768' | sed 's/^/charon SAs listing KE1_ML_KEM_768: /'
	iop_result "strongswan lanes-$1 ike=$PQ_IKE esp=$PQ_ESP per-cpu child-rekey" PASS
}

step "strongSwan's algorithms (ML-KEM needs its openssl plugin with OpenSSL >= 3.5)"
topo_up wire
SW_IKE=$PQ_IKE SW_ESP=$PQ_ESP
iop_start strongswan gw-b
sw gw-b --list-algs >"$IOP/sw-algs.txt" 2>&1
grep -i 'ML_KEM' "$IOP/sw-algs.txt" || { cat "$IOP/sw-algs.txt"; skip "this strongSwan lists no ML_KEM key exchange"; }
_pq_first=0
pq_case initiator
pq_case responder
trap - EXIT
