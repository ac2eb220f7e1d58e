#!/bin/sh
# `lanes import-swanctl`: both gateways get strongSwan's swanctl.conf for a
# per-CPU PSK tunnel (per_cpu_sas = yes, start_action = trap); gw-b's copy
# keeps its secrets in an included file. lanes imports gw-b's copy without
# --partial, `lanes check` accepts it, and lanes runs it on gw-b against
# charon running the original on gw-a: one SA pair per CPU on both sides,
# the fallback SA, and ping through the tunnel.
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
trap - EXIT
iop_result "strongswan lanes-imported-swanctl per-cpu" PASS
