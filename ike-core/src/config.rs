//! Plain-data configuration for connections (IKE SAs) and their children (Child SAs).
//!
//! Nothing here does I/O; the daemon builds these from its TOML file.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::ids::CpuId;
use crate::proposal::Proposal;
use crate::timer::RetransmitConfig;
use crate::wire::enums::IdType;
use crate::wire::payload::{self as wire, Id};

/// Endpoint-wide settings.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Connections the endpoint starts with (more come and go with
    /// [`Endpoint::add_connection`](crate::Endpoint::add_connection) and
    /// [`Endpoint::remove_connection`](crate::Endpoint::remove_connection)).
    pub connections: Vec<ConnectionConfig>,
    /// Requester retransmission policy (strongSwan defaults).
    pub retransmit: RetransmitConfig,
    /// Number of local CPUs; default cap and CPU range for RFC 9611 groups.
    pub local_cpus: u32,
    /// Half-open IKE SAs (in all) from which on the responder demands a COOKIE
    /// (RFC 7296 §2.6). `Some(0)` always demands one; `None` never does.
    pub cookie_threshold: Option<usize>,
    /// The other limits on unauthenticated peers.
    pub dos: DosLimits,
    /// Interval of NAT keepalives (1-byte 0xFF) when behind a NAT (RFC 3948 §4).
    pub nat_keepalive: Duration,
    /// Our IKE port (RFC 7296 §2: 500); initiations start from it.
    pub ike_port: u16,
    /// Our NAT-T port (RFC 3948 §2.2: 4500): datagrams on it carry the non-ESP
    /// marker, and IKE SAs move to it when a NAT is detected (RFC 7296 §2.23).
    pub nat_port: u16,
    /// Hand the responder's IKE_SA_INIT key exchanges out as [`crate::KeJob`]s
    /// (for a worker pool) instead of computing them inside `handle_datagram`.
    pub defer_ke: bool,
    /// Range of inbound ESP SPIs we choose from (the kernel's ALLOCSPI default
    /// range, 0xc0000000..=0xcfffffff); no SPI in use is chosen twice.
    pub esp_spis: RangeInclusive<u32>,
    /// Largest IP datagram (IP and UDP headers included) an encrypted IKE
    /// message is sent in before it goes as RFC 7383 fragments (strongSwan
    /// `charon.fragment_size`, 1280; 0: 576 for IPv4, 1280 for IPv6).
    pub fragment_size: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            retransmit: RetransmitConfig::default(),
            local_cpus: 1,
            cookie_threshold: Some(30),
            dos: DosLimits::default(),
            nat_keepalive: Duration::from_secs(20),
            ike_port: 500,
            nat_port: crate::wire::natt::NATT_PORT,
            esp_spis: 0xc000_0000..=0xcfff_ffff,
            defer_ke: false,
            fragment_size: 1280,
        }
    }
}

/// Limits on what unauthenticated peers can make the responder keep, with
/// strongSwan's defaults (`charon.cookie_threshold_ip`, `block_threshold`,
/// `init_limit_half_open`, `half_open_timeout`, `max_packet`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DosLimits {
    /// Half-open SAs from one address from which on it must return a COOKIE
    /// (0: never by address).
    pub cookie_threshold_ip: usize,
    /// Half-open SAs from one address beyond which its IKE_SA_INITs are dropped
    /// (0: no limit).
    pub block_threshold: usize,
    /// Half-open SAs in all beyond which new IKE_SA_INITs are dropped (0: no limit).
    pub max_half_open: usize,
    /// How long a responder SA may wait for IKE_AUTH.
    pub half_open_timeout: Duration,
    /// Largest IKE datagram accepted (bytes, without the non-ESP marker).
    pub max_packet: usize,
    /// How often the COOKIE secret is replaced (cookies of the previous secret
    /// stay valid for one more period).
    pub cookie_secret_lifetime: Duration,
    /// Most fragments one RFC 7383 message may announce (Total Fragments);
    /// the reassembled message is also bounded by `max_packet`.
    pub max_fragments: u16,
    /// How long an incomplete set of fragments is kept after its first one.
    pub fragment_timeout: Duration,
}

impl Default for DosLimits {
    fn default() -> Self {
        Self {
            cookie_threshold_ip: 3,
            block_threshold: 5,
            max_half_open: 0,
            half_open_timeout: Duration::from_secs(30),
            max_packet: 10_000,
            cookie_secret_lifetime: Duration::from_secs(120),
            max_fragments: 64,
            fragment_timeout: Duration::from_secs(30),
        }
    }
}

