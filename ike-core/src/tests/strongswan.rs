//! Interop with strongSwan 6.1 from the captured trace (`tests/data`, extracted
//! from a level-4 log of two strongSwan 6.1 daemons): the responder is put into the exact
//! post-IKE_SA_INIT state of the trace (its keys come from the trace's SKEYSEED),
//! then fed strongSwan's real IKE_AUTH and CREATE_CHILD_SA requests. Its AUTH
//! must equal strongSwan's responder AUTH byte for byte, its Child KEYMAT must equal
//! strongSwan's, and its answers must decrypt with strongSwan's keys.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::{EndpointConfig, Identity, PerCpu, Psk};
use crate::crypto::{CryptoProvider, IkeSaCrypto, IkeSuite};
use crate::event::Event;
use crate::ids::{IkeSaId, IkeSpi};
use crate::ike_sa::keys::SaKeys;
use crate::ike_sa::{Ctx, IkeSa, InitResponder, Outputs, State};
use crate::proposal::Proposal;
use crate::wire::natt::strip_marker;
use crate::wire::{EncrId, IntegId, KeId, Message, NotifyType, Payload, PrfId, ProtocolId};

use super::util::unhex;

const PACKETS: &str = include_str!("../../tests/data/strongswan_packets.txt");
const KEYS: &str = include_str!("../../tests/data/strongswan_keys.txt");

/// (receiver side, port, IKE message without marker).
fn packets() -> Vec<(char, u16, Vec<u8>)> {
    PACKETS
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split(' ');
            let side = it.next().and_then(|s| s.chars().next()).expect("side");
            let port: u16 = it.next().expect("port").parse().expect("port");
            let raw = unhex(it.next().expect("hex"));
            let ike = if port == 4500 {
                strip_marker(&raw).expect("marker").to_vec()
            } else {
                raw
            };
            (side, port, ike)
        })
        .collect()
}

fn keys() -> HashMap<&'static str, Vec<u8>> {
    KEYS.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, unhex(v.trim())))
        .collect()
}

fn b_config() -> EndpointConfig {
    let (_, mut b) = super::util::configs();
    let c = &mut b.connections[0];
    c.psk = Psk::new(keys()["psk"].clone());
    c.children[0].per_cpu = PerCpu::Yes;
    b.local_cpus = 2;
    b
}

