//! Pair harness (after quinn-proto's `tests/util.rs`): two endpoints, simulated
//! time, a lossy/reordering/duplicating network and a seeded crypto provider.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::{
    ChildConfig, ConnectionConfig, EndpointConfig, Identity, Psk, TrafficSelector,
};
use crate::crypto::CryptoProvider;
use crate::endpoint::{Endpoint, KernelEvent};
use crate::event::{Event, Transmit};
use crate::proposal::Proposal;

/// Which endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    A,
    B,
}

/// A small deterministic generator for network decisions (xorshift64*).
pub(crate) struct NetRng(u64);

impl NetRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

pub(crate) type Filter = Box<dyn FnMut(Side, &mut Transmit) -> bool>;

/// Two endpoints connected by a simulated network.
pub(crate) struct Pair {
    pub(crate) a: Endpoint,
    pub(crate) b: Endpoint,
    pub(crate) a_addr: SocketAddr,
    pub(crate) b_addr: SocketAddr,
    pub(crate) time: Instant,
    pub(crate) latency: Duration,
    pub(crate) loss: f64,
    pub(crate) dup: f64,
    pub(crate) reorder: f64,
    /// If set, A is behind a NAT: B sees A's packets from this address.
    pub(crate) nat: Option<SocketAddr>,
    /// Sees (and may modify) every packet; returning false drops it.
    pub(crate) filter: Option<Filter>,
    pub(crate) rng: NetRng,
    in_flight: VecDeque<(Instant, Side, Transmit)>,
    pub(crate) a_events: Vec<Event>,
    pub(crate) b_events: Vec<Event>,
    /// Every datagram delivered: (sender, transmit as sent).
    pub(crate) log: Vec<(Side, Transmit)>,
}

pub(crate) fn ts(s: &str) -> TrafficSelector {
    let (a, p) = s.split_once('/').expect("cidr");
    TrafficSelector::subnet(a.parse().expect("addr"), p.parse().expect("prefix"))
}

pub(crate) fn child(name: &str, reqid: u32, local: &str, remote: &str, esp: &str) -> ChildConfig {
    let mut c = ChildConfig::new(name, reqid);
    c.esp_proposals = vec![Proposal::parse_esp(esp).expect("esp proposal")];
    c.local_ts = vec![ts(local)];
    c.remote_ts = vec![ts(remote)];
    c
}

/// strongSwan-like defaults of the test trace: A=10.0.0.1 (192.168.1.0/24),
/// B=10.0.0.2 (192.168.2.0/24), PSK, aes128gcm16-prfsha256-x25519 / aes128gcm16.
pub(crate) fn configs() -> (EndpointConfig, EndpointConfig) {
    let a_addr: SocketAddr = "10.0.0.1:500".parse().expect("addr");
    let b_addr: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    let psk = Psk::new(b"lanes-test-psk-0a1b2c3d4e5f60718293".to_vec());
    let ike = vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("ike")];
    let mut a = ConnectionConfig::new(
        "net",
        a_addr,
        Identity::Fqdn("a.lanes.test".into()),
        psk.clone(),
    );
    a.remote = Some(b_addr);
    a.remote_id = Some(Identity::Fqdn("b.lanes.test".into()));
    a.ike_proposals = ike.clone();
    a.children = vec![child(
        "net",
        1,
        "192.168.1.0/24",
        "192.168.2.0/24",
        "aes128gcm16",
    )];
    let mut b = ConnectionConfig::new("net", b_addr, Identity::Fqdn("b.lanes.test".into()), psk);
    b.remote = Some(a_addr);
    b.remote_id = Some(Identity::Fqdn("a.lanes.test".into()));
    b.ike_proposals = ike;
    b.children = vec![child(
        "net",
        1,
        "192.168.2.0/24",
        "192.168.1.0/24",
        "aes128gcm16",
    )];
    let ea = EndpointConfig {
        connections: vec![a],
        local_cpus: 4,
        ..EndpointConfig::default()
    };
    let eb = EndpointConfig {
        connections: vec![b],
        local_cpus: 4,
        ..EndpointConfig::default()
    };
    (ea, eb)
}

impl Pair {
    pub(crate) fn new(a: EndpointConfig, b: EndpointConfig) -> Self {
        Self::with_seed(a, b, 1)
    }

    pub(crate) fn with_seed(a: EndpointConfig, b: EndpointConfig, seed: u64) -> Self {
        let a_addr = a.connections[0].local;
        let b_addr = b.connections[0].local;
        Self {
            a: Endpoint::new(a, CryptoProvider::seeded(seed)),
            b: Endpoint::new(b, CryptoProvider::seeded(seed.wrapping_add(1000))),
            a_addr,
            b_addr,
            time: Instant::now(),
            latency: Duration::from_millis(10),
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            nat: None,
            filter: None,
            rng: NetRng::new(seed.wrapping_mul(7919)),
            in_flight: VecDeque::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            log: Vec::new(),
        }
    }

