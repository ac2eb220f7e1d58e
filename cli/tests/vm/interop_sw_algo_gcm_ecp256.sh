#!/bin/sh
# Interop algorithm variant against strongSwan charon, both roles,
# per-CPU SAs (trap): ESP AES-GCM-128, IKE AES-GCM-128/PRF-SHA-256 with ecp256.
# (AES-GCM-128 ESP with x25519 IKE is interop_sw_initiator/responder.)
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT
iop_algo_case initiator aes128gcm16-prfsha256-ecp256 aes128gcm16
iop_algo_case responder aes128gcm16-prfsha256-ecp256 aes128gcm16
trap - EXIT
