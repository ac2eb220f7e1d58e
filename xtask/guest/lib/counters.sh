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

# sa_in_spi NS: "spi packets" of every inbound SA of NS: dir in, or no
# dir and NS's own address as destination.
sa_in_spi() {
	local me=$GW_B
	[ "$1" = gw-a ] && me=$GW_A
	xfrm_counters "$1" dst | awk -v me="$me" '$3 == "in" || ($3 != "out" && $6 == me) { sub(/\(.*/, "", $1); print $1, $5 }' | sort
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

# Decryptions counted per CPU: a kprobe event on esp_input (net/ipv4/esp4.c,
# the entry of every ESP decryption) with a hist trigger keyed on the CPU
# and the SA's SPI (Documentation/trace/histogram.rst). The trigger arms
# the probe in soft mode: nothing is written to the trace buffer.
TRACEFS=/sys/kernel/tracing
ESP_EVENT=$TRACEFS/events/lanes/esp4
ESP_HIST='hist:keys=common_cpu,spi:vals=hitcount:size=4096'

# xfrm_spi_offset: the byte offset of id.spi in struct xfrm_state, from the
# kernel's BTF (struct xfrm_id is uapi: daddr, 16 bytes, then spi).
xfrm_spi_offset() {
	bpftool btf dump file /sys/kernel/btf/vmlinux format raw 2>/dev/null | gawk '
		/^\[[0-9]+\] STRUCT / { in_x = ($3 == "'"'"'xfrm_state'"'"'"); next }
		/^\[/ { in_x = 0 }
		in_x && $1 == "'"'"'id'"'"'" { for (i = 2; i <= NF; i++) if ($i ~ /^bits_offset=/) { split($i, b, "="); print b[2] / 8 + 16; f = 1; exit } }
		END { exit !f }'
}

# esp_count_on: sets the probe up once per boot; fails (with the reason on
# stderr) where the kernel lacks kprobe events, hist triggers or BTF.
esp_count_on() {
	[ -e $ESP_EVENT/hist ] && return 0
	[ -d $TRACEFS/events ] || mount -t tracefs tracefs $TRACEFS 2>/dev/null
	[ -w $TRACEFS/kprobe_events ] || { echo "no kprobe_events in tracefs" >&2; return 1; }
	modprobe -q esp4
	local off
	off=$(xfrm_spi_offset) || { echo "no BTF for struct xfrm_state" >&2; return 1; }
	echo "p:lanes/esp4 esp_input spi=+$off(%di):u32" >>$TRACEFS/kprobe_events ||
		{ echo "kprobe on esp_input refused" >&2; return 1; }
	echo "$ESP_HIST" >$ESP_EVENT/trigger ||
		{ echo "hist trigger refused (CONFIG_HIST_TRIGGERS)" >&2; return 1; }
}

# esp_count_off: removes the trigger and the probe (the testbed's
# pcpu-uncounted control: what counting costs); esp_count_on sets them up again.
esp_count_off() {
	[ -e $ESP_EVENT/hist ] || return 0
	echo "!$ESP_HIST" >>$ESP_EVENT/trigger
	echo '-:lanes/esp4' >>$TRACEFS/kprobe_events
}

# esp_counts: "cpu spi count" per (CPU, SA) since esp_count_on, the SPI in
# network order as 0x%08x; nothing where counting is off.
esp_counts() {
	[ -r $ESP_EVENT/hist ] || return 0
	gawk '/^\{/ {
		gsub(/[{},]/, " "); c = ""; s = ""; n = ""
		for (i = 1; i < NF; i++) {
			if ($i == "common_cpu:" || $i == "cpu:") c = $(i + 1)
			if ($i == "spi:") s = $(i + 1)
			if ($i == "hitcount:") n = $(i + 1)
		}
		if (c == "" || s == "" || n == "") next
		# The probe reads the __be32 as a little-endian u32.
		s = or(or(lshift(and(s, 255), 24), lshift(and(rshift(s, 8), 255), 16)), or(lshift(and(rshift(s, 16), 255), 8), and(rshift(s, 24), 255)))
		printf "%d 0x%08x %d\n", c, s, n
	}' $ESP_EVENT/hist | sort
}

# esp_delta BEFORE AFTER: "cpu:spi:count,..." of esp_counts that moved.
esp_delta() {
	awk 'NR == FNR { b[$1 " " $2] = $3; next } $3 - b[$1 " " $2] > 0 { printf "%s%s:%s:%d", sep, $1, $2, $3 - b[$1 " " $2]; sep = "," }' "$1" "$2"
}

# within_bound LOST SENT OFFERED: true when LOST/SENT ≤ TB_LOSS_PCT % and
# the senders reached TB_REACH_PCT % (default 90) of the OFFERED datagrams:
# a sender that cannot keep the rate has not shown the path carries it.
within_bound() {
	awk -v l="$1" -v s="$2" -v o="$3" -v b="${TB_LOSS_PCT:-1}" -v r="${TB_REACH_PCT:-90}" \
		'BEGIN { exit !(s > 0 && 100 * l <= b * s && 100 * s >= r * o) }'
}

# bounded_search LEN DUR KEY CPUS...: the highest rate (datagrams/s per
# stream) whose loss stays within TB_LOSS_PCT, each trial DUR s long. The
# first search of KEY doubles from TB_UDP_PPS while within (at most
# TB_SEARCH_MAX), then bisects TB_SEARCH_STEPS times between the last rate
# within and the first beyond; a later search of KEY tries the rate found
# before and 1.5 times it, then bisects twice. A trial is within when its
# loss is within the bound and the senders reached the rate (within_bound).
# Prints the best trial within (or the lowest tried) as "Mbit/s lost sent
# pps trials", trials as "pps/lost/sent;...".
bounded_search() {
	local len=$1 dur=$2 state=/tmp/tb-search/$3 lo=0 hi=0 steps=${TB_SEARCH_STEPS:-4}
	local max=${TB_SEARCH_MAX:-1000000} trials="" best="" low="" r m cpus
	shift 3
	cpus="$*"
	mkdir -p /tmp/tb-search
	# _trial RATE: one run; true when its loss is within the bound.
	_trial() {
		local out
		out=$(bounded "$len" "$1" "$dur" $cpus)
		set -- "$1" $out
		trials="$trials${trials:+;}$1/$3/$4"
		[ -z "$low" ] || [ "$1" -lt "${low##* }" ] && low="$out $1"
		within_bound "$3" "$4" $(($1 * dur * $(echo $cpus | wc -w))) || return 1
		[ -n "$best" ] && [ "$1" -le "${best##* }" ] || best="$out $1"
	}
	if [ -s "$state" ]; then
		r=$(cat "$state") steps=2
		if _trial "$r"; then
			lo=$r r=$((r * 3 / 2))
			_trial "$r" && lo=$r || hi=$r
		else
			hi=$r
		fi
	else
		r=${TB_UDP_PPS:-1000}
		while _trial "$r"; do
			lo=$r
			[ "$r" -ge "$max" ] && break
			r=$((r * 2))
		done
		[ "$lo" = "$r" ] || hi=$r
	fi
	while [ "$hi" -gt 0 ] && [ "$steps" -gt 0 ] && [ $((hi - lo)) -gt 1 ]; do
		m=$(((lo + hi) / 2))
		if _trial "$m"; then lo=$m; else hi=$m; fi
		steps=$((steps - 1))
	done
	[ -n "$best" ] && echo "${best##* }" >"$state"
	echo "${best:-$low} $trials"
}
