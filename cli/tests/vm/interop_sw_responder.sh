#!/bin/sh
# Interop: strongSwan charon on gw-a initiates, lanes on gw-b
# responds. PSK, per_cpu_sas = yes and start_action = trap on both sides,
# AES-GCM-128 ESP, x25519 IKE. Traffic pinned to each CPU creates one SA pair
# per CPU on both sides next to the fallback SA; ping and iperf3 cross the
# tunnel; ESP is seen on the wire; lanes runs with its reduced capabilities.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT
topo_up wire
iop_pcpu_run strongswan lanes
# Once started, the daemon keeps only CAP_NET_ADMIN, CAP_BPF and
# CAP_DAC_READ_SEARCH; the per-CPU installs above ran after the drop.
pid=$(pgrep -n -f "lanes -v --config $IOP/gw-b.toml") || die "no lanes process on gw-b"
cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
echo "gw-b (lanes) effective capabilities: $cap"
[ "$cap" = 0000008000001004 ] || die "gw-b's lanes runs with capabilities $cap, want 0000008000001004"
trap - EXIT
iop_result "strongswan lanes-responder aes128gcm16/x25519 per-cpu" PASS
