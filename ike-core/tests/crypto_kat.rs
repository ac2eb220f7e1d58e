//! Known-answer tests for the crypto layer: RFC 4231 (HMAC-SHA2, the PRFs
//! of RFC 4868), RFC 7748 (X25519, X448), RFC 5903 §8.1 (ECP-256), the GCM spec
//! test case 4 (AES-128-GCM), RFC 7539 §2.8.2 (ChaCha20-Poly1305),
//! SP 800-38A F.2.1 (AES-128-CBC), RFC 3610 packet vector #1 (AES-CCM),
//! RFC 2202 §3 (HMAC-SHA1, the legacy PRF). Values no RFC lists (prf+, ECP-384 and
//! MODP with fixed private values, CBC ICV, CCM with the RFC 5282 11-byte
//! nonce, prf+ over HMAC-SHA1) were computed with Python's
//! hashlib/pyca-cryptography by tests/data/gen_kat.py, an independent
//! implementation. ML-KEM answers come from NIST's ACVP FIPS 203 files
//! (tests/data/mlkem_kat.txt).

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use ike_core::crypto::cipher::{
    AES_CBC, AES_CCM_8, AES_CCM_12, AES_CCM_16, AES_GCM_16, AUTH_HMAC_SHA1_96,
    AUTH_HMAC_SHA2_256_128, CHACHA20_POLY1305, EncrAlgorithm, IntegAlgorithm,
};
use ike_core::crypto::ke::{
    ECP_256, ECP_384, ECP_521, ML_KEM_512, ML_KEM_768, ML_KEM_1024, MODP_1024, MODP_2048,
    MODP_3072, MODP_4096, MODP_8192, X448, X25519,
};
use ike_core::crypto::prf::{
    PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512, prf, prf_plus,
};
use ike_core::crypto::{CryptoError, CryptoProvider, KeGroup, Prf, SecureRandom};
use ike_core::wire::KeId;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Debug)]
struct FixedRandom(Vec<u8>);

impl SecureRandom for FixedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        dest.copy_from_slice(&self.0[..dest.len()]);
        Ok(())
    }
}

