//! Golden tests against a strongSwan 6.1 trace (PSK, aes128gcm16-prfsha256-
//! x25519, per-CPU Child SAs). The hex in tests/data/ was extracted from
//! the level-4 logs of two strongSwan 6.1 daemons by
//! tests/data/extract_strongswan.py.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use std::collections::HashMap;

mod common;
use common::{named_hex, unhex};

use ike_core::crypto::keymat::{ChildKeys, IkeKeyLengths, IkeKeys, skeyseed};
use ike_core::crypto::prf::{PRF_HMAC_SHA2_256, prf};
use ike_core::crypto::{
    CryptoError, CryptoProvider, IkeSaCrypto, IkeSuite, SecureRandom, auth, sk,
};
use ike_core::wire::natt::strip_marker;
use ike_core::wire::payload::encode_chain;
use ike_core::wire::{
    AuthMethod, EncrId, ExchangeType, IdType, KeId, Message, NotifyType, Payload, PayloadType,
    PrfId, ProtocolId, TrafficSelector, TransformType,
};

const PACKETS: &str = include_str!("data/strongswan_packets.txt");
const PLAINS: &str = include_str!("data/strongswan_plain.txt");
const KEYS: &str = include_str!("data/strongswan_keys.txt");

struct Packet {
    /// Side that *received* it: 'A' (initiator) or 'B' (responder).
    side: char,
    /// The IKE message without non-ESP marker.
    ike: Vec<u8>,
}

fn packets() -> Vec<Packet> {
    PACKETS
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split(' ');
            let side = it.next().unwrap().chars().next().unwrap();
            let port: u16 = it.next().unwrap().parse().unwrap();
            let raw = unhex(it.next().unwrap());
            let ike = if port == 4500 {
                strip_marker(&raw).expect("non-ESP marker").to_vec()
            } else {
                raw
            };
            Packet { side, ike }
        })
        .collect()
}

fn keys() -> HashMap<&'static str, Vec<u8>> {
    named_hex(KEYS)
}

fn plains(side: char) -> Vec<Vec<u8>> {
    PLAINS
        .lines()
        .filter(|l| l.starts_with(side))
        .map(|l| unhex(l[1..].trim()))
        .collect()
}

/// (IKE_SA_INIT request, IKE_SA_INIT response).
fn init_pair(pk: &[Packet]) -> (&[u8], &[u8]) {
    let req = pk
        .iter()
        .find(|p| p.side == 'B' && p.ike.len() == 232)
        .unwrap();
    let resp = pk
        .iter()
        .find(|p| p.side == 'A' && p.ike.len() == 240)
        .unwrap();
    (&req.ike, &resp.ike)
}

fn nonces(k: &HashMap<&str, Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    let n = &k["nonces"];
    (n[..32].to_vec(), n[32..].to_vec())
}

fn suite() -> IkeSuite {
    IkeSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        prf: PrfId::HMAC_SHA2_256,
        integ: ike_core::wire::IntegId::NONE,
        ke: KeId::CURVE25519,
    }
}

fn spis(pk: &[Packet]) -> (u64, u64) {
    let (_, resp) = init_pair(pk);
    let h = Message::decode(resp).unwrap().header;
    (h.spi_i, h.spi_r)
}

fn sa_crypto(initiator: bool) -> IkeSaCrypto {
    let pk = packets();
    let k = keys();
    let (ni, nr) = nonces(&k);
    let (si, sr) = spis(&pk);
    IkeSaCrypto::derive(
        &CryptoProvider::seeded(1),
        suite(),
        &k["g_ir"],
        &ni,
        &nr,
        si,
        sr,
        initiator,
    )
    .unwrap()
}

#[test]
fn every_packet_decodes_and_reencodes_byte_exact() {
    let pk = packets();
    assert_eq!(pk.len(), 13);
    for (i, p) in pk.iter().enumerate() {
        let m = Message::decode(&p.ike).unwrap_or_else(|e| panic!("packet {i}: {e}"));
        assert_eq!(m.to_bytes(), p.ike, "packet {i} re-encoding differs");
        assert!(m.unsupported_critical().is_none());
    }
}