/// One IKE connection: peers, identities, PSK, IKE proposals and children.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Name used in events and logs.
    pub name: String,
    /// Local address; a port of 0 means 500.
    pub local: SocketAddr,
    /// Remote address; `None` accepts any peer (responder only).
    pub remote: Option<SocketAddr>,
    /// Our identity (IDi or IDr).
    pub local_id: Identity,
    /// The peer's expected identity; `None` accepts any identity whose PSK matches.
    pub remote_id: Option<Identity>,
    /// Pre-shared key for AUTH method 2 (RFC 7296 §2.15).
    pub psk: Psk,
    /// IKE proposals, most preferred first.
    pub ike_proposals: Vec<Proposal>,
    /// Child SA configurations.
    pub children: Vec<ChildConfig>,
    /// IKE SA rekey interval (strongSwan `rekey_time`, default 4 h); zero disables.
    pub rekey_time: Duration,
    /// Random amount subtracted from rekey times (`rand_time`).
    pub rekey_jitter: Duration,
    /// Liveness check interval when idle (`dpd_delay`); zero disables.
    pub dpd_delay: Duration,
    /// How long a liveness check may stay unanswered before the peer is
    /// declared dead (`dpd_timeout`); zero: the retransmission budget.
    pub dpd_timeout: Duration,
    /// Always use UDP encapsulation (port 4500) even without NAT.
    pub force_encap: bool,
    /// Send INITIAL_CONTACT in IKE_AUTH (RFC 7296 §2.4).
    pub initial_contact: bool,
    /// Cap on live Child SAs (every kind) per IKE SA: beyond it a peer's
    /// CREATE_CHILD_SA gets NO_ADDITIONAL_SAS (RFC 7296 §1.3) and we request
    /// none; rekeys replace an SA and are not counted. `None`: see
    /// [`ConnectionConfig::child_sa_limit`].
    pub max_child_sas: Option<u32>,
    /// Our certificate and key (swanctl `local.auth = pubkey`); `None`: PSK.
    pub local_cert: Option<Arc<crate::pki::LocalCert>>,
    /// CAs and CRLs for the peer's certificate (swanctl `remote.auth =
    /// pubkey`); `None`: the peer authenticates with the PSK.
    pub remote_ca: Option<Arc<crate::pki::TrustStore>>,
    /// IKE fragmentation (RFC 7383), as swanctl's `fragmentation`.
    pub fragmentation: Fragmentation,
}

/// swanctl's `fragmentation` for IKEv2 (RFC 7383). Fragments a peer sends
/// are reassembled whatever this says, as strongSwan does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fragmentation {
    /// Announce IKEV2_FRAGMENTATION_SUPPORTED and fragment oversized
    /// encrypted messages if the peer announced it too.
    #[default]
    Yes,
    /// Announce support, but never send fragments.
    Accept,
    /// Announce support and fragment oversized encrypted messages even if
    /// the peer did not announce it (IKE_SA_INIT is never fragmented).
    Force,
    /// Do not announce support; never send fragments.
    No,
}

impl ConnectionConfig {
    /// A connection with strongSwan-like defaults.
    pub fn new(name: impl Into<String>, local: SocketAddr, local_id: Identity, psk: Psk) -> Self {
        Self {
            name: name.into(),
            local,
            remote: None,
            local_id,
            remote_id: None,
            psk,
            ike_proposals: Vec::new(),
            children: Vec::new(),
            rekey_time: Duration::from_secs(4 * 3600),
            rekey_jitter: Duration::from_secs(0),
            dpd_delay: Duration::ZERO,
            dpd_timeout: Duration::ZERO,
            force_encap: false,
            initial_contact: true,
            max_child_sas: None,
            fragmentation: Fragmentation::Yes,
            local_cert: None,
            remote_ca: None,
        }
    }

    /// Slack per child config in the default [`Self::max_child_sas`]: narrowed
    /// selectors and simultaneous creations may give a few more SAs of one config.
    pub const CHILD_SA_SLACK: u32 = 4;

