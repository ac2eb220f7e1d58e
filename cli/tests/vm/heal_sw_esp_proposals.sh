#!/bin/sh
# Every ESP proposal keyword `lanes check` accepts installs: for each case,
# lanes on gw-a (the keyword as written) and charon on gw-b (strongSwan's
# spelling) negotiate one SA pair on traffic, a ping crosses the tunnel, and
# gw-a's kernel holds the expected algorithm, key length and ICV length
# (AES-GCM-8/12/16 as rfc4106 with a 64/96/128-bit ICV, RFC 4106 §8.1).
# Key exchange keywords only matter for PFS rekeys and are not listed here.
. "$(dirname "$0")/lib/interop.sh"
command -v /usr/lib/ipsec/charon >/dev/null || skip "no strongSwan in this image"
trap iop_dump EXIT
LN_PCPU=no SW_PCPU=no IOP_IPERF=0

# esp_algos: "alg keybytes [icvbits]" of gw-a's SAs, one per line, unique.
esp_algos() {
	nsx gw-a ip xfrm state | awk '
		$1 == "aead" { print $2, (length($3) - 2) / 2, $4 }
		$1 == "enc" { print $2, (length($3) - 2) / 2 }
		$1 == "auth-trunc" { print $2, (length($3) - 2) / 2, $4 }' | sort -u | tr '\n' ';'
}

first=1
# case LANES_KEYWORDS STRONGSWAN_KEYWORDS EXPECTED ESN(yes|no)
case_esp() {
	if [ $first = 1 ]; then topo_up wire; first=0; else iop_reset; fi
	step "esp_proposals = [\"$1\"] (strongSwan: $2)"
	LN_ESP=$1 SW_ESP=$2
	iop_start strongswan gw-b
	iop_start lanes gw-a
	warm_cpu 0 20 || die "$1: no tunnel"
	topo_ping 3 || die "$1: no ping through the tunnel"
	got=$(esp_algos)
	echo "$1: kernel $got"
	[ "$got" = "$3" ] || die "$1: expected $3, the kernel has $got"
	if [ "$4" = yes ]; then
		nsx gw-a ip xfrm state | grep -q 'flag.*esn' || die "$1: no ESN on the SAs"
	else
		nsx gw-a ip xfrm state | grep -q 'flag.*esn' && die "$1: ESN on the SAs"
	fi
	iop_result "strongswan lanes-initiator esp=$1" PASS
}

gcm='rfc4106(gcm(aes))'
case_esp aes128gcm16-esn aes128gcm16-esn "$gcm 20 128;" yes
case_esp aes192gcm16-noesn aes192gcm16-noesn "$gcm 28 128;" no
case_esp aes256gcm128 aes256gcm16 "$gcm 36 128;" no
case_esp aes128gcm12 aes128gcm12 "$gcm 20 96;" no
case_esp aes256gcm96 aes256gcm12 "$gcm 36 96;" no
case_esp aes128gcm8 aes128gcm8 "$gcm 20 64;" no
case_esp aes192gcm64 aes192gcm8 "$gcm 28 64;" no
case_esp aes256gcm aes256gcm16 "$gcm 36 128;" no
case_esp aes128-sha256 aes128-sha256 "cbc(aes) 16;hmac(sha256) 32 128;" no
case_esp aes192-sha384 aes192-sha384 "cbc(aes) 24;hmac(sha384) 48 192;" no
case_esp aes256-sha2_512 aes256-sha512 "cbc(aes) 32;hmac(sha512) 64 256;" no
case_esp aes-sha2_256 aes128-sha256 "cbc(aes) 16;hmac(sha256) 32 128;" no
case_esp chacha20poly1305 chacha20poly1305 "rfc7539esp(chacha20,poly1305) 36 128;" no
trap - EXIT
