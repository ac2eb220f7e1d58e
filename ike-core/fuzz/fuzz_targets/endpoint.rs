//! Arbitrary datagrams fed to a responder `Endpoint` (ports 500 and 4500), with
//! timers advanced between them. Nothing a peer sends may panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike_core::{
    ChildConfig, ConnectionConfig, Endpoint, EndpointConfig, Identity, Proposal, Psk,
    TrafficSelector,
};
use libfuzzer_sys::fuzz_target;

fn responder() -> Endpoint {
    let mut c = ConnectionConfig::new(
        "net",
        "10.0.0.2:500".parse().expect("addr"),
        Identity::Fqdn("b.lanes.test".into()),
        Psk::new(b"fuzz".to_vec()),
    );
    c.ike_proposals = vec![
        Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("ike"),
        Proposal::parse_ike("aes256-sha256-ecp256-modp2048").expect("ike"),
    ];
    let mut ch = ChildConfig::new("net", 1);
    ch.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").expect("esp")];
    ch.local_ts = vec![TrafficSelector::subnet("0.0.0.0".parse().expect("ip"), 0)];
    ch.remote_ts = ch.local_ts.clone();
    c.children = vec![ch];
    Endpoint::new(
        EndpointConfig {
            connections: vec![c],
            cookie_threshold: Some(64),
            ..EndpointConfig::default()
        },
        ike_core::fuzzing::ke::provider(1),
    )
}

fuzz_target!(|data: &[u8]| {
    let mut ep = responder();
    let now = Instant::now();
    let remote: SocketAddr = "10.0.0.1:500".parse().expect("addr");
    // The input is a sequence of [port selector, len_hi, len_lo, bytes...] records.
    let mut rest = data;
    let mut t = now;
    while rest.len() >= 3 {
        let port = if rest[0] & 1 == 0 { 500 } else { 4500 };
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let d = &rest[3..3 + len];
        rest = &rest[3 + len..];
        ep.handle_datagram(
            t,
            remote,
            SocketAddr::new("10.0.0.2".parse().expect("ip"), port),
            d,
        );
        while ep.poll_transmit(t).is_some() {}
        while ep.poll_event().is_some() {}
        t += Duration::from_secs(5);
        if ep.poll_timeout().is_some_and(|x| x <= t) {
            ep.handle_timeout(t);
        }
    }
});
