//! Crypto cost per operation: the "physical floor" that the handshake
//! benchmark compares itself with. Plain bench binary:
//! `cargo bench -p ike-core --bench crypto` prints ns per op; under
//! `cargo test --benches` every case runs once as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ike_core::crypto::floor::{
    dh_once, handshake_crypto, ike_keys_once, prf_plus_once, sample_public,
};
use ike_core::crypto::prf::{PRF_HMAC_SHA2_256, prf};
use ike_core::crypto::{ChildSuite, CryptoProvider, IkeSaCrypto, IkeSuite};
use ike_core::wire::{
    EncrId, ExchangeType, Flags, Header, IntegId, KeId, Payload, PrfId, VendorId,
};

/// Runs `f` repeatedly for about `budget` and prints the mean ns per call.
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
    let p = CryptoProvider::seeded(1);
    let b = Duration::from_millis(300);
    for g in [
        KeId::CURVE25519,
        KeId::ECP_256,
        KeId::ECP_384,
        KeId::MODP_2048,
        KeId::MODP_3072,
    ] {
        let peer = sample_public(&p, g).expect("group");
        bench(&format!("KE {g:?}: keygen + shared (one side)"), b, || {
            black_box(dh_once(&p, g, &peer).expect("dh"));
        });
    }
    let key = [7u8; 32];
    let data = [1u8; 64];
    bench("PRF HMAC-SHA2-256, 64-byte input", b, || {
        black_box(prf(&PRF_HMAC_SHA2_256, &key, &[&data]));
    });
    bench("prf+ HMAC-SHA2-256, 7 x 32 bytes", b, || {
        black_box(prf_plus_once(&p, PrfId::HMAC_SHA2_256, 224).expect("prf+"));
    });
    let suite = IkeSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::NONE,
        ke: KeId::CURVE25519,
    };
    bench("SKEYSEED + SK_* (aes128gcm16-prfsha256)", b, || {
        black_box(ike_keys_once(&p, suite, &[3; 32], &[1; 32], &[2; 32]).expect("keys"));
    });
    let cbc = IkeSuite {
        encr: EncrId::AES_CBC,
        encr_key_bits: Some(128),
        integ: IntegId::HMAC_SHA2_256_128,
        ..suite
    };
    for (name, s) in [
        ("AES-128-GCM-16", suite),
        ("AES-128-CBC + HMAC-SHA2-256-128", cbc),
    ] {
        let mut a =
            IkeSaCrypto::derive(&p, s, &[3; 32], &[1; 32], &[2; 32], 1, 2, true).expect("a");
        let r = IkeSaCrypto::derive(&p, s, &[3; 32], &[1; 32], &[2; 32], 1, 2, false).expect("b");
        let h = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
        let inner = [Payload::VendorId(VendorId(vec![0; 250]))];
        let mut out = Vec::with_capacity(512);
        bench(&format!("SK seal, 250-byte payloads, {name}"), b, || {
            a.seal(&p, &h, &inner, &mut out).expect("seal");
            black_box(&out);
        });
        bench(&format!("SK open, 250-byte payloads, {name}"), b, || {
            black_box(r.open(&out).expect("open"));
        });
    }
    let child = ChildSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        integ: IntegId::NONE,
        esn: false,
        ke: None,
    };
    bench(
        "handshake crypto floor (both peers, x25519)",
        Duration::from_secs(1),
        || {
            handshake_crypto(&p, suite, child, 250).expect("floor");
        },
    );
}