#[test]
fn ike_sa_init_request_contents() {
    let pk = packets();
    let (req, resp) = init_pair(&pk);
    let m = Message::decode(req).unwrap();
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    assert_eq!(m.header.spi_r, 0);
    assert!(m.header.flags.initiator() && !m.header.flags.response());
    assert_eq!(m.header.message_id, 0);
    let sa = m.sa().unwrap();
    assert_eq!(sa.proposals.len(), 1);
    let p = &sa.proposals[0];
    assert_eq!((p.num, p.protocol, p.spi.len()), (1, ProtocolId::IKE, 0));
    let encr = p.transforms_of(TransformType::ENCR).next().unwrap();
    assert_eq!(encr.as_encr(), Some(EncrId::AES_GCM_16));
    assert_eq!(encr.key_length(), Some(128));
    assert_eq!(IkeSuite::from_proposal(p), Some(suite()));
    let ke = m.ke().unwrap();
    assert_eq!((ke.group, ke.data.len()), (KeId::CURVE25519, 32));
    assert_eq!(m.nonce().unwrap().0.len(), 32);
    let types: Vec<NotifyType> = m.notifies().map(|n| n.ty).collect();
    assert_eq!(
        types,
        [
            NotifyType::NAT_DETECTION_SOURCE_IP,
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            NotifyType::FRAGMENTATION_SUPPORTED,
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            NotifyType::REDIRECT_SUPPORTED,
        ]
    );
    let r = Message::decode(resp).unwrap();
    assert!(r.header.flags.response() && !r.header.flags.initiator());
    assert!(r.notify(NotifyType::MULTIPLE_AUTH_SUPPORTED).is_some());
    assert!(r.notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED).is_some());
}

#[test]
fn skeyseed_and_sk_keys_match_strongswan() {
    let pk = packets();
    let k = keys();
    let (ni, nr) = nonces(&k);
    let (si, sr) = spis(&pk);
    let seed = skeyseed(&PRF_HMAC_SHA2_256, &ni, &nr, &k["g_ir"]);
    assert_eq!(&*seed, &k["skeyseed"][..]);
    let lens = IkeKeyLengths {
        prf: 32,
        integ: 0,
        encr: 20,
    };
    let keys = IkeKeys::derive(&PRF_HMAC_SHA2_256, &seed, &ni, &nr, si, sr, lens).unwrap();
    assert_eq!(&*keys.sk_d, &k["sk_d"][..]);
    assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
    assert_eq!(&*keys.sk_ei, &k["sk_ei"][..]);
    assert_eq!(&*keys.sk_er, &k["sk_er"][..]);
    assert_eq!(&*keys.sk_pi, &k["sk_pi"][..]);
    assert_eq!(&*keys.sk_pr, &k["sk_pr"][..]);
    // The high-level constructor derives the same.
    let sa = sa_crypto(true);
    assert_eq!(sa.keys, keys);
    // Debug never shows key bytes.
    assert!(!format!("{keys:?}").contains("ee"));
}

#[test]
fn psk_auth_matches_strongswan_both_sides() {
    let pk = packets();
    let k = keys();
    let (ni, nr) = nonces(&k);
    let (req, resp) = init_pair(&pk);
    let psk = &k["psk"];
    assert_eq!(psk.as_slice(), b"lanes-test-psk-0a1b2c3d4e5f60718293");
    assert_eq!(
        &*prf(&PRF_HMAC_SHA2_256, psk, &[auth::KEY_PAD]),
        &k["psk_keypad"][..]
    );
    let idi = ike_core::wire::Id {
        ty: IdType::FQDN,
        data: b"a.lanes.test".to_vec(),
    };
    let idr = ike_core::wire::Id {
        ty: IdType::FQDN,
        data: b"b.lanes.test".to_vec(),
    };
    assert_eq!(idi.body(), k["idi_body"]);
    // strongSwan's "octets" are exactly RealMessage ‖ nonce ‖ MACedID.
    let mid = auth::maced_id(&PRF_HMAC_SHA2_256, &k["sk_pi"], &idi);
    assert_eq!(auth::signed_octets(req, &nr, &mid), k["octets_i"]);
    let mid = auth::maced_id(&PRF_HMAC_SHA2_256, &k["sk_pr"], &idr);
    assert_eq!(auth::signed_octets(resp, &ni, &mid), k["octets_r"]);

    let a = sa_crypto(true);
    let b = sa_crypto(false);
    assert_eq!(a.own_psk_auth(psk, req, &nr, &idi), k["auth_i"]);
    assert_eq!(b.own_psk_auth(psk, resp, &ni, &idr), k["auth_r"]);
    assert!(b.verify_peer_psk_auth(psk, req, &nr, &idi, &k["auth_i"]));
    assert!(a.verify_peer_psk_auth(psk, resp, &ni, &idr, &k["auth_r"]));
    assert!(!a.verify_peer_psk_auth(b"wrong", resp, &ni, &idr, &k["auth_r"]));
}

