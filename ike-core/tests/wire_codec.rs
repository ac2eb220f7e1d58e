//! Codec tests: every payload type round-trips, hand-written byte layouts
//! from RFC 7296 §3, and every length/count check rejects bad input.

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use core::net::{Ipv4Addr, Ipv6Addr};

use ike_core::wire::natt::{self, NattDatagram};
use ike_core::wire::payload::{AttrValue, MAX_PAYLOADS, UnknownPayload, encode_chain};
use ike_core::wire::{
    Auth, AuthMethod, Cert, CertEncoding, CertReq, CfgAttrType, CfgType, Codec, Cp, CpAttr, Delete,
    Eap, EncrId, EsnId, ExchangeType, Flags, Header, Id, IdType, IntegId, InvalidMessage, Ke, KeId,
    Message, Nonce, Notify, NotifyType, Payload, PayloadType, PrfId, Proposal, ProtocolId, Sa, Sk,
    Skf, TrafficSelector, Transform, TransformAttr, Ts, TsRange, TsType, VendorId,
};

fn header() -> Header {
    Header::new(
        0x0102_0304_0506_0708,
        0x1112_1314_1516_1718,
        ExchangeType::IKE_AUTH,
        Flags::new(true, false),
        1,
    )
}

fn every_payload() -> Vec<Payload> {
    let ike = Proposal {
        num: 1,
        protocol: ProtocolId::IKE,
        spi: vec![],
        transforms: vec![
            Transform::encr(EncrId::AES_CBC, Some(256)),
            Transform::encr(EncrId::AES_GCM_16, Some(128)),
            Transform::prf(PrfId::HMAC_SHA2_384),
            Transform::integ(IntegId::HMAC_SHA2_256_128),
            Transform::ke(KeId::CURVE25519),
            Transform::ke(KeId::MODP_3072),
            Transform {
                ty: ike_core::wire::TransformType(99),
                id: 7,
                attrs: vec![TransformAttr {
                    ty: ike_core::wire::TransformAttrType(20),
                    value: AttrValue::Tlv(vec![1, 2, 3]),
                }],
            },
        ],
    };
    let esp = Proposal {
        num: 2,
        protocol: ProtocolId::ESP,
        spi: 0xc702_66ebu32.to_be_bytes().to_vec(),
        transforms: vec![
            Transform::encr(EncrId::CHACHA20_POLY1305, None),
            Transform::esn(EsnId::ESN),
            Transform::esn(EsnId::NO_ESN),
        ],
    };
    let v4 = TrafficSelector::Ipv4(TsRange::any(
        Ipv4Addr::new(192, 168, 1, 0),
        Ipv4Addr::new(192, 168, 1, 255),
    ));
    let v6 = TrafficSelector::Ipv6(TsRange {
        ip_proto: 17,
        start_port: 500,
        end_port: 4500,
        start: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        end: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0xffff, 0xffff, 0xffff, 0xffff),
    });
    let other = TrafficSelector::Other {
        ty: TsType::SECLABEL,
        byte1: 0,
        data: b"system_u:object_r".to_vec(),
    };
    vec![
        Payload::Notify(Notify::new(NotifyType::COOKIE, vec![9; 16])),
        Payload::Sa(Sa {
            proposals: vec![ike, esp],
        }),
        Payload::Ke(Ke {
            group: KeId::CURVE25519,
            data: vec![0x42; 32],
        }),
        Payload::Idi(Id {
            ty: IdType::FQDN,
            data: b"a.lanes.test".to_vec(),
        }),
        Payload::Idr(Id {
            ty: IdType::IPV4_ADDR,
            data: vec![10, 0, 0, 2],
        }),
        Payload::Cert(Cert {
            encoding: CertEncoding::X509_SIGNATURE,
            data: vec![0x30, 0x82, 1, 2],
        }),
        Payload::CertReq(CertReq {
            encoding: CertEncoding::X509_SIGNATURE,
            data: vec![0xaa; 20],
        }),
        Payload::Auth(Auth {
            method: AuthMethod::PSK,
            data: vec![0x55; 32],
        }),
        Payload::Nonce(Nonce(vec![7; 32])),
        Payload::Notify(Notify::rekey_sa(ProtocolId::ESP, 0xcafe_f00d)),
        Payload::Notify(Notify::new(NotifyType::SA_RESOURCE_INFO, vec![0, 0, 0, 3])),
        Payload::Notify(Notify::new(NotifyType(40000), vec![])),
        Payload::Delete(Delete::ike()),
        Payload::Delete(Delete::esp(vec![1, 0xffff_ffff])),
        Payload::VendorId(VendorId(b"lanes".to_vec())),
        Payload::Tsi(Ts {
            selectors: vec![v4.clone(), v6, other],
        }),
        Payload::Tsr(Ts {
            selectors: vec![v4],
        }),
        Payload::Cp(Cp {
            cfg_type: CfgType::REQUEST,
            attrs: vec![
                CpAttr {
                    ty: CfgAttrType::INTERNAL_IP4_ADDRESS,
                    value: vec![],
                },
                CpAttr {
                    ty: CfgAttrType::INTERNAL_IP6_DNS,
                    value: vec![0; 16],
                },
            ],
        }),
        Payload::Eap(Eap(vec![1, 2, 0, 5, 1])),
        Payload::Unknown(UnknownPayload {
            ty: PayloadType(200),
            critical: false,
            body: vec![1, 2, 3],
        }),
    ]
}

