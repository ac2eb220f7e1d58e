#!/bin/sh
# Interop algorithm variant against strongSwan charon, both roles, per-CPU SAs
# (trap): AES-CCM protecting the IKE SA (RFC 5282) with IKE
# aes128ccm16-prfsha256-x25519 and ESP aes128ccm16; then the legacy algorithms
# behind lanes' `legacy = true` (swanctl has no such switch) with IKE
# aes128-sha1-modp1024 and ESP aes128-sha1 (kernel hmac(sha1), 96-bit ICV).
# charon's `swanctl --list-algs` is checked first: a case whose algorithms the
# guest's strongSwan build lacks is skipped with a note, the rest still run.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT

step "strongSwan's algorithms (swanctl --list-algs)"
topo_up wire
SW_IKE=aes128gcm16-prfsha256-x25519 SW_ESP=aes128gcm16 iop_start strongswan gw-b
sw gw-b --list-algs >"$IOP/algs.txt" 2>&1 || { cat "$IOP/algs.txt"; die "swanctl --list-algs"; }
has() { grep -Eq "^[[:space:]]+$1\[" "$IOP/algs.txt"; }
ccm=1 legacy=1
for a in AES_CCM_16; do has $a || { echo "NOTE: charon lacks $a: the CCM case is skipped"; ccm=0; }; done
for a in HMAC_SHA1_96 PRF_HMAC_SHA1 MODP_1024; do
	has $a || { echo "NOTE: charon lacks $a: the legacy case is skipped"; legacy=0; }
done
grep -E 'AES_CCM_16|HMAC_SHA1_96|PRF_HMAC_SHA1|MODP_1024' "$IOP/algs.txt"
[ $ccm = 1 ] || [ $legacy = 1 ] || skip "charon has neither AES-CCM nor the legacy algorithms"
_iop_algo_first=0

# ike_algs NS: the IKE SA line of charon's --list-sas in NS.
ike_algs() { sw "$1" --list-sas 2>/dev/null | grep -E '^[[:space:]]+[A-Z0-9_]+(-[0-9]+)?/' | head -1; }
# sw_ns ROLE: where charon runs when lanes has ROLE.
sw_ns() { if [ "$1" = initiator ]; then echo gw-b; else echo gw-a; fi; }
ln_ns() { if [ "$1" = initiator ]; then echo gw-a; else echo gw-b; fi; }

if [ $ccm = 1 ]; then
	for role in initiator responder; do
		iop_algo_case $role aes128ccm16-prfsha256-x25519 aes128ccm16
		algs=$(ike_algs "$(sw_ns $role)")
		echo "charon's IKE SA: $algs"
		echo "$algs" | grep -q 'AES_CCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519' ||
			die "the IKE SA does not use AES_CCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519"
		nsx gw-a ip xfrm state | grep -q 'aead rfc4309(ccm(aes))' || die "no rfc4309(ccm(aes)) SA in the kernel"
	done
fi

if [ $legacy = 1 ]; then
	step "without legacy = true, lanes check refuses sha1/modp1024 and names the switch"
	LN_IKE=aes128-sha1-modp1024 LN_ESP=aes128-sha1 LN_CONN_EXTRA='legacy = true' \
		lanes_conf gw-a "$IOP/refuse.toml"
	sed -i '/^legacy = true$/d' "$IOP/refuse.toml"
	if lanes --config "$IOP/refuse.toml" check >"$IOP/refuse.out" 2>&1; then
		die "lanes check accepted sha1/modp1024 without legacy = true"
	fi
	cat "$IOP/refuse.out"
	grep -q 'legacy = true' "$IOP/refuse.out" || die "the refusal does not name the legacy switch"

	LN_CONN_EXTRA='legacy = true'
	for role in initiator responder; do
		iop_algo_case $role aes128-sha1-modp1024 aes128-sha1
		algs=$(ike_algs "$(sw_ns $role)")
		echo "charon's IKE SA: $algs"
		echo "$algs" | grep -q 'AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024' ||
			die "the IKE SA does not use AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
		nsx gw-a ip xfrm state | grep -Eq 'auth-trunc hmac\(sha1\) 0x[0-9a-f]+ 96' ||
			die "no hmac(sha1) 96-bit SA in the kernel"
		n=$(grep -c 'connection peer allows legacy algorithms: sha1, modp1024' "$IOP/$(ln_ns $role).log")
		[ "$n" = 1 ] || die "lanes logged the legacy warning $n times (want once)"
	done
	LN_CONN_EXTRA=
fi
trap - EXIT
