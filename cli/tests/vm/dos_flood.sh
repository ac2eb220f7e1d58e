#!/bin/sh
# Hostile peers: a spoofed IKE_SA_INIT flood (ike_flood, many source
# addresses, its own namespace on the wire) against a responder that accepts
# any peer address (no remote_addrs), first lanes, then charon, as gw-b.
# strongSwan on gw-a keeps a tunnel "pre" whose Child SA it rekeys every 10 s,
# and during the flood brings up a second per-CPU tunnel "new". For each
# responder: the flood's rate, how long "new" took, the rekeys of "pre" during
# the flood, the responder's RSS growth and the datagrams it sent (cookies).
# lanes must: bring "new" up within 10 s, keep rekeying, grow < 32 MiB and
# send cookies. charon's figures are reported next to them.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v ike_flood >/dev/null || skip "no ike_flood in the payload"
# What a debug build can take says nothing about the gateway.
[ -f /lanes/release ] || skip "needs release binaries (cargo xtask vm test --release --filter dos_flood)"
RATE=${FLOOD_RATE:-10000}
SECS=${FLOOD_SECS:-30}
NET_NEW_A=192.168.11.0/24
NET_NEW_B=192.168.12.0/24

# The flood's namespace on the wire bridge; gw-b routes answers to the
# spoofed sources back into it, where they are dropped.
flood_ns() {
	_ns_add flood
	ip link add fl netns flood type veth peer name wf netns wire
	nsx wire ip link set dev wf master br0
	nsx wire ip link set dev wf up
	nsx flood ip addr add 10.0.0.66/24 dev fl
	nsx flood ip link set dev fl up
	nsx gw-b ip route add 10.200.0.0/16 via 10.0.0.66
}

# sw_add_new NS ADDRS LID RID LNET RNET: adds connection "new" (child "net",
# per-CPU) to the swanctl.conf of NS (ADDRS: its address lines) and the id
# new.lanes.test to its secret.
sw_add_new() {
	f=/etc/netns/$1/swanctl/swanctl.conf
	cat >"$IOP/sw-new" <<CONF
	new {
		version = 2
		$2
		proposals = $SW_IKE
		local {
			auth = psk
			id = $3
		}
		remote {
			auth = psk
			id = $4
		}
		children {
			net {
				local_ts = $5
				remote_ts = $6
				esp_proposals = $SW_ESP
				per_cpu_sas = yes
			}
		}
	}
CONF
	sed -i "/^connections {/r $IOP/sw-new" "$f"
	sed -i 's/^\t\tid-b = b.lanes.test/\t\tid-b = b.lanes.test\n\t\tid-n = new.lanes.test/' "$f"
}

# gw-a: charon with "pre" (started, child rekeyed every 10 s) and "new".
sw_gw_a() {
	sw_config gw-a $GW_A $GW_B $NET_A $NET_B a.lanes.test b.lanes.test yes "rekey_time = 10s"
	sed -i 's/^\tlanes {/\tpre {/' /etc/netns/gw-a/swanctl/swanctl.conf
	sw_add_new gw-a "local_addrs = $GW_A
		remote_addrs = $GW_B" new.lanes.test b.lanes.test $NET_NEW_A $NET_NEW_B
	sw_start gw-a
}

# gw-b as lanes: both connections without remote_addrs, told apart by id.
ln_gw_b() {
	cat >"$IOP/gw-b.toml" <<CONF
[daemon]
listen = ["$GW_B"]

[connections.pre]
proposals = ["$SW_IKE"]
local = { auth = "psk", id = "b.lanes.test" }
remote = { auth = "psk", id = "a.lanes.test" }

[connections.pre.children.net]
local_ts = ["$NET_B"]
remote_ts = ["$NET_A"]
esp_proposals = ["$SW_ESP"]
per_cpu_sas = "yes"

[connections.new]
proposals = ["$SW_IKE"]
local = { auth = "psk", id = "b.lanes.test" }
remote = { auth = "psk", id = "new.lanes.test" }

[connections.new.children.net]
local_ts = ["$NET_NEW_B"]
remote_ts = ["$NET_NEW_A"]
esp_proposals = ["$SW_ESP"]
per_cpu_sas = "yes"

[secrets.all]
ids = ["a.lanes.test", "b.lanes.test", "new.lanes.test"]
secret = "$SW_PSK"
CONF
	chmod 600 "$IOP/gw-b.toml"
	iop_lanes_start gw-b
}