#[test]
fn every_payload_round_trips() {
    let m = Message {
        header: header(),
        payloads: every_payload(),
    };
    let bytes = m.to_bytes();
    let d = Message::decode(&bytes).unwrap();
    assert_eq!(d.payloads, m.payloads);
    assert_eq!(d.header.next_payload, PayloadType::NOTIFY);
    assert_eq!(d.header.length as usize, bytes.len());
    assert_eq!(d.to_bytes(), bytes);
    assert!(d.unsupported_critical().is_none());
    // Getters.
    assert_eq!(d.notify(NotifyType::COOKIE).unwrap().data, vec![9; 16]);
    assert_eq!(d.notifies().count(), 4);
    assert!(d.error_notify().is_none());
    assert_eq!(d.idr().unwrap().data, vec![10, 0, 0, 2]);
    let p = &d.sa().unwrap().proposals[1];
    assert_eq!(p.spi_u32(), Some(0xc702_66eb));
    assert_eq!(
        d.notify(NotifyType::REKEY_SA).unwrap().spi_u32(),
        Some(0xcafe_f00d)
    );
    assert_eq!(
        d.sa().unwrap().proposals[0].transforms[0].key_length(),
        Some(256)
    );
    assert_eq!(
        d.sa().unwrap().proposals[0].transforms[2].as_prf(),
        Some(PrfId::HMAC_SHA2_384)
    );
    assert_eq!(d.sa().unwrap().proposals[0].transforms[2].as_encr(), None);
}

#[test]
fn header_layout() {
    let mut h = header();
    h.next_payload = PayloadType::SA;
    h.length = 28;
    let b = h.get_encoding();
    assert_eq!(
        b,
        [
            1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 33, 0x20, 35,
            0x08, 0, 0, 0, 1, 0, 0, 0, 28
        ]
    );
    assert_eq!(Header::read_all(&b).unwrap(), h);
    assert!(Flags(0x28).initiator() && Flags(0x28).response());
    assert_eq!(format!("{:?}", Flags(0x28)), "Flags(I|R)");
    // An empty message (no payloads) is valid.
    let m = Message {
        header: header(),
        payloads: vec![],
    };
    assert_eq!(
        Message::decode(&m.to_bytes()).unwrap(),
        Message {
            header: Header {
                length: 28,
                ..header()
            },
            payloads: vec![]
        }
    );
}