    /// The effective [`Self::max_child_sas`]. The default is, per child config,
    /// its per-CPU cap (`per_cpu_max`, else `local_cpus`) plus the fallback for
    /// an RFC 9611 group, or 1 otherwise, plus [`Self::CHILD_SA_SLACK`].
    pub fn child_sa_limit(&self, local_cpus: u32) -> u32 {
        self.max_child_sas.unwrap_or_else(|| {
            self.children
                .iter()
                .map(|c| {
                    let own = if c.is_per_cpu() {
                        c.per_cpu_max.unwrap_or(local_cpus).saturating_add(1)
                    } else {
                        1
                    };
                    own.saturating_add(Self::CHILD_SA_SLACK)
                })
                .fold(0u32, u32::saturating_add)
        })
    }
}

/// A pre-shared key. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct Psk(pub Zeroizing<Vec<u8>>);

impl Psk {
    /// Wraps the given secret.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }
}

impl core::fmt::Debug for Psk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// An IKE identity (RFC 7296 §3.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Addr(IpAddr),
    /// ID_FQDN.
    Fqdn(String),
    /// ID_RFC822_ADDR.
    Email(String),
    /// ID_KEY_ID.
    KeyId(Vec<u8>),
    /// Any other type, raw (type, data).
    Other(u8, Vec<u8>),
}

/// A traffic selector range (RFC 7296 §3.13.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol, 0 = any.
    pub protocol: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start: IpAddr,
    /// Last address (same family as `start`).
    pub end: IpAddr,
}

impl TrafficSelector {
    /// Any protocol and port between `start` and `end`.
    pub fn range(start: IpAddr, end: IpAddr) -> Self {
        Self {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }
    }

    /// One address (/32 or /128), any protocol and port.
    pub fn host(addr: IpAddr) -> Self {
        Self::range(addr, addr)
    }

    /// A CIDR subnet, any protocol and port.
    pub fn subnet(addr: IpAddr, prefix: u8) -> Self {
        match addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix.min(32)))
                    .unwrap_or(0);
                Self::range(
                    IpAddr::V4((bits & mask).into()),
                    IpAddr::V4((bits | !mask).into()),
                )
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix.min(128)))
                    .unwrap_or(0);
                Self::range(
                    IpAddr::V6((bits & mask).into()),
                    IpAddr::V6((bits | !mask).into()),
                )
            }
        }
    }

    /// Whether `other` lies entirely within `self`.
    pub fn contains(&self, other: &Self) -> bool {
        self.intersect(other) == Some(*other)
    }

    /// Intersection of two selectors, if any (RFC 7296 §2.9 narrowing).
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let protocol = match (self.protocol, other.protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        if start_port > end_port {
            return None;
        }
        let (start, end) = match (self.start, self.end, other.start, other.end) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(c), IpAddr::V4(d)) => {
                (IpAddr::V4(a.max(c)), IpAddr::V4(b.min(d)))
            }
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(c), IpAddr::V6(d)) => {
                (IpAddr::V6(a.max(c)), IpAddr::V6(b.min(d)))
            }
            _ => return None,
        };
        if start > end {
            return None;
        }
        Some(Self {
            protocol,
            start_port,
            end_port,
            start,
            end,
        })
    }
}

impl TrafficSelector {
    /// As a TSi/TSr selector (RFC 7296 §3.13.1).
    pub fn to_wire(&self) -> wire::TrafficSelector {
        fn r<A>(ts: &TrafficSelector, start: A, end: A) -> wire::TsRange<A> {
            wire::TsRange {
                ip_proto: ts.protocol,
                start_port: ts.start_port,
                end_port: ts.end_port,
                start,
                end,
            }
        }
        match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => wire::TrafficSelector::Ipv4(r(self, s, e)),
            (IpAddr::V6(s), IpAddr::V6(e)) => wire::TrafficSelector::Ipv6(r(self, s, e)),
            (IpAddr::V4(s), IpAddr::V6(_)) => wire::TrafficSelector::Ipv4(r(self, s, s)),
            (IpAddr::V6(s), IpAddr::V4(_)) => wire::TrafficSelector::Ipv6(r(self, s, s)),
        }
    }

    /// From a received selector; `None` for types other than IPv4/IPv6 ranges.
    pub fn from_wire(ts: &wire::TrafficSelector) -> Option<Self> {
        Some(match ts {
            wire::TrafficSelector::Ipv4(r) => Self {
                protocol: r.ip_proto,
                start_port: r.start_port,
                end_port: r.end_port,
                start: r.start.into(),
                end: r.end.into(),
            },
            wire::TrafficSelector::Ipv6(r) => Self {
                protocol: r.ip_proto,
                start_port: r.start_port,
                end_port: r.end_port,
                start: r.start.into(),
                end: r.end.into(),
            },
            wire::TrafficSelector::Other { .. } => return None,
        })
    }
}