#[test]
fn rfc4231_hmac_sha2_prfs() {
    let k = [0x0b; 20];
    let cases: [(&dyn Prf, &str); 3] = [
        (
            &PRF_HMAC_SHA2_256,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            &PRF_HMAC_SHA2_384,
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
        ),
        (
            &PRF_HMAC_SHA2_512,
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
    ];
    for (p, want) in cases {
        assert_eq!(&*prf(p, &k, &[b"Hi There"]), &unhex(want)[..], "{p:?}");
        // Split input gives the same result.
        assert_eq!(&*prf(p, &k, &[b"Hi ", b"There"]), &unhex(want)[..]);
    }
    // Test case 2: a key shorter than the block.
    assert_eq!(
        &*prf(
            &PRF_HMAC_SHA2_256,
            b"Jefe",
            &[b"what do ya want for nothing?"]
        ),
        &unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")[..]
    );
}

#[test]
fn prf_plus_matches_independent_implementation() {
    let key: Vec<u8> = (0..32).collect();
    let mut seed = b"prf+ test seed".to_vec();
    seed.extend(0..40u8);
    let cases: [(&dyn Prf, usize, &str); 3] = [
        (
            &PRF_HMAC_SHA2_256,
            100,
            "fc34774c725e3b217e783dc2efcd470e0a43ba1b0945079b90d4648c65446692cb0897056f633367cb3659ee7ff4ed64a1c780d7856fd8c34a4e25effa65e4a951ee772db33bcb2f0dfcc66c05cd4f97b0a6f853155fdb3366dd30949902f71bdb0b56f3",
        ),
        (
            &PRF_HMAC_SHA2_384,
            150,
            "6ae4ae01ef9b0f9bd3cbccd8c38623287ebd46d669af7eecd18b607a9af301f486f4384942f3cb4ce4632b2d90c9b5ccee191d3d9702d923e3e1206ed0afc9db817931470c40755363e242ebd5727f61c797c838e50b4926e1317bf27701d780f5656407ea16f3aa3f4f7882206dbe8929792f92783d595f967abef3d7f75bfb02f33df81364e1ecc80e39cd8cc2c59d8d9e852febf8",
        ),
        (
            &PRF_HMAC_SHA2_512,
            200,
            "9fc2a316e680279937cc02f7f9fdfee3fd9d6bb999c0e1421c7014e962685029bd63acff94c53aa33d6bcae31b9791a65ce22fccf9849de7bd32b3704e0c415a7ab26870deb560d605add5e9edd818b143f90a0ccf2e0a537e610893c893b346398caa12fd6ac2e1b854c65ec6c84f7962e533e7b1983b84b5441383eddd2e89e82cdb03eed570a9eb6a6cf288c73b919ec40a16db6ba0e69a48a855f062b221aeb1a21aae3abefd6d652e75bf2d55858788260771b60c9abbe89c5428edc61dc12f32007e04b9c6",
        ),
    ];
    for (p, n, want) in cases {
        // Seed split across parts must not matter.
        let got = prf_plus(p, &key, &[&seed[..5], &seed[5..]], n).unwrap();
        assert_eq!(&*got, &unhex(want)[..], "{p:?}");
    }
    assert_eq!(
        prf_plus(&PRF_HMAC_SHA2_256, &key, &[&seed], 32 * 256).unwrap_err(),
        CryptoError::PrfPlusTooLong(32 * 256)
    );
    assert_eq!(
        prf_plus(&PRF_HMAC_SHA2_256, &key, &[&seed], 32 * 255)
            .unwrap()
            .len(),
        32 * 255
    );
}

#[test]
fn rfc7748_x448() {
    // §6.2 Diffie-Hellman.
    let alice = X448
        .import_private(&unhex(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        ))
        .unwrap();
    let bob = X448
        .import_private(&unhex(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        ))
        .unwrap();
    assert_eq!(
        alice.public(),
        unhex(
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
        )
    );
    assert_eq!(
        bob.public(),
        unhex(
            "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609"
        )
    );
    let shared = unhex(
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d",
    );
    assert_eq!(&*alice.complete(bob.public()).unwrap(), &shared[..]);
    assert_eq!(&*bob.complete(alice.public()).unwrap(), &shared[..]);
    assert_eq!(X448.public_len(), 56);
    // RFC 8031 §2.3: a low-order point is rejected, and so is a short value.
    for bad in [vec![0u8; 56], vec![1u8; 32]] {
        let err = alice.complete(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                CryptoError::InvalidPublicValue {
                    group: KeId::CURVE448,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn rfc7748_x25519() {
    // §5.2 first vector: scalar multiplication.
    let a = X25519
        .import_private(&unhex(
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        ))
        .unwrap();
    let s = a
        .complete(&unhex(
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        ))
        .unwrap();
    assert_eq!(
        &*s,
        &unhex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")[..]
    );
    // §6.1 Diffie-Hellman.
    let alice = X25519
        .import_private(&unhex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ))
        .unwrap();
    let bob = X25519
        .import_private(&unhex(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ))
        .unwrap();
    assert_eq!(
        alice.public(),
        unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public(),
        unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(&*alice.complete(bob.public()).unwrap(), &shared[..]);
    assert_eq!(&*bob.complete(alice.public()).unwrap(), &shared[..]);
    // RFC 8031 §2.3: low-order points give an all-zero secret: rejected.
    let err = alice.complete(&[0u8; 32]).unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::InvalidPublicValue {
                group: KeId::CURVE25519,
                ..
            }
        ),
        "{err}"
    );
    assert!(alice.complete(&[1u8; 31]).is_err());
    assert!(format!("{alice:?}").contains("redacted"));
}

fn ecp_kat(g: &dyn KeGroup, i: &str, r: &str, gi: &str, gr: &str, shared: &str) {
    let a = g.import_private(&unhex(i)).unwrap();
    let b = g.import_private(&unhex(r)).unwrap();
    assert_eq!(a.public(), unhex(gi), "{g:?} gi (x || y, no 0x04)");
    assert_eq!(b.public(), unhex(gr));
    assert_eq!(
        &*a.complete(&unhex(gr)).unwrap(),
        &unhex(shared)[..],
        "{g:?} g^ir = x"
    );
    assert_eq!(&*b.complete(&unhex(gi)).unwrap(), &unhex(shared)[..]);
    // Off-curve point, wrong length, SEC1 prefix and all-zero are rejected.
    let mut bad = unhex(gr);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        a.complete(&bad),
        Err(CryptoError::InvalidPublicValue { .. })
    ));
    let mut sec1 = vec![4u8];
    sec1.extend(unhex(gr));
    assert!(a.complete(&sec1).is_err());
    assert!(a.complete(&vec![0u8; g.public_len()]).is_err());
    // Coordinates >= p are rejected.
    assert!(a.complete(&vec![0xffu8; g.public_len()]).is_err());
}

#[test]
fn rfc5903_ecp256() {
    ecp_kat(
        &ECP_256,
        "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
        "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
        "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c37725811805271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
        "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf6356fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
        "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
    );
}

#[test]
fn ecp384_independent_vector() {
    ecp_kat(
        &ECP_384,
        "000000000000001234567000000000000000000000000000000000000000000000000000000000000000000000abcdef",
        "00000000000000001d950c84000000000000000000000000000000000000000000000000000000000000000000000123",
        "2fa4949e758ffac1c1edf139823d72dd4bed9bb483c4c06ae6c59a16bf6e54f9919dcb0625d339a2c73c4c032ffb379594fe1d102685d01cc09dfd8951430e446de0e9f5e04069e537c3339242b8c7a7222e0a13ee443ee1ff7c6e1d80561c1a",
        "1e37788a8faa3e2e136af83816c07764743130863960db12b9090842ef2226d65b2133f4d05533752d49a796ac8b1382f7d5a82d35145d5021eeeaf2d90c94f085e9cb3185b437957275a1b9825ba7b62fb69483732d1a7d1fa19171979ed741",
        "21176be09f91d1124febb5e95606a1899cb492440db32fcbeba41cfbd9e2d522482273b5a359968892f1680279fc03d9",
    );
}

#[test]
fn modp2048_independent_vector_and_range_checks() {
    let x: Vec<u8> = (1..=64).collect();
    let y: Vec<u8> = (100..164).collect();
    let a = MODP_2048.import_private(&x).unwrap();
    let b = MODP_2048.import_private(&y).unwrap();
    assert_eq!(
        a.public(),
        unhex(
            "ca737546c70b3a25a43d745a3e31526b3fc9f28dca1b890fed9c1cc46a1d23022c597a3f9dcc6de91383f788f139e35c290558305a7935d242e1ca4d830a0b94abdc8b3f1bc6b0c43c6e8330b29a5f61ae8ac3ebddebbd69206d41fe819e975e982b4d290a93c8ecb87ec2c2e363544fe5b9f44af371e15c9f5d3c83e7904001bb9cf1667538acd767c24f2bed29ae165c5e3ad7ca009d9c801eb75febd18c50477ac0ae9562c684efd4d0c696046f8a95603d228c6c407f8d15d6aba62f433c6b023e8f2d9722cd34bd355dc2496693ee66a3cdc55d1ee1d7766554428a0b1299b5882359f9de57ca7a3ba3c3ca2d552ac6584a7ce9fd4846140888a7b411f8"
        )
    );
    let s = a.complete(b.public()).unwrap();
    assert_eq!(
        &*s,
        &unhex(
            "1837d445c4e1a0248483dd326cdcd26b477787d62204945783808c4208a84cac890b6971776fddcbb83b9099e89c9b249741f30f1448bed65121a5884b25747c422d89313293db550b461f9bdd011b08af5d71aee8b9c47cb3038c8bb19865ca61910a69fb6a265a80246a8820edbd7673ff26309631a95832e188578f7150f02894b7922d434ec849d493dd6a6d933df135af57e341c77c099641978726968234b35ac8aa86f31394dff198292f7859a37ec819f326b2ffa30b5cf5e3dd7b7a567d53ad651b8b2fcab6837642f74c74e2f45c078e7f2a8362b8c207ed11ad82c5c96c79f0abdc7dc459b12f745fc1e9b80ebba33d91d941580b1b2b56e0cffe"
        )[..]
    );
    assert_eq!(&*b.complete(a.public()).unwrap(), &*s);
    // 1 < y < p-1 (RFC 7296 §5, SP 800-56A).
    let mut one = vec![0u8; 256];
    one[255] = 1;
    assert!(matches!(
        a.complete(&one),
        Err(CryptoError::InvalidPublicValue { .. })
    ));
    assert!(a.complete(&[0u8; 256]).is_err());
    let mut p_minus_1 = unhex(concat!(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
        "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    ));
    p_minus_1[255] -= 1;
    assert!(a.complete(&p_minus_1).is_err());
    assert!(a.complete(&[0xff; 256]).is_err());
    assert!(a.complete(&[2; 255]).is_err());
    let mut two = vec![0u8; 256];
    two[255] = 2;
    assert!(a.complete(&two).is_ok());
}

#[test]
fn every_group_agrees_with_itself() {
    let p = CryptoProvider::seeded(7);
    for g in &p.ke_groups {
        let a = g.start(p.random.as_ref()).unwrap();
        let b = g.start(p.random.as_ref()).unwrap();
        assert_eq!(a.public().len(), g.public_len(), "{g:?}");
        assert_ne!(a.public(), b.public());
        // The responder's one-step side (a KEM encapsulates) agrees too.
        let (reply, secret) = g.respond(p.random.as_ref(), a.public()).unwrap();
        assert_eq!(&*a.complete(&reply).unwrap(), &*secret, "{g:?}");
    }
    assert_eq!(MODP_3072.public_len(), 384);
    assert_eq!(MODP_1024.public_len(), 128);
    assert!(
        p.ke(KeId::MODP_1024).is_ok(),
        "group 2 for legacy connections"
    );
    // The same seed gives the same keys (reproducible tests).
    let k1 = X25519
        .start(CryptoProvider::seeded(3).random.as_ref())
        .unwrap();
    let k2 = X25519
        .start(CryptoProvider::seeded(3).random.as_ref())
        .unwrap();
    assert_eq!(k1.public(), k2.public());
}

/// GCM spec test case 4 through the SK interface: AAD = msg[..iv_off],
/// nonce = salt ‖ explicit IV.
#[test]
fn aes128_gcm_test_case_4() {
    let mut key = unhex("feffe9928665731c6d6a8f9467308308");
    key.extend(unhex("cafebabe")); // salt
    let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let iv = unhex("facedbaddecaf888");
    let pt = unhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let want = unhex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47",
    );
    let mut msg = [aad.clone(), vec![0; 8], pt.clone(), vec![0; 16]].concat();
    let mut k = AES_GCM_16.new_key(&key, None).unwrap();
    let mask = u64::from_be_bytes(iv.clone().try_into().unwrap()) ^ 1;
    k.seal(
        &mut msg,
        aad.len(),
        &FixedRandom(mask.to_be_bytes().to_vec()),
    )
    .unwrap();
    assert_eq!(&msg[aad.len()..aad.len() + 8], &iv[..]);
    assert_eq!(&msg[aad.len() + 8..], &want[..]);
    k.open(&mut msg, aad.len()).unwrap();
    assert_eq!(&msg[aad.len() + 8..msg.len() - 16], &pt[..]);
    // Any flipped bit in AAD, IV, ciphertext or tag fails the ICV.
    for pos in [0, aad.len(), aad.len() + 8, aad.len() + 8 + want.len() - 1] {
        let mut m = [aad.clone(), iv.clone(), want.clone()].concat();
        m[pos] ^= 0x80;
        assert_eq!(
            k.open(&mut m, aad.len()).unwrap_err(),
            CryptoError::IntegrityCheckFailed
        );
    }
    // The next IV differs (counter).
    let mut msg2 = [aad.clone(), vec![0; 8], pt.clone(), vec![0; 16]].concat();
    k.seal(&mut msg2, aad.len(), &FixedRandom(vec![0; 8]))
        .unwrap();
    assert_ne!(&msg2[aad.len()..aad.len() + 8], &iv[..]);
    assert_eq!(AES_GCM_16.keymat_len(Some(128)), Some(20));
    assert_eq!(AES_GCM_16.keymat_len(Some(256)), Some(36));
    assert_eq!(AES_GCM_16.keymat_len(None), None);
    assert!(AES_GCM_16.new_key(&key[..19], None).is_err());
}

/// RFC 3610 packet vector #1 (key C0..CF, 8 bytes of AAD, 23 of text, M = 8).
/// Its 13-byte nonce (L = 2) does not fit RFC 5282's 11-byte one (L = 4),
/// so it checks the `ccm` crate alone; [`aes_ccm_sk_rfc5282_nonce`] runs
/// the same key, AAD and text through the SK interface.
#[test]
fn rfc3610_packet_vector_1() {
    use ccm::aead::{AeadInPlace, KeyInit};
    use ccm::consts::{U8, U13};
    let c = ccm::Ccm::<aes::Aes128, U8, U13>::new_from_slice(&unhex(
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
    ))
    .unwrap();
    let pkt: Vec<u8> = (0..0x1f).collect();
    let mut text = pkt[8..].to_vec();
    let tag = c
        .encrypt_in_place_detached(
            (&unhex("00000003020100a0a1a2a3a4a5")[..]).into(),
            &pkt[..8],
            &mut text,
        )
        .unwrap();
    text.extend_from_slice(&tag);
    assert_eq!(
        text,
        unhex("588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0")
    );
}

/// AES-CCM through the SK interface (RFC 5282 §4): key ‖ 3-byte salt,
/// nonce = salt ‖ 8-byte explicit IV, AAD = msg[..iv_off] (§5); answers
/// from pyca/cryptography (tests/data/gen_kat.py).
#[test]
fn aes_ccm_sk_rfc5282_nonce() {
    let pkt: Vec<u8> = (0..0x1f).collect();
    let (aad, pt) = pkt.split_at(8);
    let salt = unhex("000000");
    let iv = unhex("03020100a0a1a2a3");
    let k128 = unhex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf");
    let k256: Vec<u8> = (0x40..0x60).collect();
    let cases: [(&dyn EncrAlgorithm, &[u8], usize, &str); 4] = [
        (
            &AES_CCM_8,
            &k128,
            8,
            "aa2d3ecba66863758f03015116de30ed8ab542dcfa72d063e7015c69afb40c",
        ),
        (
            &AES_CCM_12,
            &k128,
            12,
            "aa2d3ecba66863758f03015116de30ed8ab542dcfa72d0335bb0e1019523bff8a108f9",
        ),
        (
            &AES_CCM_16,
            &k128,
            16,
            "aa2d3ecba66863758f03015116de30ed8ab542dcfa72d032afd3d6fcc0340360db1d8a51b1d753",
        ),
        (
            &AES_CCM_16,
            &k256,
            16,
            "42df1a07ebf6d16ee693f0fffb174d98bc02ea6ea8921f50d37127107c2c43a3e2773011a2f59a",
        ),
    ];
    for (alg, key, icv, want) in cases {
        let want = unhex(want);
        let keymat = [key, &salt[..]].concat();
        assert_eq!(
            alg.keymat_len(Some(u16::try_from(key.len() * 8).unwrap())),
            Some(keymat.len())
        );
        let mut k = alg.new_key(&keymat, None).unwrap();
        assert_eq!((k.iv_len(), k.icv_len(), k.block_len()), (8, icv, 1));
        let mut msg = [aad, &[0; 8][..], pt, &vec![0; icv][..]].concat();
        let mask = u64::from_be_bytes(iv.clone().try_into().unwrap()) ^ 1;
        k.seal(
            &mut msg,
            aad.len(),
            &FixedRandom(mask.to_be_bytes().to_vec()),
        )
        .unwrap();
        assert_eq!(&msg[aad.len()..aad.len() + 8], &iv[..], "{alg:?}");
        assert_eq!(&msg[aad.len() + 8..], &want[..], "{alg:?} {icv}");
        k.open(&mut msg, aad.len()).unwrap();
        assert_eq!(&msg[aad.len() + 8..msg.len() - icv], pt);
        for pos in [0, aad.len(), aad.len() + 8, aad.len() + 8 + want.len() - 1] {
            let mut m = [aad, &iv[..], &want[..]].concat();
            m[pos] ^= 0x01;
            assert_eq!(
                k.open(&mut m, aad.len()).unwrap_err(),
                CryptoError::IntegrityCheckFailed,
                "{alg:?} flip at {pos}"
            );
        }
    }
    assert_eq!(AES_CCM_8.keymat_len(Some(192)), Some(27));
    assert_eq!(AES_CCM_8.keymat_len(None), None);
    assert!(AES_CCM_16.new_key(&k128, None).is_err(), "no salt");
    assert!(
        AES_CCM_16
            .new_key(&[0; 19], Some((&AUTH_HMAC_SHA2_256_128, &[0; 32])))
            .is_err()
    );
}

/// RFC 2202 §3 test cases 1 and 2 (HMAC-SHA1), prf+ over it against
/// gen_kat.py, and AUTH_HMAC_SHA1_96 as its first 12 bytes (RFC 2404).
#[test]
fn rfc2202_hmac_sha1_and_prf_plus() {
    let k = [0x0b; 20];
    let tc1 = unhex("b617318655057264e28bc0b6fb378c8ef146be00");
    assert_eq!(&*prf(&PRF_HMAC_SHA1, &k, &[b"Hi There"]), &tc1[..]);
    assert_eq!(
        &*prf(
            &PRF_HMAC_SHA1,
            b"Jefe",
            &[b"what do ya ", b"want for nothing?"]
        ),
        &unhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")[..]
    );
    assert_eq!(PRF_HMAC_SHA1.output_len(), 20);
    let got = prf_plus(&PRF_HMAC_SHA1, &k, &[b"Hi ", b"There"], 50).unwrap();
    assert_eq!(
        &*got,
        &unhex(
            "29e6e7119ecc3640f21fd6bd787a4a512a309f870712afe9b04b22bc233fa36f1766a6750ea37cb074047bec7a361429df72"
        )[..]
    );
    assert_eq!(
        (AUTH_HMAC_SHA1_96.key_len(), AUTH_HMAC_SHA1_96.icv_len()),
        (20, 12)
    );
    let mut icv = [0u8; 12];
    AUTH_HMAC_SHA1_96
        .prf()
        .keyed(&k)
        .compute(&[b"Hi There"], &mut icv);
    assert_eq!(icv[..], tc1[..12]);
}

/// RFC 7539 §2.8.2 through the SK interface (RFC 7634 nonce layout).
#[test]
fn chacha20_poly1305_rfc7539() {
    let mut key: Vec<u8> = (0x80..0xa0).collect();
    key.extend(unhex("07000000"));
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let iv = unhex("4041424344454647");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let want = unhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691",
    );
    let mut msg = [aad.clone(), vec![0; 8], pt.to_vec(), vec![0; 16]].concat();
    let mut k = CHACHA20_POLY1305.new_key(&key, None).unwrap();
    let mask = u64::from_be_bytes(iv.clone().try_into().unwrap()) ^ 1;
    k.seal(
        &mut msg,
        aad.len(),
        &FixedRandom(mask.to_be_bytes().to_vec()),
    )
    .unwrap();
    assert_eq!(&msg[aad.len() + 8..], &want[..]);
    assert_eq!(
        &want[want.len() - 16..],
        &unhex("1ae10b594f09e26a7e902ecbd0600691")[..]
    );
    k.open(&mut msg, aad.len()).unwrap();
    assert_eq!(&msg[aad.len() + 8..msg.len() - 16], &pt[..]);
    assert_eq!(CHACHA20_POLY1305.keymat_len(None), Some(36));
    assert_eq!(CHACHA20_POLY1305.keymat_len(Some(256)), None);
}

/// SP 800-38A F.2.1 AES-128-CBC with an HMAC-SHA-256-128 ICV over
/// AAD ‖ IV ‖ ciphertext (RFC 7296 §3.14, RFC 4868).
#[test]
fn aes_cbc_hmac_sha256_128() {
    let key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
    let iv = unhex("000102030405060708090a0b0c0d0e0f");
    let pt = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    let aad: Vec<u8> = (0..32).collect();
    let ik = [0x11u8; 32];
    let mut k = AES_CBC
        .new_key(&key, Some((&AUTH_HMAC_SHA2_256_128, &ik)))
        .unwrap();
    assert_eq!((k.iv_len(), k.icv_len(), k.block_len()), (16, 16, 16));
    let mut msg = [aad.clone(), vec![0; 16], pt.clone(), vec![0; 16]].concat();
    k.seal(&mut msg, 32, &FixedRandom(iv.clone())).unwrap();
    assert_eq!(&msg[32..48], &iv[..]);
    assert_eq!(
        &msg[48..80],
        &unhex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")[..]
    );
    assert_eq!(&msg[80..], &unhex("ce6c8bc6ab2608970c8703717156f7cb")[..]);
    let sealed = msg.clone();
    k.open(&mut msg, 32).unwrap();
    assert_eq!(&msg[48..80], &pt[..]);
    let mut bad = sealed.clone();
    bad[0] ^= 1;
    assert_eq!(
        k.open(&mut bad, 32).unwrap_err(),
        CryptoError::IntegrityCheckFailed
    );
    // Misaligned plaintext and a missing INTEG key are errors, not panics.
    let mut odd = [aad.clone(), vec![0; 16], vec![0; 17], vec![0; 16]].concat();
    assert!(k.seal(&mut odd, 32, &FixedRandom(iv)).is_err());
    assert!(AES_CBC.new_key(&key, None).is_err());
    assert!(
        AES_CBC
            .new_key(&key, Some((&AUTH_HMAC_SHA2_256_128, &ik[..31])))
            .is_err()
    );
    assert!(k.open(&mut [0u8; 40], 32).is_err());
}

const MLKEM_KAT: &str = include_str!("data/mlkem_kat.txt");

/// The `key = hex` lines of section `[name]` in tests/data/mlkem_kat.txt.
fn kat_section(name: &str) -> std::collections::HashMap<&'static str, Vec<u8>> {
    let head = format!("[{name}]");
    MLKEM_KAT
        .split("\n\n")
        .find(|b| b.lines().any(|l| l == head))
        .unwrap_or_else(|| panic!("no {head} in mlkem_kat.txt"))
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k, unhex(v)))
        .collect()
}

