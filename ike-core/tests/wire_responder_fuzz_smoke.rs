//! Deterministic, non-instrumented companion of
//! fuzz/fuzz_targets/responder.rs: a real initiator's
//! datagrams (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, …) are recorded once,
//! then replayed into fresh responder endpoints with one datagram mutated.
//! The engine must never panic; the unmodified replay must still establish
//! (so the test can fail if the harness stops reaching the engine).

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fns")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike_core::config::{ChildConfig, ConnectionConfig, EndpointConfig, Identity, PerCpu, Psk};
use ike_core::crypto::CryptoProvider;
use ike_core::{Endpoint, Event, KernelEvent, Proposal, TrafficSelector, Transmit};

const A: &str = "10.0.0.1:500";
const B: &str = "10.0.0.2:500";

fn child(local: &str, remote: &str) -> ChildConfig {
    let ts = |s: &str| {
        let (a, p) = s.split_once('/').unwrap();
        TrafficSelector::subnet(a.parse().unwrap(), p.parse().unwrap())
    };
    let mut c = ChildConfig::new("net", 1);
    c.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").unwrap()];
    c.local_ts = vec![ts(local)];
    c.remote_ts = vec![ts(remote)];
    c.per_cpu = PerCpu::Yes;
    c
}

fn config(
    local: &str,
    remote: &str,
    me: &str,
    peer: &str,
    lnet: &str,
    rnet: &str,
) -> EndpointConfig {
    let psk = Psk::new(b"lanes-test-psk-0a1b2c3d4e5f60718293".to_vec());
    let mut c = ConnectionConfig::new(
        "net",
        local.parse().unwrap(),
        Identity::Fqdn(me.into()),
        psk,
    );
    c.remote = Some(remote.parse().unwrap());
    c.remote_id = Some(Identity::Fqdn(peer.into()));
    c.ike_proposals = vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519").unwrap()];
    c.children = vec![child(lnet, rnet)];
    EndpointConfig {
        connections: vec![c],
        local_cpus: 4,
        ..EndpointConfig::default()
    }
}

fn responder() -> Endpoint {
    Endpoint::new(
        config(
            B,
            A,
            "b.lanes.test",
            "a.lanes.test",
            "192.168.2.0/24",
            "192.168.1.0/24",
        ),
        CryptoProvider::seeded(2),
    )
}

/// Drains a responder; returns whether an IKE SA came up.
fn drain(ep: &mut Endpoint, now: Instant) -> (Vec<Transmit>, bool) {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit(now) {
        out.push(t);
    }
    let mut up = false;
    while let Some(e) = ep.poll_event() {
        up |= matches!(e, Event::IkeSaUp { .. });
    }
    (out, up)
}

/// Runs a real handshake plus two per-CPU Child SAs and records what the
/// initiator sent: (remote, local as seen by B, datagram).
fn record(now: Instant) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let mut a = Endpoint::new(
        config(
            A,
            B,
            "a.lanes.test",
            "b.lanes.test",
            "192.168.1.0/24",
            "192.168.2.0/24",
        ),
        CryptoProvider::seeded(1),
    );
    let mut b = responder();
    let mut log = Vec::new();
    a.initiate(now, "net").unwrap();
    for round in 0..20 {
        if round == 4 {
            for cpu in [0, 1] {
                a.handle_kernel(now, acquire(cpu));
            }
        }
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now) {
            log.push((t.local, t.remote, t.data.clone()));
            b.handle_datagram(now, t.local, t.remote, &t.data);
            moved = true;
        }
        let (back, _) = drain(&mut b, now);
        for t in back {
            a.handle_datagram(now, t.local, t.remote, &t.data);
            moved = true;
        }
        while a.poll_event().is_some() {}
        if !moved && round > 4 {
            break;
        }
    }
    log
}

fn acquire(cpu: u32) -> KernelEvent {
    KernelEvent::Acquire {
        reqid: 1,
        cpu: Some(cpu),
        seq: cpu + 10,
        ike: None,
    }
}

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

