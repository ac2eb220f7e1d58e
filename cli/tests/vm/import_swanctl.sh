#!/bin/sh
# `lanes import-swanctl`: both gateways get strongSwan's swanctl.conf for a
# per-CPU PSK tunnel (per_cpu_sas = yes, start_action = trap); gw-b's copy
# keeps its secrets in an included file. lanes imports gw-b's copy without
# --partial, `lanes check` accepts it, and lanes runs it on gw-b against
# charon running the original on gw-a: one SA pair per CPU on both sides,
# the fallback SA, and ping through the tunnel. Then the same with
# certificates (ECDSA, made with strongSwan's pki) kept in swanctl's x509/,
# x509ca/ and private/ folders: the import finds them there and lanes
# authenticates charon and is authenticated by it.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT
topo_up wire
sw_tunnel yes
d=/etc/netns/gw-b/swanctl
# Move gw-b's secrets section into conf.d/, pulled in by a glob include.
sed -n '/^secrets {/,$p' "$d/swanctl.conf" >"$d/conf.d/secrets.conf"
sed -i '/^secrets {/,$d' "$d/swanctl.conf"
echo 'include conf.d/*.conf' >>"$d/swanctl.conf"
step "lanes import-swanctl $d/swanctl.conf"
rm -f "$IOP/gw-b.toml"
lanes import-swanctl "$d/swanctl.conf" -o "$IOP/gw-b.toml" 2>"$IOP/import.err" ||
	{ cat "$IOP/import.err"; die "import-swanctl failed"; }
[ -s "$IOP/import.err" ] && { cat "$IOP/import.err"; die "import-swanctl reported settings it did not carry"; }
cat "$IOP/gw-b.toml"
mode=$(stat -c %a "$IOP/gw-b.toml")
[ "$mode" = 600 ] || die "imported config has mode $mode, want 600 (it holds the PSK)"
grep -q 'per_cpu_sas = "yes"' "$IOP/gw-b.toml" || die "per_cpu_sas not carried"
grep -q "secret = \"$SW_PSK\"" "$IOP/gw-b.toml" || die "the included secret was not carried"
lanes --config "$IOP/gw-b.toml" check || die "lanes check rejects the imported config"
iop_lanes_start gw-b
sw_start gw-a
step "traffic from the client pinned to each of $CPUS CPUs"
iop_drive_cpus
topo_ping 5 || die "no ping through the tunnel"
sleep 1
iop_check_side strongswan gw-a
iop_check_side lanes gw-b
iop_result "strongswan lanes-imported-swanctl per-cpu" PASS

command -v pki >/dev/null || { trap - EXIT; echo "no strongSwan pki in this image: certificate case skipped"; exit 0; }
step "certificates in swanctl's folders"
iop_reset
PKI=/tmp/pki-lanes-import
rm -rf "$PKI" && mkdir -p "$PKI" || die "no $PKI"
pki --gen --type ecdsa --size 256 --outform pem >"$PKI/ca.key"
pki --self --ca --lifetime 30 --in "$PKI/ca.key" --dn "C=CH, O=lanes test, CN=Import CA" --outform pem >"$PKI/ca.pem"
sw_tunnel yes
for n in a b; do
	pki --gen --type ecdsa --size 256 --outform pem >"$PKI/$n.key"
	pki --pub --in "$PKI/$n.key" | pki --issue --cacert "$PKI/ca.pem" --cakey "$PKI/ca.key" --lifetime 30 \
		--dn "C=CH, O=lanes test, CN=$n.lanes.test" --san "$n.lanes.test" --outform pem >"$PKI/$n.pem"
	d=/etc/netns/gw-$n/swanctl
	mkdir -p "$d/x509" "$d/x509ca" "$d/private"
	cp "$PKI/$n.pem" "$d/x509/gw.pem"
	cp "$PKI/ca.pem" "$d/x509ca/"
	install -m 600 "$PKI/$n.key" "$d/private/gw.key"
	# remote names no cacerts: swanctl trusts every CA in x509ca/.
	sed -i -e "/^\t\tlocal {/,/^\t\t}/ s|auth = psk|auth = pubkey\n\t\t\tcerts = gw.pem|" \
		-e "/^\t\tremote {/,/^\t\t}/ s|auth = psk|auth = pubkey|" -e '/^secrets {/,$d' "$d/swanctl.conf"
done
rm -f "$IOP/gw-b.toml"
lanes import-swanctl "$d/swanctl.conf" -o "$IOP/gw-b.toml" 2>"$IOP/import.err" ||
	{ cat "$IOP/import.err"; die "import-swanctl failed on the certificate config"; }
[ -s "$IOP/import.err" ] && { cat "$IOP/import.err"; die "import-swanctl reported certificate settings it did not carry"; }
cat "$IOP/gw-b.toml"
grep -q '^key = ".*/private/gw.key"' "$IOP/gw-b.toml" || die "the key in private/ was not found"
grep -q '^cacerts = \[".*/x509ca/ca.pem"\]' "$IOP/gw-b.toml" || die "x509ca/ was not carried as remote.cacerts"
lanes --config "$IOP/gw-b.toml" check || die "lanes check rejects the imported certificate config"
iop_lanes_start gw-b
sw_start gw-a
iop_drive_cpus
topo_ping 5 || die "no ping through the certificate tunnel"
sleep 1
iop_log_has gw-b 'peer certificate verified.*a.lanes.test' 5 || die "lanes did not verify charon's certificate"
iop_check_side lanes gw-b
trap - EXIT
iop_result "strongswan lanes-imported-swanctl pubkey ecdsa256 per-cpu" PASS