/// Byte layouts written out from RFC 7296 §3.3, §3.11, §3.13.1.
#[test]
fn substructure_layouts() {
    let mut out = Vec::new();
    Sa {
        proposals: vec![Proposal {
            num: 1,
            protocol: ProtocolId::ESP,
            spi: vec![0xaa, 0xbb, 0xcc, 0xdd],
            transforms: vec![
                Transform::encr(EncrId::AES_GCM_16, Some(128)),
                Transform::esn(EsnId::NO_ESN),
            ],
        }],
    }
    .encode(&mut out);
    assert_eq!(
        out,
        [
            0, 0, 0, 32, 1, 3, 4, 2, 0xaa, 0xbb, 0xcc, 0xdd, // proposal, last
            3, 0, 0, 12, 1, 0, 0, 20, 0x80, 0x0e, 0, 128, // ENCR + Key Length TV
            0, 0, 0, 8, 5, 0, 0, 0, // ESN, last
        ]
    );
    let d = Delete::esp(vec![0x0102_0304]).get_encoding();
    assert_eq!(d, [3, 4, 0, 1, 1, 2, 3, 4]);
    assert_eq!(Delete::ike().get_encoding(), [1, 0, 0, 0]);
    let ts = TrafficSelector::Ipv4(TsRange::any(
        Ipv4Addr::new(10, 0, 0, 0),
        Ipv4Addr::new(10, 0, 0, 255),
    ))
    .get_encoding();
    assert_eq!(
        ts,
        [7, 0, 0, 16, 0, 0, 255, 255, 10, 0, 0, 0, 10, 0, 0, 255]
    );
    let v6 = TrafficSelector::Ipv6(TsRange::any(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED));
    assert_eq!(v6.get_encoding().len(), 40);
    assert_eq!(v6.get_encoding()[..4], [8, 0, 0, 40]);
}

#[test]
fn unknown_payloads_are_kept_and_critical_ones_reported() {
    let mut m = Message {
        header: header(),
        payloads: vec![
            Payload::Nonce(Nonce(vec![1; 16])),
            Payload::Unknown(UnknownPayload {
                ty: PayloadType(150),
                critical: false,
                body: vec![],
            }),
        ],
    };
    let d = Message::decode(&m.to_bytes()).unwrap();
    assert_eq!(d.unsupported_critical(), None);
    m.payloads.push(Payload::Unknown(UnknownPayload {
        ty: PayloadType(151),
        critical: true,
        body: vec![0xff; 3],
    }));
    let bytes = m.to_bytes();
    let d = Message::decode(&bytes).unwrap();
    assert_eq!(d.unsupported_critical(), Some(PayloadType(151)));
    assert_eq!(d.to_bytes(), bytes);
    // The critical bit is the top bit of the second generic header byte.
    let nonce_len = 4 + 16;
    assert_eq!(bytes[28 + nonce_len + 4 + 1], 0x80);
}

fn encode(payloads: &[Payload]) -> Vec<u8> {
    Message {
        header: header(),
        payloads: payloads.to_vec(),
    }
    .to_bytes()
}

fn set_len(b: &mut [u8]) {
    let n = u32::try_from(b.len()).unwrap();
    b[24..28].copy_from_slice(&n.to_be_bytes());
}

#[test]
fn malformed_messages_are_rejected_not_panicking() {
    let good = encode(&[Payload::Nonce(Nonce(vec![1; 16]))]);
    // Short header.
    assert!(matches!(
        Message::decode(&good[..20]),
        Err(InvalidMessage::Truncated { .. })
    ));
    // Wrong major version -> INVALID_MAJOR_VERSION.
    let mut v = good.clone();
    v[17] = 0x10;
    let e = Message::decode(&v).unwrap_err();
    assert_eq!(e, InvalidMessage::Version(1));
    assert_eq!(e.notify(), NotifyType::INVALID_MAJOR_VERSION);
    // Header length disagrees with the datagram.
    let mut v = good.clone();
    v.push(0);
    let e = Message::decode(&v).unwrap_err();
    assert!(matches!(e, InvalidMessage::BadLength { .. }), "{e}");
    assert_eq!(e.notify(), NotifyType::INVALID_SYNTAX);
    // Payload length < 4.
    let mut v = good.clone();
    v[30..32].copy_from_slice(&3u16.to_be_bytes());
    assert!(Message::decode(&v).is_err());
    // Payload length beyond the message.
    let mut v = good.clone();
    v[30..32].copy_from_slice(&200u16.to_be_bytes());
    assert!(matches!(
        Message::decode(&v),
        Err(InvalidMessage::Truncated { .. })
    ));
    // Trailing bytes after the last payload.
    let mut v = good.clone();
    v.extend([0, 0, 0, 0]);
    set_len(&mut v);
    assert!(matches!(
        Message::decode(&v),
        Err(InvalidMessage::TrailingData { .. })
    ));
    // Chain says "another payload follows" but the message ends.
    let mut v = good.clone();
    v[28] = PayloadType::NONCE.0;
    assert!(Message::decode(&v).is_err());
}