#[test]
fn responder_answers_strongswan_ike_auth_and_create_child_sa() {
    let pk = packets();
    let k = keys();
    let init_req = pk
        .iter()
        .find(|p| p.0 == 'B' && p.2[18] == 34)
        .expect("init request")
        .2
        .clone();
    let init_resp = pk
        .iter()
        .find(|p| p.0 == 'A' && p.2[18] == 34)
        .expect("init response")
        .2
        .clone();
    let resp_hdr = Message::decode(&init_resp).expect("decode").header;
    let (ni, nr) = (k["nonces"][..32].to_vec(), k["nonces"][32..].to_vec());
    let cfg = b_config();
    let crypto = CryptoProvider::seeded(9);
    let mut out = Outputs::default();
    let sel = Proposal::parse_ike("aes128gcm16-prfsha256-x25519")
        .expect("p")
        .intersect(&Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("p"))
        .expect("sel");
    let keys_b = SaKeys::derive(
        &crypto,
        &sel,
        &k["skeyseed"],
        &ni,
        &nr,
        resp_hdr.spi_i,
        resp_hdr.spi_r,
        false,
    )
    .expect("keys");
    assert_eq!(
        &*keys_b.sk_d,
        k["sk_d"].as_slice(),
        "SK_d from the trace's SKEYSEED"
    );
    let a_addr: SocketAddr = "10.0.0.1:4500".parse().expect("addr");
    let b_addr: SocketAddr = "10.0.0.2:4500".parse().expect("addr");
    let mut sa = IkeSa::blank(
        IkeSaId(1),
        (
            crate::ids::ConnId(1),
            std::sync::Arc::new(cfg.connections[0].clone()),
        ),
        false,
        "10.0.0.2:500".parse().expect("addr"),
        "10.0.0.1:500".parse().expect("addr"),
        State::InitDone(Box::new(InitResponder {
            request: init_req,
            response: init_resp,
            ni: ni.clone(),
            nr: nr.clone(),
            first_child: None,
            peer_sig: Default::default(),
            inter: Default::default(),
        })),
    );
    sa.spi_i = IkeSpi(resp_hdr.spi_i);
    sa.spi_r = IkeSpi(resp_hdr.spi_r);
    sa.keys = Some(Box::new(keys_b));
    sa.ike_sel = Some(sel);
    sa.expect_msg_id = 1;
    // strongSwan's side of the same IKE SA, to read our answers.
    let suite = IkeSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::NONE,
        ke: KeId::CURVE25519,
    };
    let a = IkeSaCrypto::derive(
        &crypto,
        suite,
        &k["g_ir"],
        &ni,
        &nr,
        resp_hdr.spi_i,
        resp_hdr.spi_r,
        true,
    )
    .expect("strongSwan keys");

    // IKE_AUTH (message ID 1), over port 4500 as strongSwan floats there.
    let auth = pk
        .iter()
        .find(|p| p.0 == 'B' && p.2[18] == 35)
        .expect("auth")
        .2
        .clone();
    let now = Instant::now();
    {
        let conns = crate::connections::Connections::from_list(&cfg.connections);
        let mut ctx = Ctx {
            cfg: &cfg,
            conns: &conns,
            crypto: &crypto,
            out: &mut out,
            wall: None,
        };
        let msg = Message::decode(&auth).expect("decode");
        sa.handle(&mut ctx, now, a_addr, b_addr, &auth, &msg);
    }
    assert!(sa.is_established(), "strongSwan's PSK AUTH verified");
    assert!(sa.natt, "followed strongSwan to port 4500");
    let events: Vec<Event> = out.events.drain(..).collect();
    assert!(
        matches!(&events[0], Event::IkeSaUp { peer_id: Identity::Fqdn(p), .. } if p == "a.lanes.test")
    );
    let Event::ChildSaReady(c) = &events[1] else {
        panic!("{events:?}")
    };
    assert!(c.per_cpu);
    assert_eq!(c.resource, None, "the first SA is the fallback");
    // KEYMAT = encr i→r ‖ encr r→i (AES-GCM-128 + salt): equal to strongSwan's.
    let km = &k["child_keymat_ike_auth"];
    assert_eq!(&*c.keys_in.encr, &km[..20]);
    assert_eq!(&*c.keys_out.encr, &km[20..40]);
    assert_eq!(
        c.remote_ts,
        vec![super::util::ts("192.168.1.0/24")],
        "host hint folded into the subnet"
    );
    let t = out.transmits.pop_front().expect("IKE_AUTH response");
    assert_eq!(&t.data[..4], &[0, 0, 0, 0], "non-ESP marker");
    let r = a
        .open(&t.data[4..])
        .expect("strongSwan can decrypt our response");
    assert_eq!(r.header.message_id, 1);
    let our_auth = r
        .payloads
        .iter()
        .find_map(|p| {
            if let Payload::Auth(x) = p {
                Some(x.data.clone())
            } else {
                None
            }
        })
        .expect("AUTH");
    assert_eq!(
        our_auth, k["auth_r"],
        "our AUTH equals strongSwan's responder AUTH"
    );
    let ri = r.payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == NotifyType::SA_RESOURCE_INFO => Some(n.clone()),
        _ => None,
    });
    let ri = ri.expect("SA_RESOURCE_INFO echoed");
    assert_eq!(
        (ri.protocol, ri.spi.len(), ri.data.len()),
        (ProtocolId::NONE, 0, 0)
    );

    // strongSwan's CREATE_CHILD_SA requests (per-CPU SAs) in message-ID order.
    let mut reqs: Vec<Vec<u8>> = pk
        .iter()
        .filter(|p| p.0 == 'B' && p.2[18] == 36 && p.2[19] & 0x20 == 0)
        .map(|p| p.2.clone())
        .collect();
    reqs.sort_by_key(|m| u32::from_be_bytes([m[20], m[21], m[22], m[23]]));
    assert!(!reqs.is_empty());
    let mut cpus = Vec::new();
    for req in &reqs {
        let id = u32::from_be_bytes([req[20], req[21], req[22], req[23]]);
        if id != sa.expect_msg_id {
            continue;
        }
        let conns = crate::connections::Connections::from_list(&cfg.connections);
        let mut ctx = Ctx {
            cfg: &cfg,
            conns: &conns,
            crypto: &crypto,
            out: &mut out,
            wall: None,
        };
        let msg = Message::decode(req).expect("decode");
        sa.handle(&mut ctx, now, a_addr, b_addr, req, &msg);
        let t = out.transmits.pop_front().expect("response");
        let r = a.open(&t.data[4..]).expect("decrypts");
        let ri = r.notify(NotifyType::SA_RESOURCE_INFO).expect("echo");
        assert_eq!(ri.data.len(), 4, "our CPU id, 4 bytes");
        let ev: Vec<Event> = out.events.drain(..).collect();
        let Some(Event::ChildSaReady(c)) = ev.first() else {
            panic!("{ev:?}")
        };
        assert!(c.per_cpu);
        cpus.push(c.resource.expect("pinned").0);
        assert_eq!(
            u32::from_be_bytes(ri.data[..4].try_into().expect("4")),
            cpus[cpus.len() - 1]
        );
    }
    assert!(!cpus.is_empty());
    // Unused CPUs first, highest first (strongSwan's get_cpu order).
    assert_eq!(cpus[0], 1);
}

