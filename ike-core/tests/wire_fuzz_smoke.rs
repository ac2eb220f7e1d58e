//! A deterministic, non-instrumented version of fuzz/fuzz_targets/decode.rs
//! that runs in plain `cargo test`: the captured strongSwan packets and a
//! message with every payload type are mutated many times (bit flips, byte
//! overwrites, truncation, insertion, length-field edits) and decoded. The
//! decoder must never panic, and whatever decodes must survive
//! decode(encode(m)) == m. Protected packets also go through SK open with
//! the real keys, so the post-ICV parser sees mutated plaintext too.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use ike_core::crypto::{CryptoProvider, IkeSaCrypto, IkeSuite, OpenError};
use ike_core::wire::natt::strip_marker;
use ike_core::wire::{EncrId, Header, IntegId, KeId, Message, PrfId};

const PACKETS: &str = include_str!("data/strongswan_packets.txt");
const KEYS: &str = include_str!("data/strongswan_keys.txt");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// xorshift64*: small, deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap()
    }
}

fn corpus() -> Vec<Vec<u8>> {
    PACKETS
        .lines()
        .filter_map(|l| l.split(' ').nth(2))
        .map(|h| {
            let raw = unhex(h);
            strip_marker(&raw).map_or(raw.clone(), <[u8]>::to_vec)
        })
        .collect()
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        if v.is_empty() {
            v.push(0);
        }
        let i = rng.below(v.len());
        match rng.below(7) {
            0 => v[i] ^= 1 << rng.below(8),
            1 => v[i] = rng.next() as u8,
            2 => v.truncate(i),
            3 => v.insert(i, rng.next() as u8),
            // Payload/substructure length fields are 2 bytes big-endian.
            4 if i + 1 < v.len() => {
                let n = u16::from_be_bytes([v[i], v[i + 1]])
                    .wrapping_add(rng.below(9) as u16)
                    .wrapping_sub(4);
                v[i..i + 2].copy_from_slice(&n.to_be_bytes());
            }
            5 => {
                // Keep the header length consistent so the body parser runs.
                if v.len() >= 28 {
                    let n = u32::try_from(v.len()).unwrap();
                    v[24..28].copy_from_slice(&n.to_be_bytes());
                }
            }
            _ => {
                let j = rng.below(v.len());
                v.swap(i, j);
            }
        }
    }
    if rng.below(2) == 0 && v.len() >= 28 {
        let n = u32::try_from(v.len()).unwrap();
        v[24..28].copy_from_slice(&n.to_be_bytes());
    }
    v
}

