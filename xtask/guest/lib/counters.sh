# Counters and controlled traffic for the testbed (cargo xtask testbed).
# Source after topo.sh, xfrm.sh and lanes.sh.

# cpu_jiffies: "cpuN busy softirq total" per CPU from /proc/stat (USER_HZ
# ticks; busy = user + nice + system + irq + softirq).
cpu_jiffies() {
	awk '/^cpu[0-9]/ { print $1, $2 + $3 + $4 + $7 + $8, $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat
}

# jiffies_delta BEFORE AFTER: "N:busy/softirq/total,..." per CPU.
jiffies_delta() {
	paste -d' ' "$1" "$2" | awk '{ printf "%s%s:%d/%d/%d", sep, substr($1, 4), $6 - $2, $7 - $3, $8 - $4; sep = "," }'
}

# softnet_drops: "dropped time_squeeze" summed over CPUs
# (/proc/net/softnet_stat, columns 2 and 3, hex; net/core/net-procfs.c).
softnet_drops() {
	gawk '{ d += strtonum("0x" $2); s += strtonum("0x" $3) } END { print d + 0, s + 0 }' /proc/net/softnet_stat
}

# xfrm_stat NS: "Name value" lines of NS's /proc/net/xfrm_stat (net/xfrm/xfrm_proc.c).
xfrm_stat() { nsx "$1" cat /proc/net/xfrm_stat 2>/dev/null; }

# xfrm_stat_delta BEFORE AFTER: "Name:delta,..." of the counters that moved ("" if none).
xfrm_stat_delta() {
	awk 'NR == FNR { b[$1] = $2; next } $2 - b[$1] > 0 { printf "%s%s:%d", sep, $1, $2 - b[$1]; sep = "," }' "$1" "$2"
}

# udp_rcvbuf NS: UdpRcvbufErrors of NS (/proc/net/snmp, as nstat shows it).
udp_rcvbuf() { nsx "$1" awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }

# sa_in_spi NS: "spi packets" of every inbound SA of NS.
sa_in_spi() {
	xfrm_counters "$1" | awk '$3 != "out" { sub(/\(.*/, "", $1); print $1, $5 }' | sort
}

# sa_out_cpu NS: "spi:pcpu,..." of NS's outbound per-CPU SAs.
sa_out_cpu() {
	xfrm_counters "$1" | awk '$3 == "out" && $2 != "-" { sub(/\(.*/, "", $1); printf "%s%s:%s", sep, $1, $2; sep = "," }'
}

# spi_delta BEFORE AFTER: "spi:packets,..." moved between two sa_in_spi files.
spi_delta() {
	join -a 2 -e 0 -o '0,1.2,2.2' "$1" "$2" | awk '{ printf "%s%s:%d", sep, $1, $3 - $2; sep = "," }'
}

# bindings NS: the steering map of NS as "spi:cpu,..." (decimal SPIs).
bindings() {
	nsx "$1" lanes steer status --json 2>/dev/null | tr -d ' \n' |
		sed -n 's/.*"bindings":\[\([^]]*\)\].*/\1/p' | tr '}' '\n' |
		gawk 'match($0, /"spi":[0-9]+/) { s = substr($0, RSTART + 6, RLENGTH - 6)
			if (match($0, /"cpu":[0-9]+/)) { printf "%s%s:%s", sep, s, substr($0, RSTART + 6, RLENGTH - 6); sep = "," } }'
}

# steer_self NS IFACE MODE CPU: the redirect control: the steering program,
# with every inbound SA of gateway NS bound to CPU, the CPU the wire
# delivers on, so each packet takes the cpumap hop without changing CPU.
steer_self() {
	local dst=$GW_B
	[ "$1" = gw-a ] && dst=$GW_A
	_steer_attach "$1" "$2" "$3" || return
	sa_in_spi "$1" | while read -r spi _; do
		nsx "$1" lanes steer bind "$spi" "$4" --dst $dst >>/tmp/lanes-steer-$1.log 2>&1 || return 1
	done
}

