//! SK/SKF decryption fuzz target: arbitrary datagrams against fixed keys
//! never panic (length, padding and ICV handling).
#![no_main]

use std::sync::OnceLock;

use ike_core::crypto::{CryptoProvider, IkeSaCrypto, IkeSuite, sk};
use ike_core::wire::{EncrId, IntegId, KeId, PrfId};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static [IkeSaCrypto; 2] {
    static K: OnceLock<[IkeSaCrypto; 2]> = OnceLock::new();
    K.get_or_init(|| {
        let p = CryptoProvider::seeded(0);
        let mk = |encr, bits, integ| {
            let s = IkeSuite {
                encr,
                encr_key_bits: bits,
                prf: PrfId::HMAC_SHA2_256,
                integ,
                ke: KeId::CURVE25519,
            };
            IkeSaCrypto::derive(&p, s, &[1; 32], &[2; 32], &[3; 32], 1, 2, false).expect("keys")
        };
        [
            mk(EncrId::AES_GCM_16, Some(128), IntegId::NONE),
            mk(EncrId::AES_CBC, Some(128), IntegId::HMAC_SHA2_256_128),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    for k in keys() {
        let _ = k.open(data);
        let _ = sk::open_fragment(data, k.in_key());
    }
});