fn check(data: &[u8]) -> bool {
    match Message::decode(data) {
        Ok(m) => {
            let again = Message::decode(&m.to_bytes()).expect("re-encoded message must decode");
            assert_eq!(again.payloads, m.payloads);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn mutated_packets_never_panic_and_round_trip() {
    let corpus = corpus();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let iterations = if cfg!(debug_assertions) {
        60_000
    } else {
        600_000
    };
    let mut decoded = 0;
    for i in 0..iterations {
        let seed = &corpus[i % corpus.len()];
        if check(&mutate(&mut rng, seed)) {
            decoded += 1;
        }
    }
    // Both outcomes must be exercised: plenty decode, plenty are rejected.
    assert!(decoded > iterations / 20, "only {decoded} mutants decoded");
    assert!(decoded < iterations, "no mutant was rejected");
}

#[test]
fn random_bytes_never_panic() {
    // The harness reaches the decoder: a real message passes the same check.
    assert!(check(&corpus()[0]), "a captured packet no longer decodes");
    let mut rng = Rng(42);
    let (mut past_header, mut decoded) = (0, 0);
    for _ in 0..20_000 {
        let len = rng.below(400);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if v.len() >= 28 {
            v[17] = 0x20;
            let n = u32::try_from(v.len()).unwrap();
            v[24..28].copy_from_slice(&n.to_be_bytes());
        }
        past_header += usize::from(Header::peek(&v).is_ok());
        decoded += usize::from(check(&v));
    }
    // Most inputs reach the payload parser, which rejects nearly all of them.
    assert!(
        past_header > 15_000,
        "only {past_header} inputs got past the header"
    );
    assert!(
        decoded < past_header / 10,
        "{decoded} random inputs decoded"
    );
}

/// The decode fuzz target's seeds (fuzz/seeds/decode, NAT-T marker included
/// for port 4500) are valid messages, so fuzzing starts from inputs that
/// reach every payload parser.
#[test]
fn every_decode_seed_is_a_valid_message() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("seed dir") {
        let path = entry.expect("entry").path();
        let raw = std::fs::read(&path).expect("read seed");
        let data = strip_marker(&raw).unwrap_or(&raw);
        let m = Message::decode(data)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
        assert!(!m.payloads.is_empty(), "{} has no payloads", path.display());
        assert!(check(data), "{} does not round-trip", path.display());
        n += 1;
    }
    assert!(n >= 10, "expected the strongSwan trace seeds, found {n}");
}

/// Mutations after the ICV: with the real keys, flip bytes and re-seal is
/// not possible, so instead decrypt each captured message and feed mutated
/// *inner* chains through the same chain parser via a re-sealed message.
#[test]
fn mutated_plaintext_inside_sk_never_panics() {
    let keys: std::collections::HashMap<_, _> = KEYS
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, unhex(v)))
        .collect();
    let n = &keys["nonces"];
    let suite = IkeSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::NONE,
        ke: KeId::CURVE25519,
    };
    let corpus = corpus();
    let h = Message::decode(&corpus[0]).unwrap().header;
    let p = CryptoProvider::seeded(8);
    let mut a = IkeSaCrypto::derive(
        &p,
        suite,
        &keys["g_ir"],
        &n[..32],
        &n[32..],
        h.spi_i,
        h.spi_r,
        true,
    )
    .unwrap();
    let b = IkeSaCrypto::derive(
        &p,
        suite,
        &keys["g_ir"],
        &n[..32],
        &n[32..],
        h.spi_i,
        h.spi_r,
        false,
    )
    .unwrap();
    let mut rng = Rng(7);
    let (mut opened, mut malformed) = (0, 0);
    for c in corpus.iter().filter(|c| c[16] == 46) {
        // Messages B received were sealed by A (the initiator).
        let Ok(m) = b.open(c) else { continue };
        let mut inner = Vec::new();
        let first = ike_core::wire::payload::encode_chain(&m.payloads, &mut inner);
        for _ in 0..500 {
            let mutated = mutate(&mut rng, &inner);
            // Seal raw mutated bytes: SK header says `first`, text = mutated.
            let mut msg = m.header.to_owned();
            msg.next_payload = ike_core::wire::PayloadType::SK;
            let mut out = Vec::new();
            ike_core::wire::Codec::encode(&msg, &mut out);
            out.extend([first.0, 0, 0, 0]);
            let iv_off = out.len();
            out.extend([0; 8]);
            out.extend(&mutated);
            out.push(0);
            out.extend([0; 16]);
            let sk_len = u16::try_from(out.len() - 28).unwrap();
            out[30..32].copy_from_slice(&sk_len.to_be_bytes());
            let total = u32::try_from(out.len()).unwrap();
            out[24..28].copy_from_slice(&total.to_be_bytes());
            a.out_key()
                .seal(&mut out, iv_off, p.random.as_ref())
                .unwrap();
            // Sealed with the right key: always past the ICV, then either
            // parsed or rejected as malformed.
            match b.open(&out) {
                Ok(_) => opened += 1,
                Err(OpenError::Invalid(_)) => malformed += 1,
                Err(e) => panic!("a correctly sealed message failed with {e}"),
            }
        }
    }
    assert!(opened > 0, "no mutated chain parsed");
    assert!(malformed > 0, "no mutated chain was rejected");
}
