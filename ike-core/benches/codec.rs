//! Codec cost: decoding a typical IKE_AUTH request (strongSwan's, 13 inner
//! payloads) plain and through SK, and encoding it back. Target: decode under 2 µs.
//! `cargo bench -p ike-core --bench codec`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ike_core::crypto::{CryptoProvider, IkeSaCrypto, IkeSuite};
use ike_core::wire::natt::strip_marker;
use ike_core::wire::{EncrId, ExchangeType, IntegId, KeId, Message, PrfId};

const PACKETS: &str = include_str!("../tests/data/strongswan_packets.txt");
const KEYS: &str = include_str!("../tests/data/strongswan_keys.txt");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn bench(name: &str, budget: Duration, mut f: impl FnMut()) -> f64 {
    let quick = !std::env::args().any(|a| a == "--bench");
    f();
    if quick {
        println!("{name:<44} ok (smoke)");
        return 0.0;
    }
    let mut iters = 1u64;
    let mut per;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let el = t.elapsed();
        per = el.as_nanos() as f64 / iters as f64;
        if el >= budget {
            break;
        }
        iters = (iters * 2).max((budget.as_nanos() as f64 / per.max(1.0)) as u64 / 2);
    }
    println!("{name:<44} {per:>12.0} ns/op  ({iters} iters)");
    per
}

fn main() {
    let key = |name: &str| {
        KEYS.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .map(unhex)
            .expect("key")
    };
    // The IKE_AUTH request as B received it (sent by the initiator A).
    let auth = PACKETS
        .lines()
        .filter(|l| l.starts_with("B 4500"))
        .map(|l| unhex(l.split(' ').nth(2).expect("hex")))
        .map(|raw| strip_marker(&raw).expect("marker").to_vec())
        .find(|m| m[18] == ExchangeType::IKE_AUTH.0)
        .expect("IKE_AUTH request");
    let suite = IkeSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::NONE,
        ke: KeId::CURVE25519,
    };
    let h = Message::decode(&auth).expect("decode").header;
    let n = key("nonces");
    let p = CryptoProvider::seeded(1);
    let b = IkeSaCrypto::derive(
        &p,
        suite,
        &key("g_ir"),
        &n[..32],
        &n[32..],
        h.spi_i,
        h.spi_r,
        false,
    )
    .expect("keys");
    let inner = b.open(&auth).expect("open");
    // The same message with its 13 payloads in the clear.
    let plain = inner.to_bytes();
    let budget = Duration::from_millis(500);
    let d = bench(
        "decode IKE_AUTH request (13 payloads, clear)",
        budget,
        || {
            black_box(Message::decode(black_box(&plain)).expect("decode"));
        },
    );
    bench("decode IKE_AUTH request (outer, SK opaque)", budget, || {
        black_box(Message::decode(black_box(&auth)).expect("decode"));
    });
    bench("open + decode IKE_AUTH request (GCM)", budget, || {
        black_box(b.open(black_box(&auth)).expect("open"));
    });
    let mut out = Vec::with_capacity(512);
    bench("encode IKE_AUTH request (clear)", budget, || {
        out.clear();
        inner.encode(&mut out);
        black_box(&out);
    });
    if d > 0.0 {
        println!(
            "decode target < 2000 ns: {}",
            if d < 2000.0 { "met" } else { "MISSED" }
        );
    }
}
