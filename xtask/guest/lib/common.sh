# Shared guest helpers. Source with: . /lanes/scripts/lib/common.sh

# Prints a message and fails the test.
die() { echo "FAIL: $*" >&2; exit 1; }
# Skips the test (exit 77).
skip() { echo "SKIP: $*"; exit 77; }
# Prints a step.
step() { echo "--- $*"; }

# Removes every namespace (killing what runs in it), SA and policy, and
# stray daemons: the clean state each test starts from.
lanes_reset() {
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns delete "$ns" 2>/dev/null
	done
	for d in charon pluto iperf3 netserver netperf tcpdump lanes; do
		pkill -9 -x "$d" 2>/dev/null
	done
	ip xfrm state flush 2>/dev/null
	ip xfrm policy flush 2>/dev/null
	rm -rf /etc/netns/* /tmp/lanes-* 2>/dev/null
	return 0
}

# vm_accel: the accelerator QEMU runs this guest on (kvm, tcg or unknown),
# from the lanes.accel= boot argument.
vm_accel() {
	a=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^lanes\.accel=//p')
	echo "${a:-unknown}"
}

# vm_host_cpus: the host's CPU count (lanes.host_cpus=), or "?".
vm_host_cpus() {
	c=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^lanes\.host_cpus=//p')
	echo "${c:-?}"
}