/// FIPS 203 keyGen (seed d || z -> ek) and encaps (ek, m -> c, K) from
/// NIST's ACVP vectors, then decaps of our own ciphertext; a flipped
/// ciphertext bit gives a different (implicitly rejected) secret.
#[test]
fn fips203_ml_kem_known_answers() {
    let groups: [(&dyn KeGroup, &str, KeId); 3] = [
        (&ML_KEM_512, "ML-KEM-512", KeId(35)),
        (&ML_KEM_768, "ML-KEM-768", KeId(36)),
        (&ML_KEM_1024, "ML-KEM-1024", KeId(37)),
    ];
    for (g, name, id) in groups {
        assert_eq!(g.id(), id);
        let kg = kat_section(&format!("keygen {name}"));
        let seed = [kg["d"].as_slice(), kg["z"].as_slice()].concat();
        let initiator = g.import_private(&seed).unwrap();
        assert_eq!(initiator.public(), kg["ek"].as_slice(), "{name} keyGen");
        assert_eq!(g.public_len(), kg["ek"].len());

        let en = kat_section(&format!("encap {name}"));
        let (c, k) = g.respond(&FixedRandom(en["m"].clone()), &en["ek"]).unwrap();
        assert_eq!(c, en["c"], "{name} Encaps ciphertext");
        assert_eq!(&*k, en["k"].as_slice(), "{name} Encaps shared secret");

        let (c, k) = g
            .respond(&FixedRandom(en["m"].clone()), initiator.public())
            .unwrap();
        assert_eq!(&*initiator.complete(&c).unwrap(), &*k, "{name} Decaps");
        let mut flipped = c.clone();
        flipped[0] ^= 1;
        assert_ne!(&*initiator.complete(&flipped).unwrap(), &*k);
        assert!(initiator.complete(&c[1..]).is_err());
        assert!(g.import_private(&seed[1..]).is_err());
    }
}

