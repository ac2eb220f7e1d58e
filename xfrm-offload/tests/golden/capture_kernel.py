#!/usr/bin/env python3
"""Captures XFRM messages *sent by the kernel* for the golden tests.

Run as root; it works in a fresh network namespace it creates (lanes-golden)
and removes. Writes:
  kernel_acquire.hex   XFRM_MSG_ACQUIRE after a UDP datagram hits an out policy without SA
  kernel_policy_dump.hex  first XFRM_MSG_NEWPOLICY of a GETPOLICY dump
  kernel_allocspi.hex  XFRM_MSG_NEWSA answering an ALLOCSPI (larval SA)
Each file holds the payload after the 16-byte nlmsghdr, hex, 16 bytes a line.
"""
import os, socket, struct, subprocess, sys, time

NS = "lanes-golden"
NETLINK_XFRM = 6


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def save(name, comment, msgtype, payload):
    with open(name + ".hex", "w") as f:
        f.write("# %s\n# type %d (kernel)\n" % (comment, msgtype))
        for i in range(0, len(payload), 16):
            f.write(payload[i:i + 16].hex() + "\n")
    print(name, len(payload))


def messages(data):
    while len(data) >= 16:
        ln, ty, fl, seq, pid = struct.unpack("=IHHII", data[:16])
        yield ty, data[16:ln]
        data = data[(ln + 3) & ~3:]


def child():
    sh("ip link set lo up")
    sh("ip link add dummy0 type veth peer name dummy1 && ip link set dummy0 up && ip link set dummy1 up")
    sh("ip addr add 10.1.0.1/16 dev dummy0 && ip route add 10.2.0.0/16 dev dummy0")
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
    s.bind((0, 1))  # XFRMNLGRP_ACQUIRE
    sh("ip xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out priority 1000 "
       "tmpl src 10.0.0.1 dst 10.0.0.2 proto esp reqid 0x6c6e0001 mode tunnel")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"x", ("10.2.0.5", 9))  # the host has no ping
    except OSError:
        pass  # EAGAIN while the acquire is pending (larval drop)
    s.settimeout(3)
    for ty, p in messages(s.recv(65536)):
        if ty == 23:
            save("kernel_acquire", "UDP 10.1.0.1 -> 10.2.0.5:9 hitting out policy 10.1/16->10.2/16 tmpl reqid 0x6c6e0001", ty, p)
    # policy dump
    q = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
    q.bind((0, 0))
    req = struct.pack("=IHHII", 16, 21, 0x301, 1, 0)  # GETPOLICY, REQUEST|DUMP
    q.send(req)
    done = False
    while not done:
        for ty, p in messages(q.recv(65536)):
            if ty == 19:
                save("kernel_policy_dump", "GETPOLICY dump answer for the policy above", ty, p)
            done = done or ty in (2, 3)  # NLMSG_ERROR / NLMSG_DONE
    # ALLOCSPI: the bytes iproute2 sent (allocspi.hex)
    with open("allocspi.hex") as f:
        body = bytes.fromhex("".join(l.strip() for l in f if not l.startswith("#")))
    q.send(struct.pack("=IHHII", 16 + len(body), 22, 0x5, 2, 0) + body)
    for ty, p in messages(q.recv(65536)):
        if ty == 16:
            save("kernel_allocspi", "NEWSA answering allocspi.hex (range 0xc0000000-0xcfffffff, seq 42)", ty, p)
        elif ty == 2:
            print("allocspi error", struct.unpack("=i", p[:4]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child()
    else:
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
        sh("ip netns add " + NS)
        try:
            sh("ip netns exec %s python3 %s --child" % (NS, os.path.abspath(__file__)))
        finally:
            sh("ip netns del " + NS)
