#!/bin/sh
# Baseline (a): hand-installed AES-GCM tunnel SAs (`ip xfrm`) between gw-a
# and gw-b carry ping and iperf3 from client to server, and only ESP is
# seen on the wire.
. /lanes/scripts/lib/topo.sh
. /lanes/scripts/lib/xfrm.sh
topo_up wire
xfrm_tunnel_gcm

step "ping through the tunnel; capture on the wire"
nsx wire timeout 20 tcpdump -ni wa -U -c 6 -w /tmp/lanes-esp.pcap esp 2>/tmp/lanes-tcpdump.err &
tcp=$!
nsx wire timeout 20 tcpdump -ni wa -U -c 1 -w /tmp/lanes-icmp.pcap icmp 2>/dev/null &
icmp=$!
sleep 1
topo_ping 5 || die "no ping reply through the tunnel"
wait $tcp
esp=$(nsx wire tcpdump -nr /tmp/lanes-esp.pcap 2>/dev/null | grep -c 'ESP(spi=')
echo "ESP packets captured on the wire: $esp"
[ "$esp" -ge 6 ] || { cat /tmp/lanes-tcpdump.err; die "expected >= 6 ESP packets on the wire, saw $esp"; }
kill $icmp 2>/dev/null; wait $icmp 2>/dev/null
plain=$(nsx wire tcpdump -nr /tmp/lanes-icmp.pcap 2>/dev/null | grep -c ICMP)
[ "$plain" -eq 0 ] || die "plaintext ICMP seen on the wire"

step "iperf3 through the tunnel"
before=$(xfrm_packets gw-a 0x1000)
nsx server iperf3 -s -1 -D
sleep 0.5
nsx client iperf3 -c $SERVER -t 3 -f m | tee /tmp/lanes-iperf.txt | tail -4
grep -q receiver /tmp/lanes-iperf.txt || die "iperf3 failed"
after=$(xfrm_packets gw-a 0x1000)
echo "SA 0x1000 on gw-a: $before -> $after packets"
[ $((after - before)) -gt 500 ] || die "iperf3 traffic did not go through SA 0x1000"
xfrm_counters gw-a
