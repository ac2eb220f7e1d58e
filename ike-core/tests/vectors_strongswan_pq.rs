//! RFC 9370 key-derivation vectors from a strongSwan 6.1 trace: two charon
//! daemons with IKE `aes128gcm16-prfsha256-x25519-ke1_mlkem768` and ESP
//! `aes128gcm16-x25519-ke1_mlkem768` (PSK), one IKE_INTERMEDIATE with
//! ML-KEM-768, IKE_AUTH, then a Child SA rekey and an IKE SA rekey, each with
//! its IKE_FOLLOWUP_KE. tests/data/strongswan_pq_keys.txt was extracted from
//! the initiator's level-4 log by tests/data/extract_strongswan_pq.py.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use std::collections::HashMap;

mod common;
use common::named_hex;

use ike_core::crypto::auth;
use ike_core::crypto::keymat::{
    ChildKeys, IkeKeyLengths, IkeKeys, skeyseed, skeyseed_rekey, skeyseed_rekey_additional,
};
use ike_core::crypto::prf::{PRF_HMAC_SHA2_256, prf};
use ike_core::wire::{Id, IdType};

const KEYS: &str = include_str!("data/strongswan_pq_keys.txt");
const PSK: &[u8] = b"lanes-test-psk-0a1b2c3d4e5f60718293";
/// prfsha256: SK_d, SK_pi, SK_pr of 32 bytes; AES-128-GCM: 16 + 4 salt.
const LENS: IkeKeyLengths = IkeKeyLengths {
    prf: 32,
    integ: 0,
    encr: 20,
};

fn keys() -> HashMap<&'static str, Vec<u8>> {
    named_hex(KEYS)
}

/// (Ni, Nr) of a logged `nonces` value (strongSwan's nonces are 32 bytes).
fn split_nonces(n: &[u8]) -> (&[u8], &[u8]) {
    assert_eq!(n.len(), 64);
    n.split_at(32)
}

fn spis(v: &[u8]) -> (u64, u64) {
    assert_eq!(v.len(), 16);
    (
        u64::from_be_bytes(v[..8].try_into().unwrap()),
        u64::from_be_bytes(v[8..].try_into().unwrap()),
    )
}

/// Checks every SK_* of set `n` against `derived`.
fn assert_ike_keys(k: &HashMap<&str, Vec<u8>>, n: u32, derived: &IkeKeys) {
    for (name, got) in [
        ("sk_d", &derived.sk_d),
        ("sk_ei", &derived.sk_ei),
        ("sk_er", &derived.sk_er),
        ("sk_pi", &derived.sk_pi),
        ("sk_pr", &derived.sk_pr),
    ] {
        assert_eq!(
            &got[..],
            &k[format!("ike.{name}_secret.{n}").as_str()][..],
            "{name} of key set {n}"
        );
    }
    assert!(derived.sk_ai.is_empty() && derived.sk_ar.is_empty());
}

/// IKE_SA_INIT (X25519), then the IKE_INTERMEDIATE's ML-KEM-768 secret:
/// SKEYSEED(1) = prf(SK_d(0), SK(1) ‖ Ni ‖ Nr) and SK_*(1) from prf+ with
/// the IKE_SA_INIT nonces and SPIs (RFC 9370 §2.2.2).
#[test]
fn keys_after_ike_sa_init_and_after_the_ml_kem_intermediate() {
    let k = keys();
    let prf_alg = &PRF_HMAC_SHA2_256;
    let (ni, nr) = split_nonces(&k["ike.nonces.0"]);
    let (si, sr) = spis(&k["ike_spis.0"]);
    let g_ir = &k["ike.key_exchange_secret.0"];
    assert_eq!(g_ir.len(), 32, "X25519");
    let seed0 = skeyseed(prf_alg, ni, nr, g_ir);
    assert_eq!(&seed0[..], &k["ike.skeyseed.0"][..]);
    let keys0 = IkeKeys::derive(prf_alg, &seed0, ni, nr, si, sr, LENS).unwrap();
    assert_ike_keys(&k, 0, &keys0);

    let ss = &k["ike.key_exchange_secret.1"];
    assert_eq!(ss.len(), 32, "ML-KEM-768 shared secret");
    assert_eq!(k["ike.nonces.1"], k["ike.nonces.0"], "the same nonces");
    let seed1 = skeyseed_rekey(prf_alg, &keys0.sk_d, ss, ni, nr);
    assert_eq!(&seed1[..], &k["ike.skeyseed.1"][..]);
    let keys1 = IkeKeys::derive(prf_alg, &seed1, ni, nr, si, sr, LENS).unwrap();
    assert_ike_keys(&k, 1, &keys1);
    // Not the initial formula: the first SKEYSEED's inputs give other keys.
    assert_ne!(&skeyseed(prf_alg, ni, nr, ss)[..], &seed1[..]);
}

