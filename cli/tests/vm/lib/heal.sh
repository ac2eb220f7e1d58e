# Self-healing helpers: lanes on gw-a brings a per-CPU tunnel back by itself
# (dpd_action = "restart", start_action = "start", precreated per-CPU SAs).
# Source after lib/interop.sh.
#
# Knobs: HEAL_DPD (dpd_delay, 3s), HEAL_DPD_TIMEOUT (dpd_timeout, 6s),
# HEAL_DAEMON (extra [daemon] lines), HEAL_CONN (extra connection lines).
HEAL_DPD=${HEAL_DPD:-3s}
HEAL_DPD_TIMEOUT=${HEAL_DPD_TIMEOUT:-6}
HEAL_DAEMON=${HEAL_DAEMON:-'retransmit_timeout = 2.0
retransmit_base = 1.5
retransmit_tries = 3'}

# heal_lanes_start NS: lanes in NS initiating at start-up, every CPU's SA
# pair precreated, restarting on a dead peer, trying forever.
heal_lanes_start() {
	LN_START=start LN_DPD=$HEAL_DPD
	LN_CHILD_EXTRA="per_cpu_mode = \"precreate\"
dpd_action = \"restart\"
${LN_CHILD_EXTRA:-}"
	iop_lanes_conf "$1"
	f=$IOP/$1.toml
	printf '%s\n' "$HEAL_DAEMON" >"$IOP/heal-daemon"
	printf 'dpd_timeout = "%ss"\nkeyingtries = 0\n%s\n' "$HEAL_DPD_TIMEOUT" "${HEAL_CONN:-}" >"$IOP/heal-conn"
	sed -i "/^listen = /r $IOP/heal-daemon" "$f"
	sed -i "/^remote_addrs = /r $IOP/heal-conn" "$f"
	lanes --config "$f" check || { cat "$f"; die "lanes rejected the healing config"; }
	iop_lanes_start "$1"
}

# heal_ike_spi NS: the initiator SPI of NS's established IKE SA (empty if none).
heal_ike_spi() {
	ln_json "$1" 2>/dev/null | tr -d ' \n' |
		grep -o '"state":"established"[^}]*"spi_i":"[0-9a-f]*"' | grep -o '[0-9a-f]\{16\}' | head -1
}

# heal_pcpu_ready NS: NS's kernel has the fallback SA pair and an SA for every CPU.
heal_pcpu_ready() {
	list=$(iop_pcpu_list "$1")
	[ "$(iop_fallback_count "$1")" -ge 2 ] || return 1
	c=0
	while [ $c -lt "$CPUS" ]; do
		echo " $list " | grep -q " $c " || return 1
		c=$((c + 1))
	done
}

# heal_wait_back OLD_SPI T0 LIMIT: waits until gw-a has an established IKE SA
# other than OLD_SPI and both gateways have every CPU's SA; dies when that
# takes more than LIMIT seconds after T0 (date +%s); prints the time taken.
heal_wait_back() {
	while :; do
		now=$(date +%s)
		spi=$(heal_ike_spi gw-a)
		if [ -n "$spi" ] && [ "$spi" != "$1" ] && heal_pcpu_ready gw-a && heal_pcpu_ready gw-b; then
			echo "tunnel back after $((now - $2)) s with IKE SA $spi: gw-a CPUs $(iop_pcpu_list gw-a)"
			HEAL_TOOK=$((now - $2))
			return 0
		fi
		[ $((now - $2)) -gt "$3" ] && die "no new IKE SA with per-CPU SAs $3 s after the outage began (IKE SA now: ${spi:-none})"
		sleep 0.5
	done
}

# heal_up: strongSwan on gw-b, the healing lanes on gw-a; waits for the
# per-CPU tunnel and checks traffic on every CPU. Sets HEAL_SPI.
heal_up() {
	iop_start strongswan gw-b
	heal_lanes_start gw-a
	i=0
	until [ -n "$(heal_ike_spi gw-a)" ] && heal_pcpu_ready gw-a && heal_pcpu_ready gw-b; do
		i=$((i + 1))
		[ $i -gt 60 ] && die "start_action = start did not build the per-CPU tunnel in 30 s"
		sleep 0.5
	done
	iop_drive_cpus
	HEAL_SPI=$(heal_ike_spi gw-a)
	echo "tunnel up, IKE SA $HEAL_SPI, gw-a CPUs: $(iop_pcpu_list gw-a)"
}

# heal_check_traffic: pings from every CPU pass again, and lanes still runs.
heal_check_traffic() {
	iop_drive_cpus
	topo_ping 5 || die "no ping through the healed tunnel"
	iop_check_side lanes gw-a
	iop_check_side strongswan gw-b
	ln_alive gw-a || die "lanes died"
}
