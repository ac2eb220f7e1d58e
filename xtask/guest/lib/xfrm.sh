# Hand-installed XFRM tunnels between gw-a and gw-b (see topo.sh).
# Source with: . /lanes/scripts/lib/xfrm.sh (after topo.sh).
# AEAD rfc4106(gcm(aes)) with a 128-bit key + 32-bit salt and a 16-byte ICV.

# xfrm_key SPI: a fixed 20-byte key for an SPI (test data, not a secret).
xfrm_key() { printf '0x%08x%032x' "$1" $(( $1 * 7919 + 1 )); }

# xfrm_sa NS SRC DST SPI [EXTRA...]: one ESP tunnel SA (reqid 1).
xfrm_sa() {
	local ns="$1" src="$2" dst="$3" spi="$4"; shift 4
	nsx "$ns" ip xfrm state add src "$src" dst "$dst" proto esp spi "$spi" reqid 1 \
		mode tunnel aead 'rfc4106(gcm(aes))' "$(xfrm_key "$spi")" 128 "$@" ||
		die "ip xfrm state add spi $spi in $ns"
}

# xfrm_policies NS LOCAL REMOTE LNET RNET [FLAGS...]: out/in/fwd policies of
# one gateway; FLAGS (e.g. "flag 0x4", the CPU-acquire flag
# XFRM_POLICY_CPU_ACQUIRE) go on the out policy only.
xfrm_policies() {
	local ns="$1" l="$2" r="$3" ln="$4" rn="$5" d; shift 5
	nsx "$ns" ip xfrm policy add src "$ln" dst "$rn" dir out "$@" \
		tmpl src "$l" dst "$r" proto esp reqid 1 mode tunnel || die "policy out in $ns"
	for d in in fwd; do
		nsx "$ns" ip xfrm policy add src "$rn" dst "$ln" dir $d \
			tmpl src "$r" dst "$l" proto esp reqid 1 mode tunnel || die "policy $d in $ns"
	done
}

# xfrm_tunnel_gcm: one SA per direction (A->B spi 0x1000, B->A spi 0x2000).
xfrm_tunnel_gcm() {
	modprobe -q esp4; modprobe -q rfc4106 2>/dev/null
	xfrm_sa gw-a $GW_A $GW_B 0x1000
	xfrm_sa gw-b $GW_A $GW_B 0x1000
	xfrm_sa gw-b $GW_B $GW_A 0x2000
	xfrm_sa gw-a $GW_B $GW_A 0x2000
	xfrm_policies gw-a $GW_A $GW_B $NET_A $NET_B
	xfrm_policies gw-b $GW_B $GW_A $NET_B $NET_A
}

# xfrm_tunnel_pcpu: per-CPU SAs (RFC 9611 as the kernel does it, Linux
# 6.13+): for each CPU n an out SA with pcpu-num n (A->B spi 0x1100+n,
# B->A 0x2100+n) plus a fallback SA without a CPU (0x10ff / 0x20ff);
# inbound copies with `dir in`; out policies carry the CPU-acquire flag.
xfrm_tunnel_pcpu() {
	modprobe -q esp4
	local n c spi pair tx rx s d base fb
	n=$(ncpus)
	for pair in "gw-a gw-b $GW_A $GW_B 0x1100 0x10ff" "gw-b gw-a $GW_B $GW_A 0x2100 0x20ff"; do
		set -- $pair
		tx=$1 rx=$2 s=$3 d=$4 base=$5 fb=$6
		xfrm_sa "$tx" "$s" "$d" "$fb" dir out
		xfrm_sa "$rx" "$s" "$d" "$fb" dir in
		c=0
		while [ $c -lt "$n" ]; do
			spi=$(printf '0x%x' $((base + c)))
			xfrm_sa "$tx" "$s" "$d" "$spi" dir out pcpu-num $c
			xfrm_sa "$rx" "$s" "$d" "$spi" dir in pcpu-num $c
			c=$((c + 1))
		done
	done
	xfrm_policies gw-a $GW_A $GW_B $NET_A $NET_B flag 0x4
	xfrm_policies gw-b $GW_B $GW_A $NET_B $NET_A flag 0x4
}

# xfrm_counters NS [dst]: one line per SA: "spi pcpu dir bytes packets"
# (pcpu "-" for none), from `ip -s xfrm state`; with "dst", a sixth field:
# the SA's destination address.
xfrm_counters() {
	nsx "$1" ip -s xfrm state | gawk -v with_dst="${2:-}" '
		function flush() { if (spi != "") print spi, pcpu, dir, bytes, pkts (with_dst ? " " dst : ""); spi=""; pcpu="-"; dir="-"; bytes=0; pkts=0 }
		/^src / { flush(); dst = $4 }
		/proto esp spi/ { for (i = 1; i <= NF; i++) if ($i == "spi") spi = $(i + 1) }
		/lifetime current:/ { cur = 1; next }
		cur && /\(bytes\)/ { gsub(/[(),a-z]/, " "); bytes = $1; pkts = $2; cur = 0 }
		/pcpu-num/ { for (i = 1; i <= NF; i++) if ($i == "pcpu-num") pcpu = $(i + 1) }
		/^[ \t]*dir (in|out)/ { dir = $2 }
		END { flush() }'
}

# xfrm_packets NS SPI: packets counted on one SA (0 if absent).
xfrm_packets() {
	xfrm_counters "$1" | gawk -v s="$2" '
		function norm(x) { return sprintf("%d", strtonum(x)) }
		norm($1) == norm(s) { print $5; f = 1 } END { if (!f) print 0 }'
}