# decrypt_balance SPI_DELTAS BINDINGS WIRE_CPU NCPUS: "0:pkts 1:pkts ...
# max/mean=X" of ESP packets per decrypting CPU: an SA's packets are
# decrypted on its binding's CPU (steered), else on WIRE_CPU. SPI_DELTAS is
# spi_delta's "spi:pkts,..." (hex), BINDINGS is bindings' "spi:cpu,..." (decimal).
decrypt_balance() {
	gawk -v d="$1" -v b="$2" -v w="$3" -v n="$4" 'BEGIN {
		nb = split(b, bs, ","); for (i = 1; i <= nb; i++) { split(bs[i], kv, ":"); bind[kv[1] + 0] = kv[2] }
		nd = split(d, ds, ","); for (i = 1; i <= nd; i++) {
			split(ds[i], kv, ":"); spi = strtonum(kv[1]); cpu = (spi in bind) ? bind[spi] : w; per[cpu] += kv[2]; tot += kv[2]
		}
		for (c = 0; c < n; c++) { printf "CPU%d %d, ", c, per[c]; if (per[c] > max) max = per[c] }
		if (tot > 0) printf "max/mean %.2f", max * n / tot; else printf "no ESP packets"
	}'
}

# xdp_pass NS IFACE MODE: the XDP control: a program returning XDP_PASS for
# every frame (`lanes steer attach --program pass`).
xdp_pass() {
	command -v lanes >/dev/null || { echo "no lanes binary"; return 2; }
	nsx "$1" lanes steer attach "$2" --mode "$3" --program pass >/tmp/lanes-steer-$1.log 2>&1 ||
		{ cat /tmp/lanes-steer-$1.log; return 1; }
}

# bounded LEN PPS DURATION CPUS...: UDP with LEN-byte payloads at PPS
# datagrams/s per stream (iperf3 -b), one stream per listed CPU ("C" or
# "C/S" as in `streams`); prints "Mbit/s lost sent" summed from the
# receivers' reports.
bounded() {
	local len=$1 pps=$2 dur=$3 c spec
	shift 3
	for spec in "$@"; do
		c=${spec%%/*}
		nsx server taskset -c "${spec##*/}" iperf3 -s -1 -D -p $((5201 + c))
	done
	set -- $(for spec in "$@"; do echo "${spec%%/*}"; done)
	sleep 0.5
	for c in "$@"; do
		nsx client taskset -c "$c" timeout $((dur + 30)) iperf3 -c $SERVER -p $((5201 + c)) -t "$dur" -f m \
			-u -l "$len" -b $((pps * len * 8)) >/tmp/lanes-iperf-$c.txt 2>&1 &
	done
	wait
	for c in "$@"; do
		awk '/receiver/ { for (i = 1; i < NF; i++) { if ($(i + 1) == "Mbits/sec") m = $i; if ($i ~ /^[0-9]+\/[0-9]+$/) { split($i, x, "/"); l = x[1]; t = x[2] } } }
			END { print m + 0, l + 0, t + 0 }' /tmp/lanes-iperf-$c.txt
	done | awk '{ m += $1; l += $2; t += $3 } END { printf "%.3f %d %d\n", m, l, t }'
}

# rr_pct DURATION CPU [SERVER_CPU]: netperf TCP_RR with per-transaction
# timing (-j); prints "transactions/s mean-us p50-us p99-us".
rr_pct() {
	if [ -n "$3" ]; then
		nsx server sh -c "taskset -c $3 netserver >/dev/null 2>&1 </dev/null"
	else
		nsx server sh -c 'netserver >/dev/null 2>&1 </dev/null'
	fi
	sleep 0.5
	nsx client taskset -c "$2" timeout $(($1 + 30)) netperf -j -H $SERVER -t TCP_RR -l "$1" -P 0 -- \
		-o THROUGHPUT,MEAN_LATENCY,P50_LATENCY,P99_LATENCY 2>/dev/null </dev/null | tail -1 | tr ',' ' '
}
