#!/bin/sh
# Certificates with IKE fragmentation forced (RFC 7383) against charon, both
# roles: RSA-3072 gateway certificates with the intermediate make IKE_AUTH
# about 3 KB; lanes has `fragmentation = "force"` and `fragment_size = 400`,
# charon `fragmentation = force` and `fragment_size = 400`. Both logs must
# show IKE_AUTH sent as fragments and reassembled, then traffic flows.
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/certs.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v pki >/dev/null || skip "no strongSwan pki in this image"
LN_PCPU=no
FRAG_SIZE=400
SW_CONN_EXTRA='fragmentation = force'
SW_CHARON_EXTRA="fragment_size = $FRAG_SIZE"
trap iop_dump EXIT

cert_pki /tmp/pki-lanes-frag
gw a-rsa rsa 3072 a.lanes.test --lifetime 365
gw b-rsa rsa 3072 b.lanes.test --lifetime 365
cd / || die "cd /"

# ln_start_frag NS NAME: lanes with NAME's certificate and forced fragments.
ln_start_frag() {
	iop_lanes_conf "$1"
	ln_cert "$1" "$2"
	f=$IOP/$1.toml
	sed -i -e "/^listen = /a fragment_size = $FRAG_SIZE" \
		-e "/^proposals = /a fragmentation = \"force\"" "$f"
	lanes --config "$f" check || { cat "$f"; die "lanes rejected $f"; }
	iop_lanes_start "$1"
}

# frag_auth LANES_NS SW_NS: IKE_AUTH went as fragments both ways.
frag_auth() {
	ln_log=$IOP/$1.log sw_log=/tmp/charon-$2.log
	grep -E 'IKE message (sent in|reassembled from) fragments' "$ln_log" | sed 's/^/  /' | head -6
	grep 'IKE message sent in fragments' "$ln_log" | grep -q IKE_AUTH ||
		die "$1: lanes sent no IKE_AUTH in fragments"
	grep 'IKE message reassembled from fragments' "$ln_log" | grep -q IKE_AUTH ||
		die "$1: lanes reassembled no IKE_AUTH"
	grep -E 'splitting IKE message|reassembled fragmented IKE message' "$sw_log" | sed 's/^/  /' | head -6
	grep -q 'splitting IKE message' "$sw_log" || die "$2: charon sent no fragments"
	grep -Eq 'reassembl(ed|ing) fragmented IKE message' "$sw_log" ||
		die "$2: charon reassembled no fragmented message"
	iop_log_has "$1" 'peer certificate verified' 1 || die "$1: lanes verified no certificate"
}

step "1. lanes initiator (gw-a) -> charon responder (gw-b), fragment_size $FRAG_SIZE"
topo_up wire
sw_cert gw-b b-rsa
ln_start_frag gw-a a-rsa
warm_cpu 0 30 || die "no traffic through the tunnel"
frag_auth gw-a gw-b
iop_result "strongswan lanes-initiator pubkey rsa3072 fragmentation=force(size=$FRAG_SIZE)" PASS

step "2. charon initiator (gw-a) -> lanes responder (gw-b)"
iop_reset
ln_start_frag gw-b b-rsa
sw_cert gw-a a-rsa
warm_cpu 0 30 || die "no traffic through the tunnel"
frag_auth gw-b gw-a
iop_result "strongswan lanes-responder pubkey rsa3072 fragmentation=force(size=$FRAG_SIZE)" PASS
trap - EXIT