/// Every protected packet opens with the derived keys, and the inner
/// payloads re-encode to exactly the plaintext strongSwan logged.
#[test]
fn decrypt_every_protected_packet() {
    let pk = packets();
    let a = sa_crypto(true);
    let b = sa_crypto(false);
    let mut opened = 0;
    for p in pk
        .iter()
        .filter(|p| p.ike.get(16) == Some(&PayloadType::SK.0))
    {
        let (sa, side) = if p.side == 'A' { (&a, 'A') } else { (&b, 'B') };
        let m = sa.open(&p.ike).unwrap();
        let mut inner = Vec::new();
        encode_chain(&m.payloads, &mut inner);
        assert!(
            plains(side).contains(&inner),
            "decrypted payloads of a packet received by {side} not in strongSwan's log"
        );
        // The wrong direction's key fails the ICV: dropped silently.
        let wrong = if p.side == 'A' { &b } else { &a };
        assert_eq!(
            wrong.open(&p.ike).unwrap_err(),
            sk::OpenError::IntegrityCheckFailed
        );
        opened += 1;
    }
    assert_eq!(opened, 11);
}

#[test]
fn ike_auth_request_inner_payloads() {
    let pk = packets();
    let k = keys();
    let b = sa_crypto(false);
    let p = pk
        .iter()
        .find(|p| p.side == 'B' && p.ike[18] == ExchangeType::IKE_AUTH.0)
        .unwrap();
    let m = b.open(&p.ike).unwrap();
    assert_eq!(m.header.message_id, 1);
    let types: Vec<String> = m
        .payloads
        .iter()
        .map(|p| match p {
            Payload::Notify(n) => format!("N({:?})", n.ty),
            p => format!("{:?}", p.ty()),
        })
        .collect();
    assert_eq!(
        types,
        [
            "IDI",
            "N(INITIAL_CONTACT)",
            "IDR",
            "AUTH",
            "SA",
            "TSI",
            "TSR",
            "N(MOBIKE_SUPPORTED)",
            "N(NO_ADDITIONAL_ADDRESSES)",
            "N(MULTIPLE_AUTH_SUPPORTED)",
            "N(EAP_ONLY_AUTHENTICATION)",
            "N(IKEV2_MESSAGE_ID_SYNC_SUPPORTED)",
            "N(SA_RESOURCE_INFO)",
        ]
    );
    let auth = m.auth().unwrap();
    assert_eq!(auth.method, AuthMethod::PSK);
    assert_eq!(auth.data, k["auth_i"]);
    assert_eq!(m.idi().unwrap().data, b"a.lanes.test");
    // The fallback SA's SA_RESOURCE_INFO: protocol 0, no SPI, no data.
    let ri = m.notify(NotifyType::SA_RESOURCE_INFO).unwrap();
    assert_eq!(
        (ri.protocol, ri.spi.len(), ri.data.len()),
        (ProtocolId::NONE, 0, 0)
    );
    let mut raw = Vec::new();
    encode_chain(&[Payload::Notify(ri.clone())], &mut raw);
    assert_eq!(raw, [0, 0, 0, 8, 0, 0, 0x40, 0x3c]);
    // RFC 7296 §2.9: the trap's packet selector first, then the policy's.
    let tsi = &m.tsi().unwrap().selectors;
    assert_eq!(tsi.len(), 2);
    let TrafficSelector::Ipv4(first) = &tsi[0] else {
        panic!("IPv4 TSi expected");
    };
    assert_eq!(
        (first.start.octets(), first.end.octets()),
        ([192, 168, 1, 1], [192, 168, 1, 1])
    );
    assert_eq!(first.ip_proto, 1, "the acquire was for ICMP");
    let TrafficSelector::Ipv4(ts) = &tsi[1] else {
        panic!("IPv4 TSi expected");
    };
    assert_eq!(
        (ts.start.octets(), ts.end.octets()),
        ([192, 168, 1, 0], [192, 168, 1, 255])
    );
    assert_eq!((ts.ip_proto, ts.start_port, ts.end_port), (0, 0, 65535));
}