/// Narrows `offered` (the initiator's selectors for one side) to `ours`
/// (RFC 7296 §2.9): every non-empty intersection, in the order offered, without
/// selectors contained in another one (strongSwan's trap acquires offer the
/// packet's host selector first, then the subnet: the answer is the subnet).
pub fn narrow(ours: &[TrafficSelector], offered: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for o in offered {
        for m in ours {
            if let Some(x) = m.intersect(o)
                && !out.contains(&x)
            {
                out.push(x);
            }
        }
    }
    let all = out.clone();
    out.retain(|x| !all.iter().any(|y| y != x && y.contains(x)));
    out
}

impl Identity {
    /// As an ID payload (RFC 7296 §3.5).
    pub fn to_wire(&self) -> Id {
        let (ty, data) = match self {
            Self::Addr(IpAddr::V4(a)) => (IdType::IPV4_ADDR, a.octets().to_vec()),
            Self::Addr(IpAddr::V6(a)) => (IdType::IPV6_ADDR, a.octets().to_vec()),
            Self::Fqdn(s) => (IdType::FQDN, s.as_bytes().to_vec()),
            Self::Email(s) => (IdType::RFC822_ADDR, s.as_bytes().to_vec()),
            Self::KeyId(k) => (IdType::KEY_ID, k.clone()),
            Self::Other(t, d) => (IdType(*t), d.clone()),
        };
        Id { ty, data }
    }

    /// From a received ID payload.
    pub fn from_wire(id: &Id) -> Self {
        let d = &id.data;
        match id.ty {
            IdType::IPV4_ADDR if d.len() == 4 => Self::Addr(IpAddr::from([d[0], d[1], d[2], d[3]])),
            IdType::IPV6_ADDR if d.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(d);
                Self::Addr(IpAddr::from(a))
            }
            IdType::FQDN => match String::from_utf8(d.clone()) {
                Ok(s) => Self::Fqdn(s),
                Err(_) => Self::Other(id.ty.0, d.clone()),
            },
            IdType::RFC822_ADDR => match String::from_utf8(d.clone()) {
                Ok(s) => Self::Email(s),
                Err(_) => Self::Other(id.ty.0, d.clone()),
            },
            IdType::KEY_ID => Self::KeyId(d.clone()),
            t => Self::Other(t.0, d.clone()),
        }
    }
}

/// IPsec mode of a Child SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Tunnel mode (RFC 4301 default).
    #[default]
    Tunnel,
    /// Transport mode, negotiated with USE_TRANSPORT_MODE (RFC 7296 §1.3.1).
    Transport,
}

/// strongSwan's `per_cpu_sas` option for a child (SPEC.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PerCpu {
    /// One Child SA (no RFC 9611).
    #[default]
    No,
    /// An RFC 9611 group: one fallback SA plus one SA per CPU.
    Yes,
    /// Like `Yes`, and per-CPU outbound SAs get a random UDP source port
    /// (`0xc000 | random`) when UDP-encapsulated, so the peer's RSS spreads them.
    Encap,
}

/// How an RFC 9611 group is filled.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum PerCpuMode {
    /// One SA per CPU on that CPU's kernel acquire (strongSwan's way).
    #[default]
    OnDemand,
    /// After the fallback SA is up, create SAs for these CPUs, one exchange at a time.
    Precreate(Vec<CpuId>),
}