#[test]
fn initiator_accepts_strongswan_ike_auth_response() {
    use crate::ids::Spi;
    use crate::ike_sa::{ChildReq, Outstanding, Pending};
    let pk = packets();
    let k = keys();
    let init_req = pk
        .iter()
        .find(|p| p.0 == 'B' && p.2[18] == 34)
        .expect("init request")
        .2
        .clone();
    let init_resp = pk
        .iter()
        .find(|p| p.0 == 'A' && p.2[18] == 34)
        .expect("init response")
        .2
        .clone();
    let h = Message::decode(&init_resp).expect("decode").header;
    let (ni, nr) = (k["nonces"][..32].to_vec(), k["nonces"][32..].to_vec());
    let (mut cfg, _) = super::util::configs();
    cfg.connections[0].psk = Psk::new(k["psk"].clone());
    cfg.connections[0].children[0].per_cpu = PerCpu::Yes;
    let crypto = CryptoProvider::seeded(9);
    let mut out = Outputs::default();
    let sel = Proposal::parse_ike("aes128gcm16-prfsha256-x25519")
        .expect("p")
        .intersect(&Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("p"))
        .expect("sel");
    let keys_a = SaKeys::derive(
        &crypto,
        &sel,
        &k["skeyseed"],
        &ni,
        &nr,
        h.spi_i,
        h.spi_r,
        true,
    )
    .expect("keys");
    let a_addr: SocketAddr = "10.0.0.1:4500".parse().expect("addr");
    let b_addr: SocketAddr = "10.0.0.2:4500".parse().expect("addr");
    let mut sa = IkeSa::blank(
        IkeSaId(1),
        (
            crate::ids::ConnId(1),
            std::sync::Arc::new(cfg.connections[0].clone()),
        ),
        true,
        a_addr,
        b_addr,
        State::AuthSent(Box::new(InitResponder {
            request: init_req,
            response: init_resp,
            ni: ni.clone(),
            nr: nr.clone(),
            first_child: None,
            peer_sig: Default::default(),
            inter: Default::default(),
        })),
    );
    sa.natt = true;
    sa.spi_i = IkeSpi(h.spi_i);
    sa.spi_r = IkeSpi(h.spi_r);
    sa.keys = Some(Box::new(keys_a));
    sa.ike_sel = Some(sel);
    sa.next_msg_id = 2;
    let c = &cfg.connections[0].children[0];
    // strongSwan narrowed to the trap's host selectors: offer those too.
    let mut ts_i = c.local_ts.clone();
    ts_i.insert(
        0,
        crate::config::TrafficSelector {
            protocol: 1,
            ..super::util::ts("192.168.1.1/32")
        },
    );
    let mut ts_r = c.remote_ts.clone();
    ts_r.insert(
        0,
        crate::config::TrafficSelector {
            protocol: 1,
            ..super::util::ts("192.168.2.1/32")
        },
    );
    sa.outstanding = Some(Box::new(Outstanding {
        msg_id: 1,
        exchange: crate::wire::ExchangeType::IKE_AUTH,
        packet: Vec::new(),
        fragments: Vec::new(),
        rt: crate::timer::Retransmit::start(Instant::now(), &cfg.retransmit),
        pending: Pending::Auth(Some(Box::new(ChildReq {
            cfg: 0,
            cpu: None,
            seq: Some(1),
            spi_in: Spi(0xc000_0001),
            ni: Vec::new(),
            ke: None,
            ts_i,
            ts_r,
            transport: false,
            resource_notify: true,
            rekey: None,
        }))),
    }));
    let resp = pk
        .iter()
        .find(|p| p.0 == 'A' && p.2[18] == 35)
        .expect("auth response")
        .2
        .clone();
    let msg = Message::decode(&resp).expect("decode");
    let conns = crate::connections::Connections::from_list(&cfg.connections);
    let mut ctx = Ctx {
        cfg: &cfg,
        conns: &conns,
        crypto: &crypto,
        out: &mut out,
        wall: None,
    };
    sa.handle(&mut ctx, Instant::now(), b_addr, a_addr, &resp, &msg);
    let ev: Vec<Event> = out.events.drain(..).collect();
    assert!(
        sa.is_established(),
        "strongSwan's responder AUTH verified: {ev:?}"
    );
    let Some(Event::ChildSaReady(c)) = ev.get(1) else {
        panic!("{ev:?}")
    };
    let km = &k["child_keymat_ike_auth"];
    assert_eq!(
        &*c.keys_out.encr,
        &km[..20],
        "initiator sends with the i→r key"
    );
    assert_eq!(&*c.keys_in.encr, &km[20..40]);
    assert!(c.per_cpu, "strongSwan echoed SA_RESOURCE_INFO");
    assert_eq!(c.resource, None);
    assert_eq!(c.acquire_seq, Some(1));
}

