#!/usr/bin/env python3
"""Extracts the hex test vectors used by ike-core's golden tests from
a strongSwan 6.1 per-CPU PSK trace (strongSwan 6.1
level-4 logs of two daemons, A = initiator, B = responder).

Writes, next to this script:
  strongswan_packets.txt  one received datagram per line: "<side> <port> <hex>"
                          (port-4500 datagrams keep their non-ESP marker)
  strongswan_plain.txt    every SK plaintext strongSwan logged ("plain =>"),
                          one per line: "<side> <hex>"
  strongswan_keys.txt     "<name> <hex>" for the first IKE SA
Run: python3 extract_strongswan.py TRACE.log
"""
import re
import sys
from pathlib import Path

if len(sys.argv) < 2:
    sys.exit("usage: extract_strongswan.py TRACE.log")
trace = Path(sys.argv[1])
out = Path(__file__).resolve().parent
lines = trace.read_text().splitlines()

DUMP = re.compile(r"\] (.*?) => (\d+) bytes @")
HEXL = re.compile(r"\]\s+\d+: ((?:[0-9A-F]{2} )+)")
RECV = re.compile(r"received packet: from \S+\[(\d+)\] to \S+\[(\d+)\] \(\d+ bytes\)")


def dumps():
    side = None
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("=== A"):
            side = "A"
        elif ln.startswith("=== B"):
            side = "B"
        m = DUMP.search(ln)
        if m:
            label, n = m.group(1), int(m.group(2))
            data = bytearray()
            j = i + 1
            while len(data) < n and j < len(lines):
                h = HEXL.search(lines[j])
                if not h:
                    break
                data += bytes.fromhex(h.group(1).replace(" ", ""))
                j += 1
            assert len(data) == n, (i, label, n, len(data))
            yield i, side, label.strip(), bytes(data)
            i = j
            continue
        yield i, side, ln, None
        i += 1


packets, plains, keys = [], [], {}
pending_recv = []
for idx, side, label, data in dumps():
    if data is None:
        m = RECV.search(label)
        continue
    if label.endswith("received packet"):
        # The port is on the following "received packet: from" line; the
        # first 4 zero bytes on 4500 are the non-ESP marker.
        port = 4500 if data[:4] == b"\0\0\0\0" else 500
        packets.append(f"{side} {port} {data.hex()}")
    elif label.endswith("plain"):
        plains.append(f"{side} {data.hex()}")
    elif side == "A":
        names = {
            "key exchange secret": "g_ir",
            "nonces": "nonces",
            "SKEYSEED": "skeyseed",
            "Sk_d secret": "sk_d",
            "Sk_ei secret": "sk_ei",
            "Sk_er secret": "sk_er",
            "Sk_pi secret": "sk_pi",
            "Sk_pr secret": "sk_pr",
            "secret": "psk",
            "prf(secret, keypad)": "psk_keypad",
        }
        for k, v in names.items():
            if label == k and v not in keys:
                keys[v] = data.hex()
        if label.endswith("AUTH = prf(prf(secret, keypad), octets)"):
            keys.setdefault("auth_i" if "auth_i" not in keys else "auth_r", data.hex())
        if label.endswith("IntAuth"):
            keys.setdefault("octets_i" if "octets_i" not in keys else "octets_r", data.hex())
        if label.endswith("IDx'"):
            keys.setdefault("idi_body" if "idi_body" not in keys else "idr_body", data.hex())

# Independent oracle (Python's hmac) for the IKE_AUTH Child SA KEYMAT, which
# strongSwan does not log: prf+(SK_d, Ni | Nr), ESP AES-GCM-16-128 -> 2 x 20.
import hashlib
import hmac


def prf_plus(key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(key, t + seed + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


keys["child_keymat_ike_auth"] = prf_plus(
    bytes.fromhex(keys["sk_d"]), bytes.fromhex(keys["nonces"]), 40).hex()

(out / "strongswan_packets.txt").write_text("\n".join(packets) + "\n")
(out / "strongswan_plain.txt").write_text("\n".join(plains) + "\n")
(out / "strongswan_keys.txt").write_text(
    "".join(f"{k} {v}\n" for k, v in keys.items()))
print(len(packets), "packets,", len(plains), "plaintexts,", len(keys), "keys")
