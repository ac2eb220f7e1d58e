//! Harnesses for the cargo-fuzz targets in `ike-core/fuzz` (quinn-proto's
//! `#[cfg(fuzzing)] pub mod fuzzing`): compiled only under `cfg(fuzzing)`
//! (set by cargo-fuzz) and in this crate's own tests, so the normal public
//! API does not grow.
//!
//! - [`sk`]: plaintext payload chains sealed with a real IKE SA's keys, so
//!   IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL handling run past the ICV
//!   check (RFC 7296 §3.14).
//! - [`sequence`]: lists of [`sequence::Action`]s (network faults, time,
//!   commands, kernel events) between two endpoints, with invariant checks.
//! - [`ke`]: X25519 with memoized results, so an input's cost is the engine's
//!   and not the same scalar multiplications again; [`cheap_ke`]: X25519's
//!   wire form without its arithmetic, for [`sequence`].

pub mod cheap_ke;
pub mod ke;
pub mod sequence;
pub mod sk;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use crate::config::{
    ChildConfig, ConnectionConfig, EndpointConfig, Identity, PerCpu, Psk, TrafficSelector,
};
use crate::endpoint::Endpoint;
use crate::proposal::Proposal;

/// One of the two endpoints: A initiates by default, B responds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Peer {
    /// 10.0.0.1, 192.168.1.0/24 and 192.168.11.0/24.
    A,
    /// 10.0.0.2, 192.168.2.0/24 and 192.168.12.0/24.
    B,
}

impl Peer {
    /// The other endpoint.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    fn addr(self) -> SocketAddr {
        match self {
            Self::A => SocketAddr::from(([10, 0, 0, 1], 500)),
            Self::B => SocketAddr::from(([10, 0, 0, 2], 500)),
        }
    }

    fn seed(self) -> u64 {
        match self {
            Self::A => 1,
            Self::B => 2,
        }
    }
}

/// Reqid of the RFC 9611 per-CPU child "net".
pub const NET_REQID: u32 = 1;
/// Reqid of the plain child "web".
pub const WEB_REQID: u32 = 2;
/// `per_cpu_max` of "net" on both sides.
pub const PER_CPU_MAX: u32 = 2;

fn subnet(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(a.into(), 24)
}

fn child(name: &str, reqid: u32, local: [u8; 4], remote: [u8; 4]) -> ChildConfig {
    let mut c = ChildConfig::new(name, reqid);
    c.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").expect("static proposal")];
    c.local_ts = vec![subnet(local)];
    c.remote_ts = vec![subnet(remote)];
    c
}

/// The configuration of `me`: PSK, aes128gcm16-prfsha256-x25519, a per-CPU
/// child "net" (cap [`PER_CPU_MAX`]) and a plain child "web", 4 CPUs.
pub fn config(me: Peer) -> EndpointConfig {
    let (l, r) = match me {
        Peer::A => (1, 2),
        Peer::B => (2, 1),
    };
    let fqdn = |p: Peer| {
        Identity::Fqdn(format!(
            "{}.lanes.test",
            if p == Peer::A { "a" } else { "b" }
        ))
    };
    let psk = Psk::new(b"lanes-test-psk-0a1b2c3d4e5f60718293".to_vec());
    let mut net = child("net", NET_REQID, [192, 168, l, 0], [192, 168, r, 0]);
    net.per_cpu = PerCpu::Yes;
    net.per_cpu_max = Some(PER_CPU_MAX);
    let web = child(
        "web",
        WEB_REQID,
        [192, 168, 10 + l, 0],
        [192, 168, 10 + r, 0],
    );
    let mut c = ConnectionConfig::new("net", me.addr(), fqdn(me), psk);
    c.remote = Some(me.other().addr());
    c.remote_id = Some(fqdn(me.other()));
    c.ike_proposals =
        vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("static proposal")];
    c.children = vec![net, web];
    EndpointConfig {
        connections: vec![c],
        local_cpus: 4,
        ..EndpointConfig::default()
    }
}

/// A fresh endpoint for `me` with its fixed seeded crypto provider, so every
/// run draws the same SPIs, nonces and key shares ([`ke::provider`]: the
/// real algorithms, X25519 memoized).
pub fn endpoint(me: Peer) -> Endpoint {
    Endpoint::new(config(me), ke::provider(me.seed()))
}
