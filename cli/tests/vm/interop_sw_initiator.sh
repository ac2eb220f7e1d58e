#!/bin/sh
# Interop: lanes on gw-a initiates, strongSwan charon on gw-b
# responds. PSK, per_cpu_sas = yes and start_action = trap on both sides,
# AES-GCM-128 ESP, x25519 IKE. Traffic pinned to each CPU creates one SA pair
# per CPU on both sides next to the fallback SA; ping and iperf3 cross the
# tunnel; ESP is seen on the wire.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT
topo_up wire
iop_pcpu_run lanes strongswan
trap - EXIT
iop_result "strongswan lanes-initiator aes128gcm16/x25519 per-cpu" PASS
