#!/bin/sh
# `lanes top` in a real terminal: strongSwan charon on gw-a initiates a
# per-CPU tunnel to lanes on gw-b; while pings pinned to every CPU cross it,
# `lanes top` runs in a tmux pane against gw-b's daemon. capture-pane must
# show one row per CPU with traffic on it and the balance figure; `q` must
# end it. Then `lanes top --count 2` through a pipe must print plain lines.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
command -v tmux >/dev/null || skip "no tmux in this image"
[ "$CPUS" -ge 2 ] || skip "needs >= 2 vCPUs (has $CPUS)"
lanes top --help >/dev/null 2>&1 || skip "this lanes has no top command"
IOP_IPERF=0
trap 'iop_dump; tmux kill-server 2>/dev/null' EXIT
topo_up wire
iop_pcpu_run strongswan lanes

step "lanes top in tmux under traffic on every CPU"
iop_ping_bg 12
tmux new-session -d -s top -x 140 -y 40 "lanes --socket $IOP/gw-b.sock top"
sleep 4
tmux capture-pane -p -t top >"$IOP/top.txt" || die "capture-pane failed"
cat "$IOP/top.txt"
grep -q 'balance' "$IOP/top.txt" || die "no balance figure in lanes top"
for c in $(all_cpus); do
	grep -q "peer/net *cpu $c " "$IOP/top.txt" || die "no row for cpu $c in lanes top"
done
# Rows with decrypted packets (the "in pps" column, the third field).
busy=$(awk '/peer\/net *cpu [0-9]/ && $4 > 0 { n++ } END { print n + 0 }' "$IOP/top.txt")
echo "CPU rows with inbound traffic: $busy of $CPUS"
[ "$busy" -ge 2 ] || die "lanes top shows inbound traffic on $busy CPU rows, want >= 2"
bal=$(sed -n 's/.*balance \([0-9.]*\).*/\1/p' "$IOP/top.txt" | head -1)
echo "balance (max/mean per-CPU decrypt rate): ${bal:--}"

step "q quits"
tmux send-keys -t top q
i=0
while tmux has-session -t top 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 25 ] && die "lanes top still running 5 s after q"
	sleep 0.2
done
echo "lanes top exited after q"

step "plain lines when stdout is not a terminal"
lanes --socket "$IOP/gw-b.sock" top --count 2 | cat >"$IOP/top-plain.txt" || die "lanes top --count 2 failed"
cat "$IOP/top-plain.txt"
[ "$(grep -c '^lanes top:' "$IOP/top-plain.txt")" -eq 2 ] || die "want 2 plain blocks"
grep -q 'peer/net *cpu 0 ' "$IOP/top-plain.txt" || die "no cpu 0 row in the plain output"
iop_ping_wait 20
trap - EXIT
iop_result "strongswan lanes-responder top rows=$CPUS busy=$busy balance=${bal:--}" PASS
