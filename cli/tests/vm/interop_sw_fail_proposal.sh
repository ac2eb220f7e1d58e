#!/bin/sh
# Interop failures against strongSwan charon, proposals and caps:
#  3. IKE proposal mismatch, charon initiates: charon receives NO_PROPOSAL_CHOSEN;
#  4. ESP proposal mismatch, lanes initiates: the Child SA is refused with
#     NO_PROPOSAL_CHOSEN, no SA is installed;
# (TS_MAX_QUEUE towards charon is not here: with 2 vCPUs lanes' own per-CPU
# request and charon's race, and charon then has an SA for every CPU and
# never asks beyond the cap.)
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
topo_up wire

step "3. IKE proposal mismatch, strongSwan initiator -> lanes responder"
SW_IKE=aes256-sha384-modp3072 iop_start strongswan gw-a
LN_IKE=aes128gcm16-prfsha256-x25519 iop_start lanes gw-b
iop_poke 0
iop_log_has gw-a 'received NO_PROPOSAL_CHOSEN' 30 || die "charon did not receive NO_PROPOSAL_CHOSEN"
iop_no_sas gw-b || die "SAs in gw-b after NO_PROPOSAL_CHOSEN"
ln_alive gw-b || die "lanes died after a proposal mismatch"
iop_result "strongswan lanes-responder ike-mismatch NO_PROPOSAL_CHOSEN" PASS

step "4. ESP proposal mismatch, lanes initiator -> strongSwan responder"
iop_reset
SW_ESP=aes256-sha256 iop_start strongswan gw-b
LN_ESP=aes128gcm16 iop_start lanes gw-a
iop_poke 0
iop_log_has gw-b 'NO_PROPOSAL_CHOSEN|no acceptable proposal' 30 || die "charon did not refuse the Child SA"
iop_log_has gw-a 'NO_PROPOSAL_CHOSEN|no common proposal' 10 || die "lanes did not log NO_PROPOSAL_CHOSEN"
sleep 1
iop_no_sas gw-a || die "SAs in gw-a after NO_PROPOSAL_CHOSEN"
iop_no_sas gw-b || die "SAs in gw-b after NO_PROPOSAL_CHOSEN"
ln_alive gw-a || die "lanes died after a proposal mismatch"
iop_result "strongswan lanes-initiator esp-mismatch NO_PROPOSAL_CHOSEN" PASS

trap - EXIT