/// An encapsulation key whose coefficients are not reduced mod q fails the
/// FIPS 203 §7.2 input check, with an error rather than a panic.
#[test]
fn ml_kem_rejects_unreduced_encapsulation_key() {
    let bad = vec![0xffu8; ML_KEM_768.public_len()];
    let rng = CryptoProvider::seeded(1);
    assert!(matches!(
        ML_KEM_768.respond(rng.random.as_ref(), &bad),
        Err(CryptoError::InvalidPublicValue { .. })
    ));
    assert!(ML_KEM_768.respond(rng.random.as_ref(), &bad[1..]).is_err());
}

/// MODP-4096 and MODP-8192 (RFC 3526 §5, §7) against Python's pow with the
/// primes from the RFC's formula: SHA-256 of g^x and of g^xy.
#[test]
fn modp4096_8192_independent_vectors() {
    use sha2::{Digest, Sha256};
    let x: Vec<u8> = (1..=64).collect();
    let y: Vec<u8> = (100..164).collect();
    let cases: [(&dyn KeGroup, &str, &str); 2] = [
        (
            &MODP_4096,
            "0439872574dafc9b300359ea0dd742c3976ccf9fa56883bdb8268462adedf8cf",
            "fdc53992bf8335da225d32d91cdf16111bf908b902e22711888f08262f324f96",
        ),
        (
            &MODP_8192,
            "86b83427a715cae1ac4f0f7ce33a65bdce79ab5608db0fb2aad514b29f74e68a",
            "7f73e59ca4d2fe08376ae6d5f6f1b005b30cd63c756251b820c5ed72f05f8a4a",
        ),
    ];
    for (g, gx, shared) in cases {
        let a = g.import_private(&x).unwrap();
        let b = g.import_private(&y).unwrap();
        assert_eq!(a.public().len(), g.public_len());
        assert_eq!(Sha256::digest(a.public()).to_vec(), unhex(gx), "{g:?} g^x");
        let s = a.complete(b.public()).unwrap();
        assert_eq!(Sha256::digest(&*s).to_vec(), unhex(shared), "{g:?} g^xy");
        assert!(a.complete(&vec![0xff; g.public_len()]).is_err());
    }
}

