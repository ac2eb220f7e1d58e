#!/bin/sh
# Interop failures against strongSwan charon, wrong PSK:
#  1. charon initiates, lanes responds: charon receives AUTHENTICATION_FAILED,
#     neither kernel gets an SA, lanes keeps serving (once charon has the right
#     PSK the tunnel comes up without touching lanes);
#  2. lanes initiates: charon answers AUTHENTICATION_FAILED, lanes installs
#     nothing and keeps running with its trap policies.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
topo_up wire

step "1. wrong PSK, strongSwan initiator -> lanes responder"
SW_SECRET=not-the-right-psk-0000000000000 iop_start strongswan gw-a
SW_SECRET= iop_start lanes gw-b
iop_poke 0
iop_log_has gw-a 'received AUTHENTICATION_FAILED' 30 || die "charon did not receive AUTHENTICATION_FAILED"
sleep 1
iop_no_sas gw-a || die "SAs installed in gw-a after a failed authentication"
iop_no_sas gw-b || die "SAs installed in gw-b after a failed authentication"
ln_alive gw-b || die "lanes died after a failed authentication"
step "1b. charon gets the right PSK: lanes (untouched) serves it"
sed -i "s/not-the-right-psk-0000000000000/$SW_PSK/" /etc/netns/gw-a/swanctl/swanctl.conf
sw gw-a --load-creds >/dev/null || die "swanctl --load-creds"
# charon does not retry by itself after AUTHENTICATION_FAILED (and the
# kernel's larval acquire state holds new acquires for 30 s): initiate.
sw gw-a --initiate --child net --timeout 60 >/dev/null 2>&1 || die "charon could not initiate with the right PSK"
warm_cpu 0 30 || die "no tunnel after fixing the PSK"
grep -q '"state": "established"' <<JSON || die "lanes has no IKE SA after the fix"
$(ln_json gw-b)
JSON
iop_result "strongswan lanes-responder wrong-psk AUTHENTICATION_FAILED" PASS

step "2. wrong PSK, lanes initiator -> strongSwan responder"
iop_reset
iop_start strongswan gw-b
LN_PSK=not-the-right-psk-0000000000000 iop_start lanes gw-a
iop_poke 0
iop_log_has gw-b 'N\(AUTH_FAILED\)|AUTHENTICATION_FAILED' 30 || die "charon did not send AUTHENTICATION_FAILED"
# lanes logs the notify by number (24 = AUTHENTICATION_FAILED, RFC 7296 §3.10.1).
iop_log_has gw-a 'AUTHENTICATION_FAILED|error notify 24' 10 || die "lanes did not log the AUTHENTICATION_FAILED"
sleep 1
iop_no_sas gw-a || die "SAs installed in gw-a after a failed authentication"
iop_no_sas gw-b || die "SAs installed in gw-b after a failed authentication"
ln_alive gw-a || die "lanes died after AUTHENTICATION_FAILED"
ln_json gw-a | grep -q '"per_cpu": true' || die "lanes lost its trap policies"
iop_result "strongswan lanes-initiator wrong-psk AUTHENTICATION_FAILED" PASS
trap - EXIT