#[test]
fn sk_must_be_last() {
    let sk = Payload::Sk(Sk {
        first_inner: PayloadType::IDI,
        data: vec![0; 24],
    });
    let m = encode(std::slice::from_ref(&sk));
    assert_eq!(
        Message::decode(&m).unwrap().sk().unwrap().first_inner,
        PayloadType::IDI
    );
    // Bytes after SK are rejected.
    let mut v = m.clone();
    v.extend([0, 0, 0, 4]);
    set_len(&mut v);
    assert_eq!(
        Message::decode(&v).unwrap_err(),
        InvalidMessage::Misplaced(PayloadType::SK)
    );
    // SKF fragment numbers: 1 <= number <= total.
    let skf = |number, total| {
        encode(&[Payload::Skf(Skf {
            first_inner: PayloadType::NONE,
            number,
            total,
            data: vec![0; 24],
        })])
    };
    assert!(Message::decode(&skf(2, 3)).is_ok());
    assert!(Message::decode(&skf(0, 3)).is_err());
    assert!(Message::decode(&skf(4, 3)).is_err());
}

#[test]
fn substructure_checks() {
    let sa = |mutate: &dyn Fn(&mut Vec<u8>)| {
        let mut body = Sa {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![
                    Transform::prf(PrfId::HMAC_SHA2_256),
                    Transform::ke(KeId::ECP_256),
                ],
            }],
        }
        .get_encoding();
        mutate(&mut body);
        Sa::read_all(&body)
    };
    assert!(sa(&|_| {}).is_ok());
    // Transform count says 3 but only 2 follow.
    assert!(sa(&|b| b[7] = 3).is_err());
    // Count says 1 but 2 follow.
    assert!(sa(&|b| b[7] = 1).is_err());
    // Wrong "last substruct" on the final transform.
    assert!(sa(&|b| b[16] = 3).is_err());
    // Proposal claims more proposals follow.
    assert!(sa(&|b| b[0] = 2).is_err());
    // Invalid last-substruct value.
    assert!(sa(&|b| b[0] = 1).is_err());
    // Proposal length too small / too large.
    assert!(sa(&|b| b[3] = 4).is_err());
    assert!(sa(&|b| b[3] = 200).is_err());
    // Transform length below 8.
    assert!(sa(&|b| b[11] = 4).is_err());
    // SPI size larger than the proposal.
    assert!(sa(&|b| b[6] = 40).is_err());

    // TS: count mismatch and bad selector length.
    let ts = Ts {
        selectors: vec![TrafficSelector::Ipv4(TsRange::any(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
        ))],
    }
    .get_encoding();
    assert!(Ts::read_all(&ts).is_ok());
    let mut v = ts.clone();
    v[0] = 2;
    assert!(Ts::read_all(&v).is_err());
    let mut v = ts.clone();
    v[7] = 40; // IPv4 range claiming the IPv6 length
    assert!(Ts::read_all(&v).is_err());
    let mut v = ts.clone();
    v[0] = 200; // more than MAX_SELECTORS
    assert!(matches!(
        Ts::read_all(&v),
        Err(InvalidMessage::BadCount { .. })
    ));

    // Delete: SPI size must match the protocol, count must match the data.
    assert!(Delete::read_all(&[3, 4, 0, 2, 1, 2, 3, 4]).is_err());
    assert!(Delete::read_all(&[3, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    assert!(Delete::read_all(&[1, 0, 0, 1]).is_err());
    assert_eq!(
        Delete::read_all(&[3, 4, 0, 1, 1, 2, 3, 4]).unwrap(),
        Delete::esp(vec![0x0102_0304])
    );

    // Notify SPI size beyond the payload; KE/ID/AUTH shorter than their
    // fixed part.
    assert!(Notify::read_all(&[3, 4, 0x40, 0x09, 1]).is_err());
    assert!(Ke::read_all(&[0, 31, 0]).is_err());
    assert!(Id::read_all(&[2, 0]).is_err());
    assert!(Auth::read_all(&[2]).is_err());
    // CP attribute length beyond the payload.
    assert!(Cp::read_all(&[1, 0, 0, 0, 0, 1, 0, 9, 1]).is_err());
}

#[test]
fn payload_count_is_bounded() {
    let many = vec![Payload::VendorId(VendorId(vec![])); MAX_PAYLOADS + 1];
    let e = Message::decode(&encode(&many)).unwrap_err();
    assert!(matches!(e, InvalidMessage::BadCount { .. }), "{e}");
    let ok = vec![Payload::VendorId(VendorId(vec![])); MAX_PAYLOADS];
    assert!(Message::decode(&encode(&ok)).is_ok());
}

#[test]
fn encode_chain_sets_next_payload_fields() {
    let mut out = Vec::new();
    let first = encode_chain(
        &[
            Payload::Nonce(Nonce(vec![1; 16])),
            Payload::VendorId(VendorId(vec![2])),
        ],
        &mut out,
    );
    assert_eq!(first, PayloadType::NONCE);
    assert_eq!(out[..4], [43, 0, 0, 20]);
    assert_eq!(out[20..24], [0, 0, 0, 5]);
}

#[test]
fn nat_t_framing() {
    let ike = encode(&[Payload::Nonce(Nonce(vec![1; 16]))]);
    let mut framed = ike.clone();
    natt::add_marker(&mut framed);
    assert_eq!(framed[..4], [0, 0, 0, 0]);
    assert_eq!(natt::strip_marker(&framed), Some(&ike[..]));
    assert_eq!(natt::classify_4500(&[0xff]), NattDatagram::Keepalive);
    let esp = [0xc7, 0x02, 0x66, 0xeb, 0, 0, 0, 1, 9, 9];
    assert_eq!(natt::classify_4500(&esp), NattDatagram::Esp(&esp));
    assert_eq!(natt::classify_4500(&[1, 2]), NattDatagram::Invalid);
    assert_eq!(natt::strip_marker(&esp), None);
}

#[test]
fn enums_are_open() {
    assert_eq!(format!("{:?}", ExchangeType(99)), "ExchangeType(0x63)");
    assert_eq!(format!("{}", NotifyType::TS_MAX_QUEUE), "TS_MAX_QUEUE");
    assert_eq!(NotifyType::REDIRECT_SUPPORTED.0, 16406);
    assert_eq!(PayloadType::SKF.0, 53);
    assert_eq!(EncrId::AES_GCM_16.name(), Some("AES_GCM_16"));
    assert_eq!(KeId(1000).name(), None);
}

/// RFC 9611 §4 notifies as strongSwan lays them out (SPEC §1.2): protocol
/// 0, SPI size 0, no SPI; SA_RESOURCE_INFO with a 4-byte CPU id or empty,
/// TS_MAX_QUEUE empty.
#[test]
fn rfc9611_notify_layouts() {
    let enc = |n: Notify| {
        let mut out = Vec::new();
        encode_chain(&[Payload::Notify(n)], &mut out);
        out
    };
    assert_eq!(
        enc(Notify::new(
            NotifyType::SA_RESOURCE_INFO,
            3u32.to_be_bytes().to_vec()
        )),
        [0, 0, 0, 12, 0, 0, 0x40, 0x3c, 0, 0, 0, 3]
    );
    assert_eq!(
        enc(Notify::new(NotifyType::SA_RESOURCE_INFO, vec![])),
        [0, 0, 0, 8, 0, 0, 0x40, 0x3c]
    );
    assert_eq!(
        enc(Notify::new(NotifyType::TS_MAX_QUEUE, vec![])),
        [0, 0, 0, 8, 0, 0, 0, 48]
    );
    assert!(NotifyType::TS_MAX_QUEUE.is_error());
}
