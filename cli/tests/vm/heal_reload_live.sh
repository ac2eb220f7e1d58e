#!/bin/sh
# Reload that keeps traffic flowing: a per-CPU tunnel lanes (gw-a) <-> charon
# (gw-b) carries a ping on every CPU while the config changes the child's
# rekey_time and [daemon] max_initiating and lanes reloads. No ping is lost,
# every outbound SA keeps its SPI, and `lanes reload --dry-run` said
# "updated in place" for the connection and "applied live" for max_initiating.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
IOP_IPERF=0
trap iop_dump EXIT
topo_up wire
iop_pcpu_run lanes strongswan
before=$(iop_out_spis gw-a)
echo "gw-a outbound SAs before: $before"
step "pings on every CPU for 12 s; reload after 4 s"
iop_ping_bg 12
sleep 4
conf=$IOP/gw-a.toml
sed -i 's/^rekey_time = "1h"$/rekey_time = "50m"/' "$conf"
sed -i 's/^listen = \(.*\)$/listen = \1\nmax_initiating = 8/' "$conf"
grep -q 'rekey_time = "50m"' "$conf" && grep -q 'max_initiating = 8' "$conf" || { cat "$conf"; die "config not edited"; }
lnc gw-a reload --dry-run | tee "$IOP/dry-run.txt"
grep -q '^\[daemon\] max_initiating: applied live' "$IOP/dry-run.txt" || die "dry run: max_initiating not applied live"
grep -q '^connection peer: updated in place.*children.net.rekey_time' "$IOP/dry-run.txt" || die "dry run: connection not updated in place"
[ "$(iop_out_spis gw-a)" = "$before" ] || die "the dry run changed SAs"
lnc gw-a reload | tee "$IOP/reload.txt"
grep -q '1 updated in place' "$IOP/reload.txt" || die "reload did not update the connection in place"
iop_ping_wait 0
after=$(iop_out_spis gw-a)
echo "gw-a outbound SAs after: $after"
[ "$after" = "$before" ] || die "the reload replaced SAs (before: $before, after: $after)"
iop_log_has gw-a 'updated in place; SAs kept' 2 || die "no 'updated in place' in the lanes log"
iop_result "lanes reload-in-place per-cpu no-loss" PASS
trap - EXIT