    pub(crate) fn ep(&mut self, s: Side) -> &mut Endpoint {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Moves transmits into the network and events into the logs.
    fn collect(&mut self) {
        for side in [Side::A, Side::B] {
            let now = self.time;
            while let Some(mut t) = self.ep(side).poll_transmit(now) {
                if let Some(f) = self.filter.as_mut()
                    && !f(side, &mut t)
                {
                    continue;
                }
                if self.rng.chance(self.loss) {
                    continue;
                }
                let mut at = now + self.latency;
                if self.rng.chance(self.reorder) {
                    at += Duration::from_millis(self.rng.next() % 50);
                }
                if self.rng.chance(self.dup) {
                    self.in_flight
                        .push_back((at + Duration::from_millis(1), side, t.clone()));
                }
                self.in_flight.push_back((at, side, t));
            }
            // A deferred key exchange runs right away, as on an idle pool.
            while let Some(job) = self.ep(side).poll_ke_job() {
                let res = job.run(&CryptoProvider::seeded(99));
                self.ep(side).handle_ke_result(now, res);
            }
            while let Some(e) = self.ep(side).poll_event() {
                match side {
                    Side::A => self.a_events.push(e),
                    Side::B => self.b_events.push(e),
                }
            }
        }
    }

    fn deliver(&mut self, from: Side, t: Transmit) {
        self.log.push((from, t.clone()));
        let now = self.time;
        match from {
            Side::A => {
                // Through the NAT (if any): B sees the mapped source.
                let src = match self.nat {
                    Some(n) => SocketAddr::new(
                        n.ip(),
                        if t.local.port() == 4500 {
                            n.port() + 1
                        } else {
                            n.port()
                        },
                    ),
                    None => t.local,
                };
                if t.remote.ip() == self.b_addr.ip() {
                    self.b.handle_datagram(now, src, t.remote, &t.data);
                }
            }
            Side::B => {
                let dst = match self.nat {
                    Some(n) if t.remote.ip() == n.ip() => {
                        let port = if t.remote.port() == n.port() + 1 {
                            4500
                        } else {
                            self.a_addr.port()
                        };
                        SocketAddr::new(self.a_addr.ip(), port)
                    }
                    _ => t.remote,
                };
                if dst.ip() == self.a_addr.ip() {
                    self.a.handle_datagram(now, t.local, dst, &t.data);
                }
            }
        }
    }

    /// One step: deliver the earliest packet or fire the earliest timer.
    /// Returns false if nothing is scheduled.
    pub(crate) fn step(&mut self) -> bool {
        self.collect();
        let pkt = self.in_flight.iter().map(|(t, _, _)| *t).min();
        let ta = self.a.poll_timeout();
        let tb = self.b.poll_timeout();
        let next = [pkt, ta, tb].into_iter().flatten().min();
        let Some(next) = next else {
            return false;
        };
        if next > self.time {
            self.time = next;
        }
        if pkt == Some(next) {
            let i = self
                .in_flight
                .iter()
                .position(|(t, _, _)| *t == next)
                .expect("packet");
            let (_, from, t) = self.in_flight.remove(i).expect("packet");
            self.deliver(from, t);
        } else {
            let now = self.time;
            if ta.is_some_and(|t| t <= now) {
                self.a.handle_timeout(now);
            }
            if tb.is_some_and(|t| t <= now) {
                self.b.handle_timeout(now);
            }
        }
        self.collect();
        true
    }

    /// Runs until the network is idle and no timer fires within 200 s
    /// (rekey lifetimes in tests are longer unless a test shortens them).
    pub(crate) fn drive(&mut self) {
        for _ in 0..100_000 {
            self.collect();
            let horizon = self.time + Duration::from_secs(200);
            let soon = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .any(|t| t <= horizon);
            if self.in_flight.is_empty() && !soon {
                return;
            }
            if !self.step() {
                return;
            }
        }
        panic!("drive did not settle");
    }

    /// Runs for `d` of simulated time.
    pub(crate) fn drive_for(&mut self, d: Duration) {
        let end = self.time + d;
        for _ in 0..1_000_000 {
            self.collect();
            let pkt = self.in_flight.iter().map(|(t, _, _)| *t).min();
            let next = [pkt, self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(n) if n <= end => {
                    self.step();
                }
                _ => {
                    self.time = end;
                    return;
                }
            }
        }
        panic!("drive_for did not finish");
    }

    /// A initiates connection "net" and the pair runs to completion.
    pub(crate) fn connect(&mut self) -> crate::ids::IkeSaId {
        let id = self.a.initiate(self.time, "net").expect("initiate");
        self.drive();
        id
    }

    pub(crate) fn acquire(&mut self, side: Side, reqid: u32, cpu: Option<u32>, seq: u32) {
        let now = self.time;
        self.ep(side).handle_kernel(
            now,
            KernelEvent::Acquire {
                reqid,
                cpu,
                seq,
                ike: None,
            },
        );
    }

    pub(crate) fn events(&mut self, s: Side) -> &mut Vec<Event> {
        match s {
            Side::A => &mut self.a_events,
            Side::B => &mut self.b_events,
        }
    }

    /// A copy-free peek at A's IKE SA state for white-box tests (moves it out; the
    /// pair must not be driven afterwards).
    pub(crate) fn a_sa(&mut self, id: crate::ids::IkeSaId) -> crate::ike_sa::IkeSa {
        self.a.take_sa(id).expect("sa")
    }

    /// Takes the events of `s` so far.
    pub(crate) fn take(&mut self, s: Side) -> Vec<Event> {
        std::mem::take(self.events(s))
    }
}

/// Counts events matching `f`.
pub(crate) fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// The installs among `events` (Ready and Rekeyed).
pub(crate) fn installs(events: &[Event]) -> Vec<&crate::event::ChildSaInstall> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaReady(i) | Event::ChildSaRekeyed { new: i, .. } => Some(i),
            _ => None,
        })
        .collect()
}

/// Bytes of a hex string (test vectors).
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
