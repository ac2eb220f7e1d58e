#!/bin/sh
# Interop algorithm variant against strongSwan charon, both roles,
# per-CPU SAs (trap): IKE AES-256-CBC/SHA-256 with x25519; ESP AES-256-CBC + HMAC-SHA2-256 (lanes initiator) and AES-GCM-128 (lanes responder).
# (AES-GCM-128 ESP with x25519 IKE is interop_sw_initiator/responder.)
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT
iop_algo_case initiator aes256-sha256-x25519 aes256-sha256
iop_algo_case responder aes256-sha256-x25519 aes128gcm16
trap - EXIT