/// One Child SA configuration.
#[derive(Clone, Debug)]
pub struct ChildConfig {
    /// Name used in events and logs.
    pub name: String,
    /// Kernel reqid tying policies, acquires and SAs of this child together.
    pub reqid: u32,
    /// ESP proposals, most preferred first.
    pub esp_proposals: Vec<Proposal>,
    /// Local traffic selectors (TSi when initiating). Empty is strongSwan's
    /// `dynamic`: the IKE SA's own address at negotiation time (RFC 7296 §2.9).
    pub local_ts: Vec<TrafficSelector>,
    /// Remote traffic selectors (TSr when initiating). Empty is `dynamic`: the
    /// peer's address of the IKE SA, so a responder accepting any peer narrows
    /// each one to its own address, never to all traffic.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// Soft lifetime: rekey after this long (strongSwan `rekey_time`, default 1 h).
    pub rekey_time: Duration,
    /// Hard lifetime: the kernel expires the SA (strongSwan `life_time`).
    pub life_time: Duration,
    /// Random amount subtracted from `rekey_time`.
    pub rekey_jitter: Duration,
    /// Byte and packet limits, enforced by the kernel.
    pub volume: crate::limits::VolumeLimits,
    /// RFC 9611 per-CPU group.
    pub per_cpu: PerCpu,
    /// How the group is filled.
    pub per_cpu_mode: PerCpuMode,
    /// Cap on the group's per-CPU SAs, whichever side asks for them (RFC 9611
    /// §4.2): a peer's request beyond it gets TS_MAX_QUEUE, and our own acquires
    /// stop there (the group is reported full). `None` uses
    /// [`EndpointConfig::local_cpus`].
    pub per_cpu_max: Option<u32>,
    /// Cap on kernel policies per direction one Child SA may need once its
    /// selectors are split into prefix/port blocks ([`crate::selector`]): beyond
    /// it the responder answers TS_UNACCEPTABLE and the initiator deletes the SA.
    pub max_policies: u32,
    /// What follows when the peer deletes one of its Child SAs on its own (not
    /// to end a rekey): strongSwan's `close_action` (charon child_delete.c).
    /// `Restart` creates it again at once on the same IKE SA, for the same
    /// CPU; `Trap` and `None` are reported in
    /// [`Event::ChildSaDeleted`](crate::Event::ChildSaDeleted).
    pub close_action: crate::recovery::Action,
}

impl ChildConfig {
    /// A tunnel-mode child with strongSwan's default lifetimes.
    pub fn new(name: impl Into<String>, reqid: u32) -> Self {
        Self {
            name: name.into(),
            reqid,
            esp_proposals: Vec::new(),
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            mode: Mode::Tunnel,
            rekey_time: Duration::from_secs(3600),
            life_time: Duration::from_secs(3960),
            rekey_jitter: Duration::from_secs(360),
            volume: crate::limits::VolumeLimits::default(),
            per_cpu: PerCpu::No,
            per_cpu_mode: PerCpuMode::OnDemand,
            per_cpu_max: None,
            max_policies: Self::DEFAULT_MAX_POLICIES,
            close_action: crate::recovery::Action::None,
        }
    }

    /// Default of [`Self::max_policies`].
    pub const DEFAULT_MAX_POLICIES: u32 = 64;

    /// (local, remote) selectors of an IKE SA between `local` and `remote`, with
    /// an empty (`dynamic`) list replaced by that address.
    pub fn selectors(
        &self,
        local: IpAddr,
        remote: IpAddr,
    ) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
        let resolve = |list: &[TrafficSelector], addr: IpAddr| {
            if list.is_empty() {
                vec![TrafficSelector::host(addr)]
            } else {
                list.to_vec()
            }
        };
        (
            resolve(&self.local_ts, local),
            resolve(&self.remote_ts, remote),
        )
    }

    /// Whether this child negotiates an RFC 9611 group.
    pub fn is_per_cpu(&self) -> bool {
        self.per_cpu != PerCpu::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_and_narrowing() {
        let a = TrafficSelector::subnet("192.168.1.77".parse().unwrap(), 24);
        assert_eq!(a.start, "192.168.1.0".parse::<IpAddr>().unwrap());
        assert_eq!(a.end, "192.168.1.255".parse::<IpAddr>().unwrap());
        let host = TrafficSelector::subnet("192.168.1.5".parse().unwrap(), 32);
        assert_eq!(a.intersect(&host), Some(host));
        let other = TrafficSelector::subnet("10.0.0.0".parse().unwrap(), 8);
        assert_eq!(a.intersect(&other), None);
        let v6 = TrafficSelector::subnet("fd00::".parse().unwrap(), 64);
        assert_eq!(a.intersect(&v6), None);
        assert_eq!(
            v6.end,
            "fd00::ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap()
        );
        let host = TrafficSelector {
            protocol: 1,
            ..TrafficSelector::subnet("192.168.1.1".parse().unwrap(), 32)
        };
        assert_eq!(
            narrow(&[a], &[host, a]),
            vec![a],
            "the host hint is inside the subnet"
        );
        assert_eq!(
            narrow(&[host], &[a]),
            vec![host],
            "narrowed to our smaller range"
        );
        let all = TrafficSelector::subnet("0.0.0.0".parse().unwrap(), 0);
        assert_eq!(all.end, "255.255.255.255".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn psk_debug_redacts() {
        let p = Psk::new(b"secret".to_vec());
        assert!(!format!("{p:?}").contains("secret"));
    }
}