# gw-b as charon: the same two connections, remote_addrs %any.
sw_gw_b() {
	sw_config gw-b $GW_B %any $NET_B $NET_A b.lanes.test a.lanes.test yes
	sed -i 's/^\tlanes {/\tpre {/; /start_action = trap/d' /etc/netns/gw-b/swanctl/swanctl.conf
	sw_add_new gw-b "local_addrs = $GW_B" b.lanes.test new.lanes.test $NET_NEW_B $NET_NEW_A
	sw_start gw-b
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
udp_out() { nsx gw-b awk '/^Udp:/ { if (h) { print $5; exit } h = 1 }' /proc/net/snmp; }
# The inbound SPIs of "pre" at gw-a, one per line.
pre_spis() { sw gw-a --list-sas --ike pre --raw 2>/dev/null | grep -o 'spi-in=[0-9a-f]*'; }

# run_case KIND PID: flood gw-b (running KIND, daemon PID) and report.
run_case() {
	kind=$1 pid=$2
	step "$kind: \"pre\" up before the flood"
	sw gw-a --initiate --child net --ike pre --timeout 20 >/dev/null 2>&1 ||
		{ sw_logs gw-a; die "$kind: pre did not come up"; }
	rss0=$(rss_kib "$pid") out0=$(udp_out)
	pre_spis | sort -u >"$IOP/spis-$kind"
	step "$kind: flood $RATE pps for $SECS s from 10.200.0.0/16"
	nsx flood ike_flood $GW_B 10.200.0.0/16 "$RATE" "$SECS" >"$IOP/flood-$kind" 2>&1 &
	fpid=$!
	rss_max=$rss0
	t=0
	while kill -0 $fpid 2>/dev/null; do
		sleep 1
		t=$((t + 1))
		pre_spis >>"$IOP/spis-$kind"
		r=$(rss_kib "$pid") && [ "$r" -gt "$rss_max" ] && rss_max=$r
		if [ $t -eq 5 ]; then
			s=$(date +%s%N)
			if sw gw-a --initiate --child net --ike new --timeout 30 >"$IOP/new-$kind" 2>&1; then
				new_ms=$((($(date +%s%N) - s) / 1000000))
			else
				new_ms=-1
			fi
		fi
	done
	wait $fpid
	out1=$(udp_out)
	rekeys=$(($(sort -u "$IOP/spis-$kind" | wc -l) - 1))
	grow=$(((rss_max - rss0) / 1024))
	[ "${new_ms:--1}" -ge 0 ] || { echo "--- swanctl --initiate new ($kind)"; tail -n 15 "$IOP/new-$kind"; }
	echo "@@DOS $kind flood: $(cat "$IOP/flood-$kind")"
	echo "@@DOS $kind new_tunnel_ms=${new_ms:-none} pre_rekeys=$rekeys rss_growth_mib=$grow datagrams_sent=$((out1 - out0))"
	DOS_NEW=${new_ms:--1} DOS_REKEYS=$rekeys DOS_GROW=$grow DOS_SENT=$((out1 - out0))
}

trap iop_dump EXIT
topo_up wire
flood_ns
ln_gw_b
pid=$(cat "$IOP/gw-b.pid")
sw_gw_a
run_case lanes "$pid"
grep -E "refused by the DoS limits" "$IOP/gw-b.log" | tail -n 1
fail=""
[ "$DOS_NEW" -ge 0 ] && [ "$DOS_NEW" -le 10000 ] || fail="$fail; new tunnel took ${DOS_NEW} ms (> 10 s or failed)"
[ "$DOS_REKEYS" -ge 2 ] || fail="$fail; only $DOS_REKEYS rekeys of pre during the flood"
[ "$DOS_GROW" -lt 32 ] || fail="$fail; RSS grew by $DOS_GROW MiB"
[ "$DOS_SENT" -gt 100 ] || fail="$fail; sent no cookies ($DOS_SENT datagrams)"
[ -z "$fail" ] || { lanes_logs gw-b 20; sw_logs gw-a 30; }
trap - EXIT

step "the same flood against charon"
iop_reset
flood_ns
sw_gw_b
pid=$(pgrep -n -x charon)
sw_gw_a
run_case charon "$pid"
[ -z "$fail" ] || die "lanes$fail"
iop_result "dos-flood lanes-vs-charon" PASS