#[test]
fn mutated_initiator_traffic_never_panics_the_responder() {
    let now = Instant::now();
    let log = record(now);
    // IKE_SA_INIT, IKE_AUTH and two per-CPU CREATE_CHILD_SA requests.
    assert!(log.len() >= 4, "recorded only {} datagrams", log.len());

    // Unmodified replay into a fresh responder with the same seed comes up.
    let mut b = responder();
    let mut up = false;
    for (remote, local, d) in &log {
        b.handle_datagram(now, *remote, *local, d);
        up |= drain(&mut b, now).1;
    }
    assert!(up, "replay no longer establishes an IKE SA");

    let mut rng = Rng(0xfeed_beef);
    let iterations = if cfg!(debug_assertions) { 100 } else { 2000 };
    let mut came_up = 0;
    for _ in 0..iterations {
        let mut b = responder();
        let mut up = false;
        let victim = rng.below(log.len());
        for (i, (remote, local, d)) in log.iter().enumerate() {
            let mut d = d.clone();
            if i == victim {
                let skip = if local.port() == 4500 { 4 } else { 0 };
                for _ in 0..=rng.below(3) {
                    let pos = skip + rng.below(d.len().saturating_sub(skip));
                    match rng.below(3) {
                        0 => d[pos] ^= 1 << rng.below(8),
                        1 => d.truncate(pos.max(1)),
                        _ => d[pos] = rng.next() as u8,
                    }
                }
            }
            b.handle_datagram(now, *remote, *local, &d);
            up |= drain(&mut b, now).1;
        }
        came_up += usize::from(up);
        b.handle_timeout(now + Duration::from_secs(3600));
        drain(&mut b, now + Duration::from_secs(3600));
    }
    // A mutated IKE_SA_INIT or IKE_AUTH keeps the SA down; a mutated later
    // request does not: both must happen, or the mutations miss the engine.
    assert!(came_up > 0, "no run came up");
    assert!(came_up < iterations, "every mutated run came up");
}

#[test]
fn random_datagrams_never_panic_the_responder() {
    let now = Instant::now();
    let mut rng = Rng(99);
    let mut b = responder();
    let remote: SocketAddr = A.parse().unwrap();
    let local: SocketAddr = B.parse().unwrap();
    for _ in 0..3000 {
        let len = rng.below(300);
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if d.len() >= 28 && rng.below(2) == 0 {
            d[17] = 0x20;
            d[18] = 34 + (rng.below(4) as u8);
            let n = u32::try_from(d.len()).unwrap();
            d[24..28].copy_from_slice(&n.to_be_bytes());
        }
        b.handle_datagram(now, remote, local, &d);
        let (sent, _) = drain(&mut b, now);
        assert!(sent.is_empty(), "answered a random datagram");
    }
    // Garbage left no half-open state behind, and the responder still
    // completes a real handshake afterwards.
    assert_eq!(b.ike_sa_count(), 0, "random datagrams created IKE SAs");
    let mut up = false;
    for (remote, local, d) in &record(now) {
        b.handle_datagram(now, *remote, *local, d);
        up |= drain(&mut b, now).1;
    }
    assert!(up, "the responder no longer establishes after random input");
}

/// The responder fuzz target's seed: strongSwan's initiator datagrams as
/// `[port selector][u16 length][datagram]` records.
const RESPONDER_SEED: &[u8] =
    include_bytes!("../fuzz/seeds/responder/strongswan-initiator-sequence.bin");

/// Splits a responder seed into (port, datagram) the way the fuzz target does.
fn records(mut rest: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while rest.len() >= 3 {
        let port = if rest[0] & 1 == 0 { 500 } else { 4500 };
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let (d, tail) = rest[3..].split_at(len);
        out.push((port, d));
        rest = tail;
    }
    out
}

#[test]
fn responder_seed_reaches_the_engine_and_is_answered() {
    let recs = records(RESPONDER_SEED);
    assert!(recs.len() >= 2, "seed holds {} records", recs.len());
    assert!(recs.iter().all(|(_, d)| !d.is_empty()), "empty record");
    let now = Instant::now();
    let mut b = responder();
    let mut answers = Vec::new();
    for (port, d) in &recs {
        let remote = SocketAddr::from(([10, 0, 0, 1], *port));
        let local = SocketAddr::from(([10, 0, 0, 2], *port));
        b.handle_datagram(now, remote, local, d);
        answers.push(drain(&mut b, now).0);
    }
    // The first record is strongSwan's IKE_SA_INIT request: it gets an
    // IKE_SA_INIT response (RFC 7296 §1.2).
    let first = answers.first().expect("answers");
    assert_eq!(first.len(), 1, "IKE_SA_INIT answered {} times", first.len());
    let m = ike_core::wire::Message::decode(&first[0].data).expect("the answer decodes");
    assert_eq!(m.header.exchange, ike_core::wire::ExchangeType::IKE_SA_INIT);
    assert!(m.header.flags.response(), "{:?}", m.header.flags);
}
