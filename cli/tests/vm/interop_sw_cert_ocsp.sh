#!/bin/sh
# Certificate refusals by the lanes engine and OCSP (RFC 6960), charon (gw-a)
# initiating, lanes (gw-b) responding, certificates from strongSwan's `pki`:
#  1. charon's certificate expired in 2021: lanes answers
#     AUTHENTICATION_FAILED and logs "expired";
#  2. OCSP: `openssl ocsp` answers in gw-b for the intermediate (it signs the
#     answers itself); charon's certificates name it in authorityInfoAccess:
#     a good one is accepted (revocation=OcspGood, traffic flows), a revoked
#     one refused with a log naming OCSP.
# (Identity mismatch is interop_sw_cert.sh's; `revocation = "ifuri"` with an
# unreachable responder is covered by the unit tests, to keep this lean.)
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/certs.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v pki >/dev/null || skip "no strongSwan pki in this image"
command -v openssl >/dev/null || skip "no openssl in this image"
LN_PCPU=no
trap 'iop_dump; ocsp_stop' EXIT

OCSP_PORT=2560
URI=http://$GW_B:$OCSP_PORT/
cert_pki /tmp/pki-lanes-ocsp
gw b-rsa rsa 2048 b.lanes.test --lifetime 365
gw a-old ecdsa 256 a.lanes.test --not-before "01.01.20 00:00:00" --not-after "01.01.21 00:00:00"
gw a-good ecdsa 256 a.lanes.test --lifetime 365 --ocsp "$URI"
gw a-revoked ecdsa 256 a.lanes.test --lifetime 365 --ocsp "$URI"
# openssl ca's index: status, expiry, revocation date, serial, file, DN.
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
printf 'V\t301231000000Z\t\t%s\tunknown\t/CN=good\n' "$(serial a-good.pem)" >index.txt
printf 'R\t301231000000Z\t250101000000Z\t%s\tunknown\t/CN=revoked\n' "$(serial a-revoked.pem)" >>index.txt
cat index.txt
pki --print --in a-good.pem | grep -iE 'ocsp|subject'
cd / || die "cd /"

# ocsp_start: the responder in gw-b (its netns is new after each iop_reset).
ocsp_start() {
	ocsp_stop
	# `ip netns exec` execs openssl: $! is the responder, not a subshell.
	ip netns exec gw-b openssl ocsp -index "$PKI/index.txt" -port $OCSP_PORT -CA "$PKI/sub.pem" \
		-rsigner "$PKI/sub.pem" -rkey "$PKI/sub.key" -nmin 5 >"$IOP/ocsp.log" 2>&1 &
	echo $! >"$IOP/ocsp.pid"
	i=0
	until nsx gw-b ss -ltn | grep -q ":$OCSP_PORT "; do
		i=$((i + 1)); [ $i -gt 50 ] && { cat "$IOP/ocsp.log"; die "openssl ocsp did not listen"; }
		sleep 0.1
	done
}
ocsp_stop() {
	[ -f "$IOP/ocsp.pid" ] && kill "$(cat "$IOP/ocsp.pid")" 2>/dev/null
	rm -f "$IOP/ocsp.pid"
	return 0
}

step "1. expired: charon sends a certificate that ended in 2021"
topo_up wire
ln_start_cert gw-b b-rsa
sw_cert gw-a a-old
refused_by_lanes expired-by-engine 'check=certificate .* is expired'

step "2a. OCSP good (authorityInfoAccess $URI)"
iop_reset
ocsp_start
ln_start_cert gw-b b-rsa
sw_cert gw-a a-good
iop_poke 0
iop_log_has gw-b 'peer certificate verified.*revocation=OcspGood' 20 ||
	die "lanes did not accept the certificate with a good OCSP answer"
grep -E 'OCSP answer|peer certificate verified' "$IOP/gw-b.log" | tail -2
topo_ping 3 || die "no ping through the tunnel after OCSP good"
iop_result "strongswan lanes-responder ocsp good accepted" PASS

step "2b. OCSP revoked"
iop_reset
ocsp_start
ln_start_cert gw-b b-rsa
sw_cert gw-a a-revoked
refused_by_lanes revoked-ocsp "check=certificate .* is revoked by OCSP responder $URI"

ocsp_stop
trap - EXIT
