//! SK protection of whole messages for every supported suite, SKF
//! fragments, IKE SA rekey derivation and suite resolution.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use ike_core::crypto::floor::handshake_crypto;
use ike_core::crypto::keymat::{IkeKeyLengths, IkeKeys, skeyseed, skeyseed_rekey};
use ike_core::crypto::prf::PRF_HMAC_SHA2_256;
use ike_core::crypto::sk::{self, OpenError};
use ike_core::crypto::{ChildSuite, CryptoError, CryptoProvider, IkeSaCrypto, IkeSuite};
use ike_core::wire::{
    Delete, EncrId, EsnId, ExchangeType, Flags, Header, Id, IdType, IntegId, KeId, Message, Nonce,
    Notify, NotifyType, Payload, PayloadType, PrfId, Proposal, ProtocolId, Transform,
};

fn suites() -> Vec<IkeSuite> {
    let s = |encr, bits, prf, integ| IkeSuite {
        encr,
        encr_key_bits: bits,
        prf,
        integ,
        ke: KeId::CURVE25519,
    };
    vec![
        s(
            EncrId::AES_GCM_16,
            Some(128),
            PrfId::HMAC_SHA2_256,
            IntegId::NONE,
        ),
        s(
            EncrId::AES_GCM_16,
            Some(256),
            PrfId::HMAC_SHA2_512,
            IntegId::NONE,
        ),
        s(
            EncrId::AES_CBC,
            Some(128),
            PrfId::HMAC_SHA2_256,
            IntegId::HMAC_SHA2_256_128,
        ),
        s(
            EncrId::AES_CBC,
            Some(256),
            PrfId::HMAC_SHA2_384,
            IntegId::HMAC_SHA2_384_192,
        ),
        s(
            EncrId::AES_CBC,
            Some(256),
            PrfId::HMAC_SHA2_512,
            IntegId::HMAC_SHA2_512_256,
        ),
        s(
            EncrId::CHACHA20_POLY1305,
            None,
            PrfId::HMAC_SHA2_256,
            IntegId::NONE,
        ),
        s(
            EncrId::AES_CCM_16,
            Some(128),
            PrfId::HMAC_SHA2_256,
            IntegId::NONE,
        ),
        s(
            EncrId::AES_CCM_12,
            Some(192),
            PrfId::HMAC_SHA2_384,
            IntegId::NONE,
        ),
        s(
            EncrId::AES_CCM_8,
            Some(256),
            PrfId::HMAC_SHA2_256,
            IntegId::NONE,
        ),
        s(
            EncrId::AES_CBC,
            Some(128),
            PrfId::HMAC_SHA1,
            IntegId::HMAC_SHA1_96,
        ),
    ]
}

fn pair(p: &CryptoProvider, suite: IkeSuite) -> (IkeSaCrypto, IkeSaCrypto) {
    let g = [0x5a; 32];
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    let a = IkeSaCrypto::derive(p, suite, &g, &ni, &nr, 11, 22, true).unwrap();
    let b = IkeSaCrypto::derive(p, suite, &g, &ni, &nr, 11, 22, false).unwrap();
    (a, b)
}

fn inner() -> Vec<Payload> {
    vec![
        Payload::Idi(Id {
            ty: IdType::FQDN,
            data: b"a.lanes.test".to_vec(),
        }),
        Payload::Notify(Notify::new(NotifyType::SA_RESOURCE_INFO, vec![])),
        Payload::Nonce(Nonce(vec![3; 33])),
    ]
}

fn hdr(initiator: bool, response: bool) -> Header {
    Header::new(
        11,
        22,
        ExchangeType::INFORMATIONAL,
        Flags::new(initiator, response),
        5,
    )
}

