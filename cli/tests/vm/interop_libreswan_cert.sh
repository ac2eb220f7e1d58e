#!/bin/sh
# Interop with libreswan (pluto) with certificates, both roles. openssl makes
# a root CA (RSA-3072), an intermediate (ECDSA P-256) and RSA-3072 gateway
# certificates; libreswan keeps its certificate and key (PKCS#12 through
# pk12util) and the root (certutil, trust CT) in its NSS database and signs
# with authby=rsasig (RFC 7427 RSASSA-PSS); lanes signs with
# `local.auth = "rsa/pss"` and trusts the root and the intermediate.
#  1. lanes initiator (gw-a) -> libreswan responder (gw-b);
#  2. libreswan initiator (gw-a) -> lanes responder (gw-b).
# Each: lanes logs the verified certificate, pluto establishes, traffic flows.
. "$(dirname "$0")/lib/interop.sh"
. "$(dirname "$0")/lib/certs.sh"
command -v ipsec >/dev/null && [ -x /usr/libexec/ipsec/pluto ] ||
	skip "no libreswan in this image (cargo xtask vm test --variant libreswan)"
command -v pk12util >/dev/null && command -v certutil >/dev/null || skip "no NSS tools (libnss3-tools)"
LN_IKE=default LN_ESP=default LN_PCPU=no
NSS=sql:/var/lib/ipsec/nss
trap 'iop_dump; ls_logs gw-a; ls_logs gw-b' EXIT

PKI=/tmp/pki-lanes-ls
step "PKI with openssl in $PKI"
rm -rf "$PKI" && mkdir -p "$PKI" && cd "$PKI" || die "no $PKI"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >sub.ext
openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.pem -days 3650 \
	-subj "/C=CH/O=lanes test/CN=Root CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null ||
	die "openssl: root CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sub.key -out sub.csr \
	-subj "/C=CH/O=lanes test/CN=Sub CA" 2>/dev/null || die "openssl: intermediate key"
openssl x509 -req -in sub.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1825 \
	-extfile sub.ext -out sub.pem 2>/dev/null || die "openssl: intermediate"
# gw NAME: RSA-3072 key NAME.key (PKCS#8) and NAME.pem for NAME.lanes.test.
gw() {
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:%s.lanes.test\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' "$1" >"$1.ext"
	openssl req -newkey rsa:3072 -nodes -keyout "$1.key" -out "$1.csr" \
		-subj "/C=CH/O=lanes test/CN=$1.lanes.test" 2>/dev/null || die "openssl: $1 key"
	openssl x509 -req -in "$1.csr" -CA sub.pem -CAkey sub.key -CAcreateserial -days 365 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null || die "openssl: $1 certificate"
	openssl pkcs12 -export -in "$1.pem" -inkey "$1.key" -certfile sub.pem -name "ls-$1" \
		-passout pass:lanes -out "$1.p12" || die "openssl: $1.p12"
}
gw a
gw b
cat ca.pem sub.pem >roots.pem
openssl x509 -in b.pem -noout -subject -ext subjectAltName
cd / || die "cd /"

# ls_nss: the root (trusted for peers' chains) and both gateways' PKCS#12 in
# libreswan's NSS database.
ls_nss() {
	[ -n "$(ls /var/lib/ipsec/nss 2>/dev/null)" ] || ipsec initnss >"$IOP/initnss.log" 2>&1 ||
		{ cat "$IOP/initnss.log"; die "ipsec initnss"; }
	certutil -A -d $NSS -n lanes-root -t "CT,," -i "$PKI/ca.pem" || die "certutil: root"
	for n in a b; do
		pk12util -d $NSS -i "$PKI/$n.p12" -W lanes >/dev/null || die "pk12util: $n"
	done
	certutil -L -d $NSS
}

# ls_start_cert NS: pluto in NS authenticating with ls-ME by certificate.
ls_start_cert() {
	iop_ls_conf "$1"
	sed -i -e 's/authby=secret/authby=rsasig/' \
		-e "s|^\tleftid=\(.*\)\$|\tleftid=\\1\n\tleftcert=ls-$ME\n\tleftsendcert=always|" "/etc/netns/$1/ipsec.conf"
	cat "/etc/netns/$1/ipsec.conf"
	ls_nss
	iop_ls_start "$1"
}

# ln_start_pss NS NAME: lanes with NAME's certificate signing with RSA-PSS.
ln_start_pss() {
	iop_lanes_conf "$1"
	ln_cert "$1" "$2" roots
	sed -i 's|^local = { auth = "pubkey"|local = { auth = "rsa/pss"|' "$IOP/$1.toml"
	lanes --config "$IOP/$1.toml" check || die "lanes check refused the certificate config of $1"
	iop_lanes_start "$1"
}

# check_cert LANES_NS PLUTO_NS PEER_ID: certificates verified both ways, traffic.
check_cert() {
	warm_cpu 0 40 || die "no traffic through the tunnel"
	topo_ping 3 || die "ping through the tunnel failed"
	iop_log_has "$1" "peer certificate verified.*$3" 5 || die "lanes did not verify libreswan's certificate"
	grep -E 'peer certificate verified' "$IOP/$1.log" | tail -1
	ln_json "$1" | grep -q '"state": "established"' || die "no established IKE SA in lanes"
	grep -iE 'authenticated|established IKE SA|RSASSA-PSS|digital signature' "$IOP/pluto-$2.log" | head -4
	ls_ipsec "$2" trafficstatus | tee "$IOP/traffic.txt"
	grep -q lanes "$IOP/traffic.txt" || die "libreswan shows no Child SA"
}

step "1. lanes initiator (gw-a) -> libreswan responder (gw-b)"
topo_up wire
LS_AUTO=add ls_start_cert gw-b
ln_start_pss gw-a a
check_cert gw-a gw-b b.lanes.test
iop_result "libreswan lanes-initiator pubkey rsa-pss" PASS

step "2. libreswan initiator (gw-a) -> lanes responder (gw-b)"
iop_reset
LN_START=none ln_start_pss gw-b b
LS_AUTO=start ls_start_cert gw-a
i=0
until ln_json gw-b | grep -q '"spi_in"'; do
	i=$((i + 1)); [ $i -gt 60 ] && die "libreswan did not bring up a Child SA with lanes"
	sleep 0.5
done
check_cert gw-b gw-a a.lanes.test
iop_result "libreswan lanes-responder pubkey rsa-pss" PASS
trap - EXIT
