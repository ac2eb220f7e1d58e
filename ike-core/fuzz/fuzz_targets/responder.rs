//! Responder fuzz target: arbitrary datagrams into a
//! responder `Endpoint` configured like the strongSwan test peer. The input
//! is a sequence of `[port selector][u16 length][datagram]` records; the
//! engine must never panic, whatever the order or content.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike_core::config::{ChildConfig, ConnectionConfig, EndpointConfig, Identity, PerCpu, Psk};
use ike_core::{Endpoint, Proposal, TrafficSelector};
use libfuzzer_sys::fuzz_target;

fn responder() -> Endpoint {
    let net = |a: [u8; 4]| TrafficSelector::subnet(a.into(), 24);
    let mut child = ChildConfig::new("net", 1);
    child.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").expect("esp")];
    child.local_ts = vec![net([192, 168, 2, 0])];
    child.remote_ts = vec![net([192, 168, 1, 0])];
    child.per_cpu = PerCpu::Yes;
    let psk = Psk::new(b"lanes-test-psk-0a1b2c3d4e5f60718293".to_vec());
    let local: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    let mut c = ConnectionConfig::new("net", local, Identity::Fqdn("b.lanes.test".into()), psk);
    c.remote = Some("10.0.0.1:500".parse().expect("addr"));
    c.remote_id = Some(Identity::Fqdn("a.lanes.test".into()));
    c.ike_proposals = vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("ike")];
    c.children = vec![child];
    let cfg = EndpointConfig { connections: vec![c], local_cpus: 4, ..EndpointConfig::default() };
    Endpoint::new(cfg, ike_core::fuzzing::ke::provider(2))
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut ep = responder();
    let mut rest = data;
    while rest.len() >= 3 {
        let port = if rest[0] & 1 == 0 { 500 } else { 4500 };
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let (d, tail) = rest[3..].split_at(len);
        rest = tail;
        let remote = SocketAddr::from(([10, 0, 0, 1], port));
        let local = SocketAddr::from(([10, 0, 0, 2], port));
        ep.handle_datagram(now, remote, local, d);
        while ep.poll_transmit(now).is_some() {}
        while ep.poll_event().is_some() {}
    }
    let later = now + Duration::from_secs(3600);
    ep.handle_timeout(later);
    while ep.poll_transmit(later).is_some() {}
});