/// IntAuth_1 = prf(SK_p, A ‖ P) with the keys in use during the
/// IKE_INTERMEDIATE (SK_pi(0) for the request, SK_pr(0) for the response),
/// and the initiator's AUTH = prf(prf(PSK, "Key Pad for IKEv2"),
/// RealMessage1 ‖ Nr ‖ prf(SK_pi(1), IDi') ‖ IntAuth_i ‖ IntAuth_r ‖ MID)
/// (RFC 9242 §3.3).
#[test]
fn intauth_chain_and_psk_auth_after_the_intermediate() {
    let k = keys();
    let prf_alg = &PRF_HMAC_SHA2_256;
    let int_i = &k["ike.intauth_n_prf_sk_px_data.0"];
    let int_r = &k["ike.intauth_n_prf_sk_px_data.1"];
    assert_eq!(
        &prf(
            prf_alg,
            &k["ike.sk_pi_secret.0"],
            &[&k["ike.intauth_a_p.0"]]
        )[..],
        &int_i[..]
    );
    assert_eq!(
        &prf(
            prf_alg,
            &k["ike.sk_pr_secret.0"],
            &[&k["ike.intauth_a_p.1"]]
        )[..],
        &int_r[..]
    );

    let octets = &k["ike.octets_message_nonce_prf_sk_px_idx_intauth.0"];
    let (_, nr) = split_nonces(&k["ike.nonces.0"]);
    // IKE_AUTH_MID: the IKE_AUTH request is message 2 after one IKE_INTERMEDIATE.
    let mut int_auth = [&int_i[..], &int_r[..]].concat();
    int_auth.extend_from_slice(&2u32.to_be_bytes());
    let tail = 32 + 32 + int_auth.len();
    let real_message = &octets[..octets.len() - tail];
    let idi = Id {
        ty: IdType::FQDN,
        data: b"a.lanes.test".to_vec(),
    };
    let mid = auth::maced_id(prf_alg, &k["ike.sk_pi_secret.1"], &idi);
    let mut expect = auth::signed_octets(real_message, nr, &mid);
    expect.extend_from_slice(&int_auth);
    assert_eq!(&expect, octets, "signed octets");
    let got = auth::psk_auth_int(
        prf_alg,
        PSK,
        real_message,
        nr,
        &k["ike.sk_pi_secret.1"],
        &idi,
        &int_auth,
    );
    assert_eq!(got, k["ike.auth_prf_prf_secret_keypad_octets.0"]);
    // SK_pi(0) (before the intermediate) does not authenticate.
    let stale = auth::psk_auth_int(
        prf_alg,
        PSK,
        real_message,
        nr,
        &k["ike.sk_pi_secret.0"],
        &idi,
        &int_auth,
    );
    assert_ne!(stale, got);
}

/// The IKE_AUTH Child SA (no key exchange, RFC 9370 §2.2.3) takes its
/// KEYMAT from the SK_d of the last IKE_INTERMEDIATE.
#[test]
fn ike_auth_child_keys_use_the_last_sk_d() {
    let k = keys();
    let (ni, nr) = split_nonces(&k["chd.seed.0"]);
    assert_eq!(k["chd.seed.0"], k["ike.nonces.0"]);
    let c = ChildKeys::derive(
        &PRF_HMAC_SHA2_256,
        &k["ike.sk_d_secret.1"],
        None,
        ni,
        nr,
        20,
        0,
    )
    .unwrap();
    assert_eq!(&c.encr_i[..], &k["chd.encryption_initiator_key.0"][..]);
    assert_eq!(&c.encr_r[..], &k["chd.encryption_responder_key.0"][..]);
}

/// Child SA rekey with X25519 and an IKE_FOLLOWUP_KE of ML-KEM-768:
/// KEYMAT = prf+(SK_d, g^ir ‖ Ni ‖ Nr ‖ SK(1)) (RFC 9370 §2.2.4).
#[test]
fn child_rekey_keys_with_the_additional_exchange() {
    let k = keys();
    let g_ir = &k["chd.key_exchange_secret.0"];
    let add = &k["chd.additional_key_exchange_secret.0"];
    let seed = &k["chd.seed.1"];
    assert_eq!((g_ir.len(), add.len(), seed.len()), (32, 32, 32 + 64 + 32));
    assert!(seed.starts_with(g_ir) && seed.ends_with(add));
    let (ni, nr) = split_nonces(&seed[32..96]);
    let nr_add = [nr, &add[..]].concat();
    let c = ChildKeys::derive(
        &PRF_HMAC_SHA2_256,
        &k["ike.sk_d_secret.1"],
        Some(g_ir),
        ni,
        &nr_add,
        20,
        0,
    )
    .unwrap();
    assert_eq!(&c.encr_i[..], &k["chd.encryption_initiator_key.1"][..]);
    assert_eq!(&c.encr_r[..], &k["chd.encryption_responder_key.1"][..]);
}

/// IKE SA rekey with X25519 and an IKE_FOLLOWUP_KE of ML-KEM-768:
/// SKEYSEED = prf(SK_d (old), SK(0) ‖ Ni ‖ Nr ‖ SK(1)), SK_* from prf+ with
/// the rekey's nonces and the new SPIs (RFC 9370 §2.2.4).
#[test]
fn ike_rekey_keys_with_the_additional_exchange() {
    let k = keys();
    let prf_alg = &PRF_HMAC_SHA2_256;
    let sk0 = &k["ike.key_exchange_secret.2"];
    let add = &k["ike.additional_key_exchange_secret.0"];
    let (ni, nr) = split_nonces(&k["ike.nonces.2"]);
    let seed = skeyseed_rekey_additional(prf_alg, &k["ike.sk_d_secret.1"], sk0, (ni, nr), add);
    assert_eq!(&seed[..], &k["ike.skeyseed.2"][..]);
    let (si, sr) = spis(&k["sas_ike_spis.0"]);
    assert_ne!((si, sr), spis(&k["ike_spis.0"]), "the rekeyed SA's SPIs");
    let keys2 = IkeKeys::derive(prf_alg, &seed, ni, nr, si, sr, LENS).unwrap();
    assert_ike_keys(&k, 2, &keys2);
}
