#!/usr/bin/env python3
"""Extracts RFC 9370 key-derivation vectors from a strongSwan 6.1 level-4
trace of two charon daemons (A initiates) with IKE proposal
aes128gcm16-prfsha256-x25519-ke1_mlkem768 and ESP
aes128gcm16-x25519-ke1_mlkem768: IKE_SA_INIT, one IKE_INTERMEDIATE (ML-KEM),
IKE_AUTH, a Child SA rekey and an IKE SA rekey, each with the additional
exchange, made by xtask/guest/bin/trace-pq:

  cargo xtask vm run -- trace-pq > trace.log
  python3 extract_strongswan_pq.py trace.log

Writes strongswan_pq_keys.txt next to this script: "<name> <hex>" lines from
A's log in the order strongSwan derived them. Names are strongSwan's labels
(lower case, runs of other characters as "_", prefixed by the log group)
with a ".N" suffix counting repeats; ike_spis.0 holds the first IKE SA's
SPIs (from the IKE_SA_INIT response A received), sas_ike_spis.N those that
`swanctl --list-sas` printed before "=== A" (the rekeyed IKE SA).
"""
import re
import sys
from pathlib import Path

trace = Path(sys.argv[1])
out = Path(__file__).resolve().parent / "strongswan_pq_keys.txt"
lines = trace.read_text().splitlines()

DUMP = re.compile(r"\[(IKE|CHD|NET)\] (.*?) => (\d+) bytes @")
HEXL = re.compile(r"\]\s+\d+: ((?:[0-9A-F]{2} )+)")
SAS = re.compile(r"#\d+, ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r")
KEEP = {
    "key exchange secret", "additional key exchange secret", "nonces", "SKEYSEED",
    "Sk_d secret", "Sk_ei secret", "Sk_er secret", "Sk_pi secret", "Sk_pr secret",
    "IntAuth_A|P", "IntAuth_N = prf(Sk_px, data)", "octets = message + nonce + prf(Sk_px, IDx') + IntAuth",
    "AUTH = prf(prf(secret, keypad), octets)", "seed", "encryption initiator key",
    "encryption responder key",
}

side = None
seen = {}
rows = []
ike_spis = []
i = 0
while i < len(lines):
    ln = lines[i]
    if ln.startswith("=== A"):
        side = "A"
    elif ln.startswith("=== B"):
        side = "B"
    if side is None:
        m = SAS.search(ln)
        if m:
            ike_spis.append(m.group(1) + m.group(2))
    m = DUMP.search(ln)
    if m and side == "A":
        fac, label, n = m.group(1), m.group(2).strip(), int(m.group(3))
        data = bytearray()
        j = i + 1
        while len(data) < n and j < len(lines):
            h = HEXL.search(lines[j])
            if not h:
                break
            data += bytes.fromhex(h.group(1).replace(" ", ""))
            j += 1
        if len(data) == n:
            if fac == "NET" and label == "received packet" and n >= 16:
                spis = data[:16].hex() if data[:4] != b"\0\0\0\0" else data[4:20].hex()
                if spis[16:] != "0" * 16 and (not ike_spis or ike_spis[0] != spis) and not seen.get("first_spis"):
                    seen["first_spis"] = 1
                    rows.append(("ike_spis.0", spis))
            elif label in KEEP and n > 0:
                key = fac.lower() + "." + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
                k = seen.get(key, 0)
                seen[key] = k + 1
                rows.append((f"{key}.{k}", data.hex()))
        i = j
        continue
    i += 1
for k, s in enumerate(ike_spis):
    rows.append((f"sas_ike_spis.{k}", s))
out.write_text("".join(f"{k} {v}\n" for k, v in rows))
print(len(rows), "values ->", out)
