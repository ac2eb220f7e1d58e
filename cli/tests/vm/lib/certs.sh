# Certificate helpers for the interop tests (source after lib/interop.sh).
# A root CA and an intermediate made with strongSwan's `pki` in $PKI;
# gateway certificates from the intermediate; lanes and charon configured to
# authenticate with them (each trusts only the root).

# cached_key TYPE SIZE NAME: a `pki --gen` key on stdout, made once per boot
# for each (TYPE, SIZE, NAME): the certificate tests share their keys (an
# RSA-3072 key takes seconds under TCG); the certificates are made anew.
cached_key() {
	k=/tmp/pki-key-cache/$1-${2:-0}-$3.key
	if [ ! -s "$k" ]; then
		mkdir -p /tmp/pki-key-cache
		pki --gen --type "$1" ${2:+--size "$2"} --outform pem >"$k.new" && mv "$k.new" "$k"
	fi
	cat "$k"
}

# cert_pki DIR: root CA (RSA-3072) ca.pem/ca.key and intermediate (ECDSA
# P-256) sub.pem/sub.key in DIR, which becomes $PKI; leaves the cwd there.
cert_pki() {
	PKI=$1
	step "PKI with strongSwan's pki in $PKI"
	rm -rf "$PKI" && mkdir -p "$PKI" && cd "$PKI" || die "no $PKI"
	O="C=CH, O=lanes test"
	cached_key rsa 3072 ca >ca.key
	pki --self --ca --lifetime 3650 --in ca.key --dn "$O, CN=Root CA" --outform pem >ca.pem
	cached_key ecdsa 256 sub >sub.key
	pki --pub --in sub.key | pki --issue --ca --lifetime 1825 --cacert ca.pem --cakey ca.key \
		--dn "$O, CN=Sub CA" --outform pem >sub.pem
}

# gw NAME TYPE SIZE ID [pki --issue options]: key NAME.key, cert NAME.pem
# from the intermediate (run in $PKI).
gw() {
	n=$1 t=$2 s=$3 id=$4
	shift 4
	cached_key "$t" "$s" "$n" >"$n.key"
	pki --pub --in "$n.key" | pki --issue --cacert sub.pem --cakey sub.key \
		--dn "$O, CN=$id" --san "$id" "$@" --outform pem >"$n.pem"
}

# ln_cert NS NAME [CACERT] [CRL] [REMOTE_ID]: the lanes config of NS with
# auth = "pubkey": NAME.pem + sub.pem, NAME.key (mode 0600), CA and CRL.
ln_cert() {
	ns=$1 n=$2 ca=${3:-ca} crl=${4:-}
	iop_side "$ns"
	d=$IOP/pki-$ns
	rm -rf "$d" && mkdir -p "$d"
	cp "$PKI/$n.pem" "$PKI/sub.pem" "$PKI/$ca.pem" "$d/"
	install -m 600 "$PKI/$n.key" "$d/$n.key"
	crls="[]"
	[ -n "$crl" ] && { cp "$PKI/$crl" "$d/"; crls="[\"$d/$crl\"]"; }
	rid=${5:-$PEER.lanes.test}
	sed -i \
		-e "s|^local = .*|local = { auth = \"pubkey\", id = \"$ME.lanes.test\", certs = [\"$d/$n.pem\", \"$d/sub.pem\"], key = \"$d/$n.key\" }|" \
		-e "s|^remote = .*|remote = { auth = \"pubkey\", id = \"$rid\", cacerts = [\"$d/$ca.pem\"], crls = $crls }|" \
		"$IOP/$ns.toml"
}

# ln_start_cert NS NAME [CACERT] [CRL] [REMOTE_ID]: writes, checks and starts lanes.
ln_start_cert() {
	iop_lanes_conf "$1"
	ln_cert "$@"
	lanes --config "$IOP/$1.toml" check || die "lanes check refused the certificate config of $1"
	iop_lanes_start "$1"
}

# sw_cert NS NAME: charon of NS authenticates with NAME.pem (+ sub.pem sent
# as intermediate) and trusts the root for the peer.
sw_cert() {
	ns=$1 n=$2
	iop_sw_conf "$ns"
	d=/etc/netns/$ns/swanctl
	mkdir -p "$d/x509" "$d/x509ca" "$d/private"
	# The intermediate is not a trust anchor: only the root is (x509ca).
	cp "$PKI/$n.pem" "$PKI/sub.pem" "$d/x509/"
	cp "$PKI/ca.pem" "$d/x509ca/"
	install -m 600 "$PKI/$n.key" "$d/private/$n.key"
	sed -i \
		-e "/^\t\tlocal {/,/^\t\t}/ s|auth = psk|auth = pubkey\n\t\t\tcerts = $n.pem|" \
		-e "/^\t\tremote {/,/^\t\t}/ s|auth = psk|auth = pubkey\n\t\t\tcacerts = ca.pem|" \
		"$d/swanctl.conf"
	sw_start "$ns"
	sw "$ns" --list-certs | grep -E 'subject|altNames' | head -8
}

# refused_by_lanes WHAT PATTERN: charon (gw-a) initiates; lanes (gw-b)
# answers AUTHENTICATION_FAILED and logs PATTERN; no SA anywhere.
refused_by_lanes() {
	iop_poke 0
	iop_log_has gw-b "$2" 30 || die "$1: lanes did not log '$2'"
	grep -E 'peer authentication failed|IKE SA closed' "$IOP/gw-b.log" | tail -2
	iop_log_has gw-a 'received AUTHENTICATION_FAILED' 10 || die "$1: charon did not receive AUTHENTICATION_FAILED"
	sleep 1
	iop_no_sas gw-a && iop_no_sas gw-b || die "$1: SAs installed after a refused certificate"
	ln_alive gw-b || die "$1: lanes died"
	iop_result "strongswan lanes-responder refuses $1" PASS
}
