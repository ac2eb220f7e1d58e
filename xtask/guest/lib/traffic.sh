# Traffic between client and server, pinned per CPU.
# Source with: . /lanes/scripts/lib/traffic.sh (after topo.sh).

# warm_cpu CPU [TRIES]: pings pinned to CPU until a reply comes back (per-CPU
# SAs are negotiated on the first packets; RFC 9611 drops those).
warm_cpu() {
	local i=0
	until nsx client taskset -c "$1" ping -q -c 1 -W 1 $SERVER >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge "${2:-20}" ] && return 1
		sleep 0.2
	done
	# One more round so the reverse direction's per-CPU SA exists too.
	nsx client taskset -c "$1" ping -q -c 2 -i 0.3 -W 1 $SERVER >/dev/null 2>&1
	return 0
}

# warm_all [N]: warm_cpu for CPUs 0..N-1 (default: every CPU).
warm_all() {
	local c=0
	while [ $c -lt "${1:-$(nproc)}" ]; do
		warm_cpu $c || return 1
		c=$((c + 1))
	done
}

# streams PROTO DURATION CPUS...: one iperf3 stream per listed CPU, client
# and server both pinned to it (ports 5201+CPU); a CPU written C/S pins the
# client to C and the server to S. Prints the total receiver Mbit/s, and
# per-stream results in /tmp/lanes-iperf-<cpu>.txt.
streams() {
	local proto=$1 dur=$2 c u="" spec
	shift 2
	[ "$proto" = udp ] && u="-u -b 0 -l 1400"
	for spec in "$@"; do
		c=${spec%%/*}
		nsx server taskset -c "${spec##*/}" iperf3 -s -1 -D -p $((5201 + c))
	done
	set -- $(for spec in "$@"; do echo "${spec%%/*}"; done)
	sleep 0.5
	for c in "$@"; do
		nsx client taskset -c "$c" timeout $((dur + 30)) iperf3 -c $SERVER -p $((5201 + c)) -t "$dur" -f m $u \
			>/tmp/lanes-iperf-$c.txt 2>&1 &
	done
	wait
	for c in "$@"; do
		awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' \
			/tmp/lanes-iperf-$c.txt | tail -1
	done | awk '{ s += $1 } END { printf "%.1f\n", s }'
}

# all_cpus: "0 1 ... N-1".
all_cpus() { seq 0 $(($(nproc) - 1)) | tr '\n' ' '; }

# rr DURATION [CPU [SERVER_CPU]]: netperf TCP_RR client->server, the client
# pinned to CPU (default 0), netserver to SERVER_CPU (default: any); prints
# "transactions/s mean-latency-us".
rr() {
	if [ -n "$3" ]; then
		nsx server sh -c "taskset -c $3 netserver >/dev/null 2>&1 </dev/null"
	else
		nsx server sh -c 'netserver >/dev/null 2>&1 </dev/null'
	fi
	sleep 0.5
	nsx client taskset -c "${2:-0}" timeout $(($1 + 30)) netperf -H $SERVER -t TCP_RR -l "$1" -P 0 -- \
		-o THROUGHPUT,MEAN_LATENCY 2>/dev/null </dev/null | tail -1 | tr ',' ' '
}