/// ECP-521 (RFC 5903, group 21) against pyca/cryptography (OpenSSL) with
/// fixed private scalars.
#[test]
fn ecp521_independent_vector() {
    ecp_kat(
        &ECP_521,
        "010102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041",
        "00c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfe0a0b0c0d0e0f10111213",
        "0169dfe3a6b35ac06187e16c13901ac04cf88d14e10a33a19cb6b0887ec4b8fd2022892fbbcb9a94e12e3dd76a4f10c6aef22a71270dd66328b836a5940b42473e6f01aa4e89b47e8f30e953548b6193f821ff15d030d5d2e80247757bd7a2fd449dc692aa6d430091c8086367e2320e3bce88257c398321a81f264b173b9420cce0dac9",
        "00a2a9bc8320ab6c5bf6a3efea927140574ffffefc4f29951cc101cc034c406f2c4bce8fc11ba05ca2801a9ed9cf0d2db423a800c71f7004b347d91fbd70ce969b7d01a096ff8a1f2fd54892568c420a4167b93880a7e634469a6f717f76df059b159a77d48d0404a116a2a1648a5a86719be14f69564a94531678c43756754fddebb189",
        "008885f6abad094da9add72009e6027748982b7b861df1ef12ceea52e7e9b626a0e1837d9e02f31a4baa6542fe96e5804eada870e9b684fdf0826b0960a0209fc98a",
    );
    let p = CryptoProvider::seeded(5);
    for _ in 0..8 {
        assert!(ECP_521.start(p.random.as_ref()).is_ok());
    }
}