#[test]
fn seal_open_every_suite() {
    let p = CryptoProvider::seeded(9);
    for suite in suites() {
        let (mut a, mut b) = pair(&p, suite);
        let mut out = Vec::new();
        a.seal(&p, &hdr(true, false), &inner(), &mut out).unwrap();
        let m = Message::decode(&out).unwrap();
        assert_eq!(m.header.next_payload, PayloadType::SK);
        assert_eq!(m.sk().unwrap().first_inner, PayloadType::IDI);
        let got = b.open(&out).unwrap();
        assert_eq!(got.payloads, inner(), "{suite:?}");
        assert_eq!(got.header.message_id, 5);
        // Initiator's own key does not open its own messages.
        assert_eq!(a.open(&out).unwrap_err(), OpenError::IntegrityCheckFailed);
        // Reply direction.
        b.seal(&p, &hdr(false, true), &[], &mut out).unwrap();
        assert!(a.open(&out).unwrap().payloads.is_empty(), "empty SK (DPD)");
        // Every single-bit flip is caught (header, SK header, IV, text, ICV).
        a.seal(&p, &hdr(true, false), &inner(), &mut out).unwrap();
        for i in (0..out.len()).step_by(7) {
            let mut t = out.clone();
            t[i] ^= 0x04;
            assert!(b.open(&t).is_err(), "{suite:?} flip at {i}");
        }
        // CBC aligns the encrypted part to 16 bytes.
        if suite.encr == EncrId::AES_CBC {
            let sk = Message::decode(&out).unwrap().sk().unwrap().data.len();
            let icv = match suite.integ {
                IntegId::HMAC_SHA1_96 => 12,
                IntegId::HMAC_SHA2_256_128 => 16,
                IntegId::HMAC_SHA2_384_192 => 24,
                _ => 32,
            };
            assert_eq!((sk - icv) % 16, 0, "{suite:?}");
        }
    }
}

#[test]
fn sealing_twice_uses_fresh_ivs() {
    let p = CryptoProvider::seeded(1);
    for suite in suites() {
        let (mut a, _) = pair(&p, suite);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.seal(&p, &hdr(true, false), &inner(), &mut x).unwrap();
        a.seal(&p, &hdr(true, false), &inner(), &mut y).unwrap();
        assert_ne!(x[32..40], y[32..40], "{suite:?}");
    }
}

#[test]
fn open_rejects_garbage_without_panicking() {
    let p = CryptoProvider::seeded(2);
    let (mut a, b) = pair(&p, suites()[0]);
    let mut out = Vec::new();
    a.seal(&p, &hdr(true, false), &inner(), &mut out).unwrap();
    // Not protected.
    let plain = Message {
        header: hdr(true, false),
        payloads: vec![Payload::Delete(Delete::ike())],
    }
    .to_bytes();
    assert_eq!(b.open(&plain).unwrap_err(), OpenError::NotProtected);
    // SK too short to hold IV and ICV.
    let mut short = out[..28 + 4 + 10].to_vec();
    short[30..32].copy_from_slice(&14u16.to_be_bytes());
    let n = u32::try_from(short.len()).unwrap();
    short[24..28].copy_from_slice(&n.to_be_bytes());
    assert!(matches!(b.open(&short), Err(OpenError::Crypto(_))));
    // Truncated datagram.
    assert!(matches!(b.open(&out[..40]), Err(OpenError::Invalid(_))));
}

#[test]
fn pad_length_beyond_plaintext_is_an_error() {
    // Build an SK whose decrypted Pad Length claims more than there is.
    let p = CryptoProvider::seeded(3);
    let suite = suites()[2];
    let (mut a, b) = pair(&p, suite);
    let mut out = Vec::new();
    a.seal(&p, &hdr(true, false), &[], &mut out).unwrap();
    // Empty inner + CBC: 15 pad bytes + pad length 15. Re-seal a crafted
    // plaintext of one block whose last byte is 0xff through the raw key.
    let mut msg = out.clone();
    let iv_off = 32;
    let text = iv_off + 16;
    msg[text..text + 16].copy_from_slice(&[0xff; 16]);
    a.out_key()
        .seal(&mut msg, iv_off, p.random.as_ref())
        .unwrap();
    assert!(matches!(
        b.open(&msg),
        Err(OpenError::Crypto(CryptoError::Malformed(_)))
    ));
}

#[test]
fn fragments_round_trip() {
    let p = CryptoProvider::seeded(4);
    for suite in suites() {
        let (mut a, b) = pair(&p, suite);
        let big: Vec<Payload> = (0..20)
            .map(|i| Payload::Notify(Notify::new(NotifyType(40000 + i), vec![i as u8; 50])))
            .collect();
        let frags =
            sk::seal_fragments(&hdr(true, false), &big, a.out_key(), p.random.as_ref(), 300)
                .unwrap();
        assert!(frags.len() > 3, "{suite:?}: {}", frags.len());
        let mut data = Vec::new();
        let mut first = PayloadType::NONE;
        for (i, f) in frags.iter().enumerate() {
            assert!(
                f.len() <= 300,
                "{suite:?} fragment {i} is {} bytes",
                f.len()
            );
            let m = Message::decode(f).unwrap();
            assert!(matches!(m.payloads.last(), Some(Payload::Skf(_))));
            let fr = b.open_fragment(f).unwrap();
            assert_eq!(usize::from(fr.number), i + 1);
            assert_eq!(usize::from(fr.total), frags.len());
            if fr.number == 1 {
                first = fr.first_inner;
            } else {
                assert_eq!(fr.first_inner, PayloadType::NONE);
            }
            data.extend(fr.data);
        }
        let m = sk::decode_reassembled(hdr(true, false), first, &data).unwrap();
        assert_eq!(m.payloads, big, "{suite:?}");
        // A fragment is not an SK message and vice versa.
        assert_eq!(b.open(&frags[0]).unwrap_err(), OpenError::NotProtected);
    }
}

