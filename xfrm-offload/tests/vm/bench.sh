#!/bin/sh
# SA install rate: lanes sequential and pipelined vs
# `ip -batch` and one `ip` process per SA, in the same boot. Prints
# "@@RAW" lines; LANES_BENCH_NS sets the SA counts, LANES_BENCH_REPS the rounds.
. /lanes/scripts/lib/common.sh
modprobe -q esp4
bin=/lanes/bin/xfrm-offload-sa_install_bench
[ -x "$bin" ] || die "missing $bin"
# In the test suite one small round shows every arm works; `cargo xtask
# bench --only xfrm` sets the counts and rounds of a measurement.
LANES_BENCH_NS=${LANES_BENCH_NS:-100} LANES_BENCH_REPS=${LANES_BENCH_REPS:-1} \
	LANES_VM_TESTS=1 "$bin" || die "bench failed"
