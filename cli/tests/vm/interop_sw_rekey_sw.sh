#!/bin/sh
# Interop rekeying: strongSwan (responder, gw-b) rekeys its Child SAs every 15 s and the
# IKE SA every 25 s (lanes initiator on gw-a, strongSwan charon on gw-b,
# per-CPU SAs). With pings on every CPU for 40 s, each per-CPU SA gets a new
# SPI and keeps its CPU, the fallback SA survives, the IKE SA is rekeyed and
# no CPU loses more than 5 % of its pings.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
trap iop_dump EXIT
topo_up wire
iop_rekey_run strongswan
trap - EXIT
iop_result "strongswan lanes-initiator rekey-by-strongswan child+ike per-cpu" PASS
