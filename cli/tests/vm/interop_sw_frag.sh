#!/bin/sh
# Interop IKE fragmentation (RFC 7383) against strongSwan charon, both roles.
# charon: `fragmentation = force` and `charon.fragment_size = 400`; lanes:
# `fragmentation = "yes"` (the default: it fragments because charon announces
# support) and `[daemon] fragment_size = 400`. gw-a's child carries 31 local
# subnets (its LAN and 30 unused /24s), so IKE_AUTH and every per-CPU
# CREATE_CHILD_SA, request and response, need several fragments each way.
# Checks both daemons' logs for fragments sent and messages reassembled, the
# per-CPU SA pairs, and traffic through the tunnel on every CPU.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
IOP_IPERF=0
FRAG_SIZE=400
SW_CONN_EXTRA='fragmentation = force'
SW_CHARON_EXTRA="fragment_size = $FRAG_SIZE"

extra=$(i=1; while [ $i -le 30 ]; do printf '10.99.%d.0/24 ' $i; i=$((i + 1)); done)
toml_list=$(for n in $extra; do printf ', "%s"' "$n"; done)
csv_list=$(for n in $extra; do printf ',%s' "$n"; done)

# gw-a's LAN, wherever it appears (gw-a's local_ts, gw-b's remote_ts),
# becomes the LAN plus the 30 extra subnets; lanes gets the fragment size.
frag_patch_lanes() {
	f=$IOP/$1.toml
	sed -i "s|\"$NET_A\"|\"$NET_A\"$toml_list|" "$f"
	sed -i "/^listen = /a fragment_size = $FRAG_SIZE" "$f"
	lanes --config "$f" check >/dev/null || { cat "$f"; lanes --config "$f" check; die "lanes rejected $f"; }
}
frag_patch_sw() {
	sed -i "s|_ts = $NET_A\$|_ts = $NET_A$csv_list|" "/etc/netns/$1/swanctl/swanctl.conf"
}
# interop.sh's iop_start with the patches above between config and start.
iop_start() {
	case $1 in
	lanes) iop_lanes_conf "$2"; frag_patch_lanes "$2"; iop_lanes_start "$2" ;;
	strongswan) iop_sw_conf "$2"; frag_patch_sw "$2"; sw_start "$2" ;;
	*) die "iop_start: unknown peer kind $1" ;;
	esac
}

# frag_check LANES_NS SW_NS: both logs show IKE_AUTH fragments both ways.
frag_check() {
	ln_log=$IOP/$1.log sw_log=/tmp/charon-$2.log
	echo "lanes ($1): fragmented sends and reassembled messages:"
	grep -E 'IKE message (sent in|reassembled from) fragments' "$ln_log" | sed 's/^/  /' | head -12
	grep 'IKE message sent in fragments' "$ln_log" | grep -q IKE_AUTH ||
		die "$1: lanes sent no IKE_AUTH in fragments"
	grep 'IKE message reassembled from fragments' "$ln_log" | grep -q IKE_AUTH ||
		die "$1: lanes reassembled no IKE_AUTH"
	grep 'IKE message sent in fragments' "$ln_log" | grep -q CREATE_CHILD_SA ||
		die "$1: lanes sent no CREATE_CHILD_SA in fragments"
	echo "charon ($2): fragment lines:"
	grep -E 'splitting IKE message|reassembl(ed|ing) fragmented IKE message|EF\(' "$sw_log" |
		sed 's/^/  /' | head -12
	grep -q 'splitting IKE message' "$sw_log" || die "$2: charon sent no fragments"
	grep -Eq 'reassembl(ed|ing) fragmented IKE message' "$sw_log" ||
		die "$2: charon reassembled no fragmented message"
	sent=$(grep -c 'IKE message sent in fragments' "$ln_log")
	got=$(grep -c 'IKE message reassembled from fragments' "$ln_log")
	split=$(grep -c 'splitting IKE message' "$sw_log")
	joined=$(grep -Ec 'reassembl(ed|ing) fragmented IKE message' "$sw_log")
	echo "fragmented messages: lanes sent $sent, reassembled $got; charon split $split, reassembled $joined"
}

trap iop_dump EXIT
for role in initiator responder; do
	if [ $role = initiator ]; then
		topo_up wire
		step "lanes initiator (gw-a), strongSwan responder (gw-b), fragment_size $FRAG_SIZE"
		iop_pcpu_run lanes strongswan
		frag_check gw-a gw-b
	else
		iop_reset
		step "strongSwan initiator (gw-a), lanes responder (gw-b), fragment_size $FRAG_SIZE"
		iop_pcpu_run strongswan lanes
		frag_check gw-b gw-a
	fi
	iop_result "strongswan lanes-$role fragmentation(size=$FRAG_SIZE) per-cpu" PASS
done
trap - EXIT
