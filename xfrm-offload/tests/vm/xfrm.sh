#!/bin/sh
# xfrm-offload in the guest (Linux >= 6.13 with ESP): the kernel tests
# (per-CPU SAs pinned with sched_setaffinity, per-CPU acquire, soft/hard
# expire, offload ladder on veth, probes, SA lifecycle) and the host tests
# again on a kernel with ESP. Each Rust test makes its own namespace.
. /lanes/scripts/lib/common.sh
modprobe -q esp4; modprobe -q esp6; modprobe -q esp4_offload 2>/dev/null
for t in vm_kernel host_netns; do
	bin=/lanes/bin/xfrm-offload-$t
	[ -x "$bin" ] || die "missing $bin (the payload builds it with cargo test --no-run)"
	step "$t"
	LANES_VM_TESTS=1 LANES_PRIV_TESTS=1 "$bin" --test-threads=1 --include-ignored --nocapture || die "$t failed"
done
