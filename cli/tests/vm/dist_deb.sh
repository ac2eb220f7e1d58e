#!/bin/sh
# The Debian package from `cargo xtask dist` (in the payload as
# /lanes/dist/lanes.deb): `dpkg -i` on the guest, the files it installs
# (binary, unit, manuals, completions, examples), the unit's ExecStartPre and
# ExecStart run by hand (the guest has no systemd) on the packaged example
# config, `lanes status` against it; then steering with the packaged binary
# (the XDP object is embedded) on a host whose bpffs is not mounted: attach
# mounts it (mode=0700), and an attach the kernel refuses leaves nothing
# pinned or attached. Finally `dpkg -r`.
. /lanes/scripts/lib/common.sh
. /lanes/scripts/lib/topo.sh
deb=/lanes/dist/lanes.deb
[ -f "$deb" ] || skip "no package in the payload: run \`cargo xtask dist\` before the VM test"
command -v dpkg >/dev/null || skip "no dpkg in this image"
L=/usr/bin/lanes
unit=/usr/lib/systemd/system/lanes.service

step "dpkg -i $(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')"
dpkg -i "$deb" || die "dpkg -i failed"
dpkg-query -W -f='${Status}\n' lanes | grep -q 'install ok installed' || die "lanes not installed"
for f in $L $unit /usr/share/man/man8/lanes.8.gz /usr/share/man/man8/lanes-import-swanctl.8.gz \
	/usr/share/man/man5/lanes.toml.5.gz /usr/share/bash-completion/completions/lanes \
	/usr/share/zsh/vendor-completions/_lanes /usr/share/fish/vendor_completions.d/lanes.fish \
	/usr/share/doc/lanes/README.md /usr/share/doc/lanes/copyright /usr/share/doc/lanes/examples/gw-a.toml; do
	[ -e "$f" ] || die "the package lacks $f"
done
grep -q '^Documentation=man:lanes(8)' $unit || die "the unit no longer names man:lanes(8)"
zcat /usr/share/man/man8/lanes.8.gz | grep -q '^\.TH lanes 8' || die "lanes(8) is no manual page"
zcat /usr/share/man/man5/lanes.toml.5.gz | grep -q 'per_cpu_sas' || die "lanes.toml(5) lacks per_cpu_sas"
$L --version

step "the unit's ExecStartPre and ExecStart by hand, on the packaged gw-a example"
topo_up wire
install -d -m 0700 /etc/lanes /run/lanes
install -m 0600 /usr/share/doc/lanes/examples/gw-a.toml /etc/lanes/lanes.toml
pre=$(sed -n 's/^ExecStartPre=//p' $unit)
start=$(sed -n 's/^ExecStart=//p' $unit)
echo "ExecStartPre: $pre"
nsx gw-a $pre || die "ExecStartPre failed"
echo "ExecStart: $start"
ip netns exec gw-a $start >/tmp/lanes-deb.log 2>&1 &
dpid=$!
i=0
until $L status >/tmp/lanes-deb.status 2>&1; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat /tmp/lanes-deb.log; die "the packaged daemon did not answer lanes status"; }
	sleep 0.1
done
cat /tmp/lanes-deb.status
grep -q '1 connection(s): gw-b' /tmp/lanes-deb.status || die "lanes status does not show the gw-b connection"
$L status --json | grep -q '"ike_sas"' || die "lanes status --json lacks ike_sas"
kill "$dpid"; wait "$dpid" 2>/dev/null

step "steering with the packaged binary, bpffs not mounted"
umount /sys/fs/bpf 2>/dev/null
[ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] && die "could not unmount bpffs for the test"
ip link add lanes-t0 type veth peer name lanes-t1
ip link set lanes-t0 up; ip link set lanes-t1 up
$L steer attach lanes-t0 --mode skb --queue-size 20000 && die "the kernel accepted a cpumap queue of 20000"
[ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] || die "attach did not mount bpffs on /sys/fs/bpf"
mode=$(stat -c %a /sys/fs/bpf)
echo "bpffs mounted by lanes, mode $mode"
# bpffs sets the sticky bit on its root itself (kernel/bpf/inode.c bpf_fill_super).
[ "$mode" = 1700 ] || die "bpffs mounted with mode $mode, want 1700 (mode=0700 as bpftool, plus bpffs' sticky bit)"
[ -e /sys/fs/bpf/lanes ] && { find /sys/fs/bpf/lanes; die "the failed attach left pins"; }
ip link show lanes-t0 | grep -q xdp && die "the failed attach left XDP on lanes-t0"
$L steer attach lanes-t0 --mode skb || die "lanes steer attach failed"
ip link show lanes-t0 | grep -q xdp || die "no XDP on lanes-t0 after attach"
$L steer status | tee /tmp/lanes-deb.steer
grep -q lanes-t0 /tmp/lanes-deb.steer || die "steer status does not list lanes-t0"
$L steer detach lanes-t0 || die "detach"
ip link show lanes-t0 | grep -q xdp && die "XDP still on lanes-t0 after detach"
ip link del lanes-t0

step "dpkg -r"
dpkg -r lanes >/dev/null || die "dpkg -r failed"
[ -e $L ] && die "$L is still there after dpkg -r"
echo "dist_deb: ok"
