#!/bin/sh
# SA install rate (issue 6 item 7): lanes sequential and pipelined vs
# `ip -batch` and one `ip` process per SA, in the same boot. Prints
# "@@BENCH <name> <value>" lines; LANES_BENCH_N sets the SA count.
. /lanes/scripts/lib/common.sh
modprobe -q esp4
bin=/lanes/bin/xfrm-offload-sa_install_bench
[ -x "$bin" ] || die "missing $bin"
LANES_VM_TESTS=1 "$bin" || die "bench failed"