#[test]
fn fragments_refuse_a_size_with_no_room_for_content() {
    let p = CryptoProvider::seeded(4);
    for suite in suites() {
        let (mut a, _) = pair(&p, suite);
        let one = [Payload::Notify(Notify::new(
            NotifyType(40000),
            vec![1; 200],
        ))];
        // Header 28, SKF 8, IV 8 and the smallest ICV (8, CCM-8) leave nothing in 52.
        let e = sk::seal_fragments(&hdr(true, false), &one, a.out_key(), p.random.as_ref(), 52)
            .unwrap_err();
        assert!(
            e.to_string().contains("fragment_size"),
            "{suite:?}: the error names the setting: {e}"
        );
        // The smallest size that fits one byte a fragment still works.
        let ok = (53..200).find(|n| {
            sk::seal_fragments(&hdr(true, false), &one, a.out_key(), p.random.as_ref(), *n).is_ok()
        });
        assert!(ok.is_some(), "{suite:?}");
    }
}

#[test]
fn ike_rekey_derivation() {
    let p = CryptoProvider::seeded(5);
    let suite = suites()[0];
    let (a, b) = pair(&p, suite);
    let g = [0x77; 32];
    let (ni, nr) = ([8u8; 32], [9u8; 32]);
    // The rekey initiator becomes the new original initiator.
    let na = a
        .derive_rekey(&p, suite, &g, &ni, &nr, 33, 44, false)
        .unwrap();
    let nb = b
        .derive_rekey(&p, suite, &g, &ni, &nr, 33, 44, true)
        .unwrap();
    assert_eq!(na.keys, nb.keys);
    assert_ne!(na.keys, a.keys);
    // SKEYSEED' = prf(SK_d_old, g^ir ‖ Ni ‖ Nr), then prf+ with the new SPIs.
    let seed = skeyseed_rekey(&PRF_HMAC_SHA2_256, &a.keys.sk_d, &g, &ni, &nr);
    let lens = IkeKeyLengths {
        prf: 32,
        integ: 0,
        encr: 20,
    };
    let keys = IkeKeys::derive(&PRF_HMAC_SHA2_256, &seed, &ni, &nr, 33, 44, lens).unwrap();
    assert_eq!(na.keys, keys);
    // Not the same as an initial derivation with these inputs.
    let fresh = IkeKeys::derive(
        &PRF_HMAC_SHA2_256,
        &skeyseed(&PRF_HMAC_SHA2_256, &ni, &nr, &g),
        &ni,
        &nr,
        33,
        44,
        lens,
    )
    .unwrap();
    assert_ne!(fresh, keys);
    // The new SA talks: nb (new initiator) -> na.
    let mut nb = nb;
    let mut out = Vec::new();
    nb.seal(&p, &hdr(true, false), &inner(), &mut out).unwrap();
    assert_eq!(na.open(&out).unwrap().payloads, inner());
}

