# strongSwan charon instances, one per gateway namespace.
# Source with: . /lanes/scripts/lib/strongswan.sh (after topo.sh).
#
# Each namespace gets /etc/netns/NS/strongswan.conf and
# /etc/netns/NS/swanctl/ (`ip netns exec` bind-mounts them over /etc), its
# own /run (tmpfs, for the pid file), a vici socket unix:///tmp/vici-NS and
# a log /tmp/charon-NS.log. Identities and PSK as in the shared vectors.

SW_PSK=lanes-test-psk-0a1b2c3d4e5f60718293
SW_IKE=${SW_IKE:-aes128gcm16-prfsha256-x25519}
SW_ESP=${SW_ESP:-aes128gcm16}

# sw_config NS LOCAL REMOTE LNET RNET LID RID PERCPU [CHILD-OPTS]
# PERCPU: yes|no|encap (children.net.per_cpu_sas); CHILD-OPTS: extra lines.
sw_config() {
	local ns="$1" l="$2" r="$3" ln="$4" rn="$5" lid="$6" rid="$7" pcpu="$8" extra="${9:-}" d
	d=/etc/netns/$ns
	mkdir -p "$d/swanctl/conf.d"
	cat >"$d/strongswan.conf" <<CONF
include strongswan.d/*.conf
charon {
	load_modular = yes
	plugins {
		include strongswan.d/charon/*.conf
		vici {
			socket = unix:///tmp/vici-$ns
		}
	}
	install_routes = no
	filelog {
		lanes {
			path = /tmp/charon-$ns.log
			time_format = %T
			default = 1
			ike = 1
			knl = 1
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
swanctl {
	socket = unix:///tmp/vici-$ns
	# Debian's strongSwan has its crypto in the openssl plugin only.
	load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random nonce
}
CONF
	cat >"$d/swanctl/swanctl.conf" <<CONF
connections {
	lanes {
		version = 2
		local_addrs = $l
		remote_addrs = $r
		proposals = $SW_IKE
		local {
			auth = psk
			id = $lid
		}
		remote {
			auth = psk
			id = $rid
		}
		children {
			net {
				local_ts = $ln
				remote_ts = $rn
				esp_proposals = $SW_ESP
				mode = tunnel
				start_action = trap
				per_cpu_sas = $pcpu
				$extra
			}
		}
	}
}
secrets {
	ike-lanes {
		id-a = a.lanes.test
		id-b = b.lanes.test
		secret = "$SW_PSK"
	}
}
CONF
}

# sw_tunnel [PERCPU]: configures both gateways (A initiates via traps on
# both sides).
sw_tunnel() {
	sw_config gw-a $GW_A $GW_B $NET_A $NET_B a.lanes.test b.lanes.test "${1:-yes}" "${2:-}"
	sw_config gw-b $GW_B $GW_A $NET_B $NET_A b.lanes.test a.lanes.test "${1:-yes}" "${2:-}"
}

# sw_start NS: starts charon in NS and loads its config.
sw_start() {
	modprobe -q esp4
	ip netns exec "$1" sh -c 'mount -t tmpfs tmpfs /run; exec /usr/lib/ipsec/charon' \
		>/tmp/charon-$1.out 2>&1 &
	i=0
	while ! sw "$1" --stats >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && { tail -20 /tmp/charon-$1.out /tmp/charon-$1.log; die "charon in $1 did not start"; }
		sleep 0.1
	done
	sw "$1" --load-all >/tmp/swanctl-load-$1.out 2>&1 ||
		{ cat /tmp/swanctl-load-$1.out; die "swanctl --load-all in $1"; }
}

# sw NS ARGS...: swanctl against the charon of NS.
sw() { ns=$1; shift; ip netns exec "$ns" swanctl "$@"; }

# sw_child_cpus NS: the cpu= values of the installed children, one per line
# ("-" for the fallback SA), from `swanctl --list-sas --raw`.
sw_child_cpus() {
	sw "$1" --list-sas --raw 2>/dev/null | grep -o 'cpu=[^ ]*' | sed 's/cpu=//'
}

# sw_logs NS: prints the charon log of NS (for failures).
sw_logs() { echo "--- charon $1"; tail -n "${2:-60}" /tmp/charon-$1.log /tmp/charon-$1.out 2>/dev/null; }
