#!/bin/sh
# Interop with certificates against strongSwan charon. A root CA (RSA-3072),
# an intermediate (ECDSA P-256) and gateway certificates (ECDSA P-256,
# RSA-3072, Ed25519) are made here with strongSwan's `pki`; each gateway trusts
# only the root, so charon's chain reaches lanes with the intermediate (lanes
# leaves the intermediate out when charon's CERTREQ names it).
#  1. lanes (gw-a, ECDSA P-256, SEC1 key) initiates, charon (gw-b, RSA-3072)
#     responds: per-CPU SAs on every CPU, ping, iperf3, ESP on the wire;
#  2. charon (gw-a, Ed25519) initiates, lanes (gw-b, RSA-3072, PKCS#1 key)
#     responds: the same checks;
#  3. refusals, each with AUTHENTICATION_FAILED and a log line naming the
#     check: unknown CA, revoked (CRL of the intermediate), identity
#     mismatch (lanes checks charon), expired (charon checks lanes; `lanes
#     check` reports it first), wrong key (lanes refuses the config).
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/certs.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v pki >/dev/null || skip "no strongSwan pki in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT

# Outside /tmp/lanes-*, which iop_reset (lanes_reset) removes between cases.
cert_pki /tmp/pki-lanes-cert
gw a-ecdsa ecdsa 256 a.lanes.test --lifetime 365
gw b-rsa rsa 3072 b.lanes.test --lifetime 365
gw a-ed ed25519 "" a.lanes.test --lifetime 365
gw a-old ecdsa 256 a.lanes.test --not-before "01.01.20 00:00:00" --not-after "01.01.21 00:00:00"
pki --gen --type ecdsa --size 256 --outform pem >other.key
pki --self --ca --lifetime 3650 --in other.key --dn "C=CH, O=elsewhere, CN=Other CA" --outform pem >other.pem
pki --signcrl --cacert sub.pem --cakey sub.key --cert a-ed.pem --lifetime 30 --outform pem >sub.crl
head -1 a-ecdsa.key b-rsa.key a-ed.key | grep BEGIN
pki --print --in b-rsa.pem | grep -E 'subject|altNames|pubkey'
cd / || die "cd /"

step "1. lanes initiator (ECDSA P-256) -> strongSwan responder (RSA-3072)"
topo_up wire
sw_cert gw-b b-rsa
ln_start_cert gw-a a-ecdsa
iop_cap_start
step "traffic from the client pinned to each of $CPUS CPUs"
iop_drive_cpus
topo_ping 5 || die "no ping through the tunnel"
iop_cap_stop
sleep 1
iop_check_side lanes gw-a
iop_check_side strongswan gw-b
iop_log_has gw-a 'peer certificate verified.*b.lanes.test' 5 || die "lanes did not log the verified certificate"
grep -E 'peer certificate verified' "$IOP/gw-a.log" | tail -1
iop_log_has gw-b "authentication of 'a.lanes.test' with ECDSA.* successful" 5 ||
	iop_log_has gw-b "authentication of 'a.lanes.test'.*successful" 1 || die "charon did not authenticate lanes' signature"
grep -E "authentication of|received end entity cert|received issuer cert|sending cert" /tmp/charon-gw-b.log | head -8
esp=$(iop_cap_count esp)
echo "on the wire: $esp ESP packets"
[ "$esp" -gt 0 ] || die "no ESP on the wire"
step "iperf3, one TCP stream per CPU, 3 s"
mbit=$(iop_iperf 3)
echo "iperf3 total: $mbit Mbit/s"
awk -v m="$mbit" 'BEGIN { exit !(m > 0) }' || die "iperf3 moved no data through the tunnel"
iop_result "strongswan lanes-initiator pubkey ecdsa256/rsa3072 chain per-cpu" PASS

step "2. strongSwan initiator (Ed25519) -> lanes responder (RSA-3072)"
iop_reset
ln_start_cert gw-b b-rsa
sw_cert gw-a a-ed
iop_drive_cpus
topo_ping 5 || die "no ping through the tunnel"
sleep 1
iop_check_side strongswan gw-a
iop_check_side lanes gw-b
iop_log_has gw-b 'peer certificate verified.*a.lanes.test.*Ed25519' 5 || die "lanes did not verify charon's Ed25519 certificate"
grep -E 'peer certificate verified' "$IOP/gw-b.log" | tail -1
iop_log_has gw-a "authentication of 'b.lanes.test'.*successful" 5 || die "charon did not authenticate lanes' RSA signature"
iop_result "strongswan lanes-responder pubkey ed25519/rsa3072 chain per-cpu" PASS

step "3a. unknown CA: lanes trusts only 'Other CA'"
iop_reset
ln_start_cert gw-b b-rsa other
sw_cert gw-a a-ecdsa
refused_by_lanes unknown-ca 'check=unknown CA'

step "3b. revoked: the intermediate's CRL lists charon's certificate"
iop_reset
ln_start_cert gw-b b-rsa ca sub.crl
sw_cert gw-a a-ed
refused_by_lanes revoked-crl 'check=certificate .* is revoked by CRL'

step "3c. identity mismatch: lanes expects c.lanes.test"
iop_reset
ln_start_cert gw-b b-rsa ca "" c.lanes.test
sw_cert gw-a a-ecdsa
refused_by_lanes identity-mismatch 'check=identity mismatch: certificate .* matching remote id c.lanes.test'

step "3d. expired: lanes sends a certificate that ended in 2021"
iop_reset
sw_cert gw-b b-rsa
iop_lanes_conf gw-a
ln_cert gw-a a-old
if lanes --config "$IOP/gw-a.toml" check >"$IOP/check-old.txt" 2>&1; then
	cat "$IOP/check-old.txt"
	die "lanes check accepted an expired certificate"
fi
grep -E 'expired' "$IOP/check-old.txt" || die "lanes check did not say the certificate expired"
iop_lanes_start gw-a
iop_poke 0
iop_log_has gw-b 'certificate invalid|certificate .*(expired|not valid)|constraint check failed|no trusted' 30 ||
	die "charon did not refuse the expired certificate"
grep -E 'invalid|expired|not valid|no trusted' /tmp/charon-gw-b.log | head -3
iop_log_has gw-a 'AUTHENTICATION_FAILED|error notify 24' 10 || die "lanes did not log the AUTHENTICATION_FAILED"
iop_no_sas gw-a && iop_no_sas gw-b || die "expired: SAs installed"
iop_result "strongswan lanes-initiator refused expired" PASS

step "3e. wrong key: lanes refuses a key that is not its certificate's"
iop_lanes_stop gw-a
iop_lanes_conf gw-a
ln_cert gw-a a-ecdsa
install -m 600 "$PKI/b-rsa.key" "$IOP/pki-gw-a/a-ecdsa.key"
if lanes --config "$IOP/gw-a.toml" check >"$IOP/check-key.txt" 2>&1; then
	die "lanes check accepted a key of another certificate"
fi
cat "$IOP/check-key.txt"
grep -q 'does not match certificate' "$IOP/check-key.txt" || die "lanes check did not name the key mismatch"
iop_result "lanes refuses wrong-key config" PASS
trap - EXIT