#[test]
fn create_child_sa_carries_cpu_resource_info() {
    let pk = packets();
    let a = sa_crypto(true);
    let b = sa_crypto(false);
    let mut cpus = Vec::new();
    for p in pk
        .iter()
        .filter(|p| p.ike[18] == ExchangeType::CREATE_CHILD_SA.0)
    {
        let m = if p.side == 'A' {
            a.open(&p.ike)
        } else {
            b.open(&p.ike)
        }
        .unwrap();
        assert!(m.sa().is_some() && m.nonce().is_some() && m.tsi().is_some());
        assert!(m.ke().is_none(), "no PFS in this trace");
        assert!(m.notify(NotifyType::REKEY_SA).is_none());
        let ri = m.notify(NotifyType::SA_RESOURCE_INFO).unwrap();
        assert_eq!((ri.protocol, ri.spi.len()), (ProtocolId::NONE, 0));
        assert_eq!(ri.data.len(), 4, "per-CPU SA carries a 4-byte CPU id");
        let mut raw = Vec::new();
        encode_chain(&[Payload::Notify(ri.clone())], &mut raw);
        assert_eq!(raw[..8], [0, 0, 0, 12, 0, 0, 0x40, 0x3c]);
        cpus.push(u32::from_be_bytes(ri.data[..4].try_into().unwrap()));
        let prop = &m.sa().unwrap().proposals[0];
        assert_eq!(prop.protocol, ProtocolId::ESP);
        assert!(prop.spi_u32().is_some());
    }
    assert_eq!(cpus.len(), 8);
    assert!(cpus.iter().all(|c| *c < 64), "CPU ids {cpus:?}");
}

#[test]
fn child_keymat_of_ike_auth_matches_oracle() {
    let k = keys();
    let (ni, nr) = nonces(&k);
    let ck = ChildKeys::derive(&PRF_HMAC_SHA2_256, &k["sk_d"], None, &ni, &nr, 20, 0).unwrap();
    let got = [
        &ck.encr_i[..],
        &ck.integ_i[..],
        &ck.encr_r[..],
        &ck.integ_r[..],
    ]
    .concat();
    assert_eq!(got, k["child_keymat_ike_auth"]);
    // Same through IkeSaCrypto with the negotiated ESP suite.
    let pk = packets();
    let b = sa_crypto(false);
    let p = pk
        .iter()
        .find(|p| p.side == 'A' && p.ike[18] == ExchangeType::IKE_AUTH.0)
        .unwrap();
    let resp = sa_crypto(true).open(&p.ike).unwrap();
    let child =
        ike_core::crypto::ChildSuite::from_proposal(&resp.sa().unwrap().proposals[0]).unwrap();
    assert_eq!(child.encr, EncrId::AES_GCM_16);
    assert!(!child.esn && child.ke.is_none());
    let ck2 = b
        .child_keys(&CryptoProvider::seeded(0), &child, None, &ni, &nr)
        .unwrap();
    assert_eq!(ck2, ck);
    // PFS changes the keys.
    let pfs = ChildKeys::derive(
        &PRF_HMAC_SHA2_256,
        &k["sk_d"],
        Some(&[1; 32]),
        &ni,
        &nr,
        20,
        0,
    )
    .unwrap();
    assert_ne!(pfs, ck);
}

/// Returns fixed bytes: lets seal() reproduce strongSwan's IV.
#[derive(Debug)]
struct FixedRandom(Vec<u8>);

impl SecureRandom for FixedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        dest.copy_from_slice(&self.0[..dest.len()]);
        Ok(())
    }
}

/// Sealing the decrypted IKE_AUTH request again with strongSwan's IV gives
/// the captured packet byte for byte (padding, lengths, AAD, ICV).
#[test]
fn reseal_reproduces_captured_ike_auth() {
    let pk = packets();
    let p = pk
        .iter()
        .find(|p| p.side == 'B' && p.ike[18] == ExchangeType::IKE_AUTH.0)
        .unwrap();
    let m = sa_crypto(false).open(&p.ike).unwrap();
    let iv = u64::from_be_bytes(p.ike[32..40].try_into().unwrap());
    // First seal uses IV = 1 ^ mask.
    let rng = FixedRandom((iv ^ 1).to_be_bytes().to_vec());
    let mut a = sa_crypto(true);
    let mut out = Vec::new();
    sk::seal(&m.header, &m.payloads, a.out_key(), &rng, &mut out).unwrap();
    assert_eq!(out, p.ike);
}
