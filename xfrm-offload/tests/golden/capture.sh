#!/bin/sh
# Regenerates the iproute2-side golden files: runs `ip xfrm ...` under strace and
# stores the payload (after the 16-byte nlmsghdr) of its first XFRM request.
# The host kernel may reject the request (no ESP); only the bytes sent matter.
# Usage: capture.sh NAME ip xfrm ...   (writes NAME.hex)
set -eu
name=$1; shift
out=$(strace -e trace=sendmsg -x -s 65536 "$@" 2>&1 >/dev/null | grep -m1 'nlmsg_type=XFRM_MSG' || true)
[ -n "$out" ] || { echo "no XFRM sendmsg seen for: $*" >&2; exit 1; }
printf '%s\n' "$out" | python3 -c '
import re, sys
line = sys.stdin.read()
hdr = re.search(r"nlmsg_type=(\w+), nlmsg_flags=([\w|]+)", line)
payload = re.search(r"\}, \"((?:\\x[0-9a-f]{2})*)\"\]", line).group(1)
raw = bytes(int(h, 16) for h in payload.split("\\x")[1:])
print("# " + " ".join(sys.argv[1:]))
print("# type " + hdr.group(1) + " flags " + hdr.group(2))
for i in range(0, len(raw), 16):
    print(raw[i:i+16].hex())
' "$@" > "$name.hex"
echo "$name.hex: $(grep -vc '^#' "$name.hex") lines"