#[test]
fn suites_from_proposals_and_errors() {
    let p = CryptoProvider::rust_crypto();
    let esp = Proposal {
        num: 1,
        protocol: ProtocolId::ESP,
        spi: vec![1, 2, 3, 4],
        transforms: vec![
            Transform::encr(EncrId::AES_CBC, Some(256)),
            Transform::integ(IntegId::HMAC_SHA2_512_256),
            Transform::ke(KeId::ECP_384),
            Transform::esn(EsnId::ESN),
        ],
    };
    let c = ChildSuite::from_proposal(&esp).unwrap();
    assert_eq!(c.ke, Some(KeId::ECP_384));
    assert!(c.esn);
    assert_eq!(c.key_lengths(&p).unwrap(), (32, 64));
    let gcm = ChildSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(256),
        integ: IntegId::NONE,
        esn: false,
        ke: None,
    };
    assert_eq!(gcm.key_lengths(&p).unwrap(), (36, 0));
    // AEAD with an INTEG transform, CBC without one, unknown ids.
    let bad = |encr, bits, integ| ChildSuite {
        encr,
        encr_key_bits: bits,
        integ,
        esn: false,
        ke: None,
    };
    assert!(
        bad(EncrId::AES_GCM_16, Some(128), IntegId::HMAC_SHA2_256_128)
            .key_lengths(&p)
            .is_err()
    );
    assert!(
        bad(EncrId::AES_CBC, Some(128), IntegId::NONE)
            .key_lengths(&p)
            .is_err()
    );
    assert_eq!(
        bad(EncrId::TRIPLE_DES, None, IntegId::NONE)
            .key_lengths(&p)
            .unwrap_err(),
        CryptoError::UnsupportedEncr(EncrId::TRIPLE_DES, None)
    );
    assert_eq!(
        bad(EncrId::AES_CBC, Some(100), IntegId::HMAC_SHA2_256_128)
            .key_lengths(&p)
            .unwrap_err(),
        CryptoError::UnsupportedEncr(EncrId::AES_CBC, Some(100))
    );
    assert!(p.ke(KeId::MODP_768).is_err());
    let ccm = ChildSuite {
        encr: EncrId::AES_CCM_8,
        encr_key_bits: Some(192),
        integ: IntegId::NONE,
        esn: false,
        ke: None,
    };
    assert_eq!(ccm.key_lengths(&p).unwrap(), (27, 0), "key ‖ 3-byte salt");
    let sha1 = bad(EncrId::AES_CBC, Some(128), IntegId::HMAC_SHA1_96);
    assert_eq!(sha1.key_lengths(&p).unwrap(), (16, 20));
    assert!(p.prf(PrfId::HMAC_MD5).is_err());
    // A restricted provider no longer offers a removed group.
    let mut only = CryptoProvider::seeded(0);
    only.ke_groups.retain(|g| g.id() == KeId::CURVE25519);
    assert!(only.ke(KeId::ECP_256).is_err());
    assert!(only.ke(KeId::CURVE25519).is_ok());
    assert_ne!(p.random_ike_spi().unwrap(), 0);
    assert_eq!(p.random_nonce(32).unwrap().len(), 32);
    assert!(!format!("{p:?}").is_empty());
}

#[test]
fn handshake_floor_runs_for_every_group_and_suite() {
    let p = CryptoProvider::seeded(6);
    let child = ChildSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        integ: IntegId::NONE,
        esn: false,
        ke: None,
    };
    for ke in [
        KeId::CURVE25519,
        KeId::ECP_256,
        KeId::ECP_384,
        KeId::MODP_2048,
    ] {
        let suite = IkeSuite { ke, ..suites()[0] };
        handshake_crypto(&p, suite, child, 200).unwrap();
    }
    for suite in suites() {
        handshake_crypto(&p, suite, child, 200).unwrap();
    }
    let bad = IkeSuite {
        ke: KeId::MODP_768,
        ..suites()[0]
    };
    assert_eq!(
        handshake_crypto(&p, bad, child, 200).unwrap_err(),
        CryptoError::UnsupportedKe(KeId::MODP_768)
    );
}

#[test]
fn key_material_is_redacted_in_debug() {
    let p = CryptoProvider::seeded(10);
    let (a, _) = pair(&p, suites()[2]);
    let child = ChildSuite {
        encr: EncrId::AES_CBC,
        encr_key_bits: Some(128),
        integ: IntegId::HMAC_SHA2_256_128,
        esn: true,
        ke: None,
    };
    let ck = a.child_keys(&p, &child, None, &[1; 32], &[2; 32]).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for text in [
        format!("{a:?}"),
        format!("{:?}", a.keys),
        format!("{ck:?}"),
        format!("{:?}", ck.encr_i),
        format!("{:?}", a.in_key()),
    ] {
        assert!(!text.contains(&hex(&ck.encr_i[..4])), "{text}");
        assert!(!text.contains(&hex(&a.keys.sk_d[..4])), "{text}");
        // Vec<u8> Debug prints "[238, 58, ...": match the open prefix.
        let dec = format!("{:?}", &a.keys.sk_d[..4]);
        assert!(!text.contains(dec.trim_end_matches(']')), "{text}");
    }
    assert_eq!(
        format!("{:?}", ck.integ_i),
        "SecretBytes(<32 bytes redacted>)"
    );
}
