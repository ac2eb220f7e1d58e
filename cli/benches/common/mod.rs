//! What the daemon benches share: the kernel they run against (it keeps
//! what a kernel keys its tables by, and can be told whether it has
//! per-CPU SAs) and the initiator's side of their tunnels.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use ike_core::{ChildConfig, ConnectionConfig, Identity, Proposal, Psk, TrafficSelector};

use anyhow::Result;
use lanes_cli::daemon::backend::{Caps, Counters, OffloadState};
use lanes_cli::daemon::{KernelEvent, SaBackend};
use tokio::sync::mpsc;
use xfrm_offload::{OffloadMode, PolicyId, PolicySpec, SaDir, SaId, SaSpec};

/// A kernel that keeps what a kernel would key its tables by: SAs by
/// (dst, SPI), the inbound ones with their reqid, and policies by id.
#[derive(Default)]
pub struct RecordingKernel {
    pub sas: HashSet<(IpAddr, u32)>,
    /// Inbound SPI → reqid (what a soft expire names).
    pub inbound: HashMap<u32, u32>,
    pub policies: usize,
    pub ops: u64,
    /// Reported as Linux >= 6.13 (XFRMA_SA_PCPU).
    pub per_cpu: bool,
    /// Time spent in this stand-in's own tables: a real kernel's work, not
    /// the daemon's, so the loop bench can leave it out.
    pub spent: Duration,
}

/// Runs `f`, adding its time to `spent`.
fn timed<T>(spent: &mut Duration, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    *spent += t.elapsed();
    r
}

impl SaBackend for RecordingKernel {
    async fn caps(&mut self) -> Caps {
        Caps {
            esp: true,
            sa_dir: true,
            per_cpu: self.per_cpu,
        }
    }

    async fn add_sa(
        &mut self,
        spec: &SaSpec,
        _offload: OffloadMode,
        _iface: Option<&str>,
    ) -> Result<OffloadState> {
        self.add_sas(std::slice::from_ref(spec)).await?;
        Ok(OffloadState::none())
    }

    async fn add_sas(&mut self, specs: &[SaSpec]) -> Result<Vec<Result<()>>> {
        let (sas, inbound) = (&mut self.sas, &mut self.inbound);
        self.ops += specs.len() as u64;
        Ok(timed(&mut self.spent, || {
            specs
                .iter()
                .map(|s| {
                    if !sas.insert((s.dst, s.spi.0)) {
                        anyhow::bail!("File exists (SA {} {:#x})", s.dst, s.spi.0);
                    }
                    if s.dir == Some(SaDir::In) {
                        inbound.insert(s.spi.0, s.reqid.0);
                    }
                    Ok(())
                })
                .collect()
        }))
    }

    async fn delete_sa(&mut self, id: &SaId) -> Result<()> {
        self.ops += 1;
        let (sas, inbound) = (&mut self.sas, &mut self.inbound);
        timed(&mut self.spent, || {
            sas.remove(&(id.dst, id.spi.0));
            inbound.remove(&id.spi.0);
        });
        Ok(())
    }

    async fn counters(&mut self, _id: &SaId) -> Result<Counters> {
        Ok(Counters::default())
    }

    async fn update_policies(&mut self, specs: &[PolicySpec]) -> Result<Vec<Result<()>>> {
        self.ops += specs.len() as u64;
        self.policies += specs.len();
        Ok(specs.iter().map(|_| Ok(())).collect())
    }

    async fn delete_policy(&mut self, _id: &PolicyId) -> Result<()> {
        self.ops += 1;
        self.policies = self.policies.saturating_sub(1);
        Ok(())
    }

    async fn flush_ours(&mut self) -> Result<(usize, usize)> {
        Ok((0, 0))
    }

    fn events(&mut self) -> Result<mpsc::UnboundedReceiver<KernelEvent>> {
        Ok(mpsc::unbounded_channel().1)
    }
}

pub const PSK: &str = "lanes-bench-psk-0123456789";
pub const LOOP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The inner address of tunnel `i`.
pub fn host(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        0x0a01_0000 + u32::try_from(i).expect("size"),
    ))
}

pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The initiator's side of tunnel `i`: its own identity `a<i>` and /32
/// towards the daemon's 192.168.0.0/16, one Child SA, no rekeys.
pub fn initiator_conn(i: usize, me: SocketAddr, daemon: SocketAddr) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(
        format!("c{i}"),
        me,
        Identity::Fqdn(format!("a{i}")),
        Psk::new(PSK.as_bytes().to_vec()),
    );
    c.remote = Some(daemon);
    c.remote_id = Some(Identity::Fqdn("b".into()));
    c.initial_contact = false;
    c.rekey_time = Duration::ZERO;
    c.ike_proposals = vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("ike")];
    let mut ch = ChildConfig::new("net", u32::try_from(i).expect("reqid") + 1);
    ch.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").expect("esp")];
    ch.local_ts = vec![TrafficSelector::subnet(host(i), 32)];
    ch.remote_ts = vec![TrafficSelector::subnet(
        "192.168.0.0".parse().expect("ip"),
        16,
    )];
    ch.rekey_time = Duration::from_secs(100_000);
    ch.life_time = Duration::from_secs(110_000);
    c.children = vec![ch];
    c
}
