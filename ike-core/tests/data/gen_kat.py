#!/usr/bin/env python3
"""Cross-checks the known-answer values hard-coded in tests/crypto_kat.rs
with an independent implementation (pyca/cryptography + hashlib) and prints
the derived values that no RFC lists (P-384 with fixed scalars, MODP).
Run: python3 gen_kat.py"""
from cryptography.hazmat.primitives.asymmetric import x25519, ec
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import hmac, hashlib

h = bytes.fromhex
# RFC 7748 §6.1
a = x25519.X25519PrivateKey.from_private_bytes(h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
b = x25519.X25519PrivateKey.from_private_bytes(h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
print("x25519 A pub", a.public_key().public_bytes_raw().hex())
print("x25519 B pub", b.public_key().public_bytes_raw().hex())
print("x25519 shared", a.exchange(b.public_key()).hex())
# P-384 with fixed scalars
for name, curve, s1, s2 in [("p384", ec.SECP384R1(), 0x1234567 << 300 | 0xabcdef, 0x7654321 << 290 | 0x123),
                            ("p256", ec.SECP256R1(), 0xC88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433,
                             0xC6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53)]:
    k1 = ec.derive_private_key(s1, curve); k2 = ec.derive_private_key(s2, curve)
    n = curve.key_size // 8
    def pub(k):
        nums = k.public_key().public_numbers()
        return nums.x.to_bytes(n, "big") + nums.y.to_bytes(n, "big")
    print(name, "i", s1.to_bytes(n, "big").hex())
    print(name, "r", s2.to_bytes(n, "big").hex())
    print(name, "gi", pub(k1).hex())
    print(name, "gr", pub(k2).hex())
    print(name, "shared", k1.exchange(ec.ECDH(), k2.public_key()).hex())
# GCM spec test case 4
k = h("feffe9928665731c6d6a8f9467308308"); iv = h("cafebabefacedbaddecaf888")
p = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2")
print("gcm tc4", AESGCM(k).encrypt(iv, p, aad).hex())
# RFC 7539 §2.8.2
k = bytes(range(0x80, 0xa0)); n = h("070000004041424344454647"); aad = h("50515253c0c1c2c3c4c5c6c7")
pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
print("chacha", ChaCha20Poly1305(k).encrypt(n, pt, aad).hex())
# SP 800-38A F.2.1 + HMAC-SHA256-128 ICV over aad||iv||ct
k = h("2b7e151628aed2a6abf7158809cf4f3c"); iv = h("000102030405060708090a0b0c0d0e0f")
pt = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
e = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor(); ct = e.update(pt) + e.finalize()
aad = bytes(range(32)); ik = bytes([0x11]) * 32
print("cbc ct", ct.hex())
print("cbc icv", hmac.new(ik, aad + iv + ct, hashlib.sha256).digest()[:16].hex())
# MODP 14/15: 2^x mod p and a shared secret, x,y fixed 64-byte exponents
P14 = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
x = int.from_bytes(bytes(range(1, 65)), "big"); y = int.from_bytes(bytes(range(100, 164)), "big")
gx = pow(2, x, P14); gy = pow(2, y, P14)
print("modp14 gx", gx.to_bytes(256, "big").hex())
print("modp14 shared", pow(gy, x, P14).to_bytes(256, "big").hex())
# RFC 3610 packet vector #1 (13-byte nonce, M = 8), then the same key, AAD and
# text with the RFC 5282 nonce: salt(3) || IV(8) = the vector's first 11 nonce bytes.
k = h("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"); pkt = bytes(range(0x1f)); aad, pt = pkt[:8], pkt[8:]
print("rfc3610 #1", AESCCM(k, tag_length=8).encrypt(h("00000003020100a0a1a2a3a4a5"), pt, aad).hex())
for t in (8, 12, 16):
    print("ccm%d sk" % t, AESCCM(k, tag_length=t).encrypt(h("000000") + h("03020100a0a1a2a3"), pt, aad).hex())
k256 = bytes(range(0x40, 0x60))
print("ccm16 aes256 sk", AESCCM(k256, tag_length=16).encrypt(h("000000") + h("03020100a0a1a2a3"), pt, aad).hex())
# RFC 2202 §3 HMAC-SHA-1 test cases 1 and 2, and prf+ with PRF_HMAC_SHA1
print("hmac-sha1 tc1", hmac.new(bytes([0x0b]) * 20, b"Hi There", hashlib.sha1).hexdigest())
print("hmac-sha1 tc2", hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha1).hexdigest())
def prf_plus_sha1(key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(key, t + seed + bytes([i]), hashlib.sha1).digest(); out += t; i += 1
    return out[:n]
print("prf+ sha1", prf_plus_sha1(bytes([0x0b]) * 20, b"Hi There", 50).hex())