/// strongSwan's real IKE_SA_INIT request (with FRAGMENTATION_SUPPORTED,
/// SIGNATURE_HASH_ALGORITHMS, REDIRECT_SUPPORTED, NAT-D) through the public API.
#[test]
fn endpoint_answers_strongswan_ike_sa_init() {
    let pk = packets();
    let req = pk
        .iter()
        .find(|p| p.0 == 'B' && p.2[18] == 34)
        .expect("init request")
        .2
        .clone();
    let mut ep = crate::endpoint::Endpoint::new(b_config(), CryptoProvider::seeded(4));
    let now = Instant::now();
    let from: SocketAddr = "10.0.0.1:500".parse().expect("addr");
    let to: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    ep.handle_datagram(now, from, to, &req);
    let t = ep.poll_transmit(now).expect("response");
    assert_eq!((t.remote, t.local), (from, to));
    let m = Message::decode(&t.data).expect("our response decodes");
    assert_eq!(
        m.header.spi_i,
        u64::from_be_bytes(req[..8].try_into().expect("8"))
    );
    assert_ne!(m.header.spi_r, 0);
    assert!(m.header.flags.response() && !m.header.flags.initiator());
    let sa = m.sa().expect("SA");
    let chosen = Proposal::from_wire(&sa.proposals[0]).expect("proposal");
    assert_eq!(
        chosen,
        Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("p")
    );
    assert_eq!(m.ke().expect("KE").group, KeId::CURVE25519);
    assert_eq!(m.ke().expect("KE").data.len(), 32);
    assert_eq!(m.nonce().expect("Nr").0.len(), 32);
    // NAT-D: strongSwan's hashes match our view (no NAT), ours are fresh.
    let src = m
        .notify(NotifyType::NAT_DETECTION_SOURCE_IP)
        .expect("NAT-D src");
    assert_eq!(
        src.data,
        crate::ike_sa::nat_hash(m.header.spi_i, m.header.spi_r, to)
    );
    assert!(ep.poll_transmit(now).is_none());
    // A retransmission of the request gets the identical response, no new SA.
    ep.handle_datagram(now, from, to, &req);
    assert_eq!(ep.poll_transmit(now).expect("resend").data, t.data);
    assert_eq!(ep.ike_sa_count(), 1);
}
