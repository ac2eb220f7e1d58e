//! A recording in-memory kernel for tests: keeps SAs and policies, logs every
//! call, lets a test inject acquires/expires and make the next install fail.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::sync::mpsc;
use xfrm_offload::{OffloadMode, PolicyId, PolicySpec, SaDir, SaId, SaSpec};

use super::backend::{Caps, Counters, KernelEvent, OffloadState, SaBackend};

/// One SA as the fake kernel keeps it (no keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSa {
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// Reqid.
    pub reqid: u32,
    /// Direction.
    pub dir: Option<SaDir>,
    /// CPU (`XFRMA_SA_PCPU`).
    pub pcpu: Option<u32>,
    /// Acquire seq.
    pub seq: u32,
    /// Kernel cipher name.
    pub alg: String,
    /// Counters a test can set.
    pub counters: Counters,
}

/// Shared state of a [`FakeKernel`].
#[derive(Debug, Default)]
pub struct FakeState {
    /// SAs by (dst, spi).
    pub sas: BTreeMap<(IpAddr, u32), FakeSa>,
    /// Policies by id (Debug-rendered id as the key; ids are not Ord).
    pub policies: BTreeMap<String, PolicySpec>,
    /// Every call, in order, e.g. `add_sa 10.0.0.2 0x1234 cpu=Some(1)`.
    pub log: Vec<String>,
    /// Makes the next SA install (`add_sa` or one of `add_sas`) fail with this message.
    pub fail_next_add: Option<String>,
    /// Capabilities to report.
    pub caps: Caps,
    /// Time each SA install takes (a slow kernel), before the SAs go in.
    pub install_delay: Option<Duration>,
    /// The other gateway's kernel, to check install order against.
    pub peer: Option<FakeKernel>,
    /// SPIs of outbound SAs installed while the peer held no inbound SA
    /// with that SPI: packets sent on them then would be dropped there.
    pub out_before_peer_in: Vec<u32>,
    events: Option<mpsc::UnboundedSender<KernelEvent>>,
}

/// The fake kernel; clone it to keep a handle for assertions.
#[derive(Clone, Debug, Default)]
pub struct FakeKernel(Arc<Mutex<FakeState>>);

fn policy_key(id: &PolicyId) -> String {
    format!("{id:?}")
}

impl FakeState {
    /// NEWSA: logs it, then fails if asked to or if the SA exists.
    fn insert_sa(&mut self, spec: &SaSpec) -> Result<()> {
        self.log.push(format!(
            "add_sa {} {:#010x} dir={:?} cpu={:?} reqid={}",
            spec.dst,
            spec.spi.0,
            spec.dir,
            spec.pcpu.map(|c| c.0),
            spec.reqid.0
        ));
        if let Some(why) = self.fail_next_add.take() {
            bail!("{why}");
        }
        if self.sas.contains_key(&(spec.dst, spec.spi.0)) {
            bail!("File exists (SA {} {:#x})", spec.dst, spec.spi.0);
        }
        let sa = FakeSa {
            src: spec.src,
            dst: spec.dst,
            spi: spec.spi.0,
            reqid: spec.reqid.0,
            dir: spec.dir,
            pcpu: spec.pcpu.map(|c| c.0),
            seq: spec.seq,
            alg: spec.crypto.kernel_name().to_string(),
            counters: Counters::default(),
        };
        self.sas.insert((spec.dst, spec.spi.0), sa);
        Ok(())
    }
}

impl FakeKernel {
    /// A kernel with ESP, SA_DIR and per-CPU SAs.
    pub fn new() -> Self {
        let k = FakeKernel::default();
        k.state().caps = Caps {
            esp: true,
            sa_dir: true,
            per_cpu: true,
        };
        k
    }

    /// Locks the state for inspection or changes.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits out `install_delay`, then notes the outbound SAs among `specs`
    /// whose inbound twin is not yet in the peer's kernel.
    async fn before_install(&self, specs: &[SaSpec]) {
        let delay = self.state().install_delay;
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let Some(peer) = self.state().peer.clone() else {
            return;
        };
        let early: Vec<u32> = {
            let theirs = peer.state();
            specs
                .iter()
                .filter(|s| s.dir == Some(SaDir::Out))
                .filter(|s| !theirs.sas.contains_key(&(s.dst, s.spi.0)))
                .map(|s| s.spi.0)
                .collect()
        };
        self.state().out_before_peer_in.extend(early);
    }

    /// Injects a kernel event (after the daemon called `events`).
    pub fn inject(&self, ev: KernelEvent) -> bool {
        self.state()
            .events
            .as_ref()
            .is_some_and(|tx| tx.send(ev).is_ok())
    }
}

impl SaBackend for FakeKernel {
    async fn caps(&mut self) -> Caps {
        self.state().caps
    }

    async fn add_sa(
        &mut self,
        spec: &SaSpec,
        offload: OffloadMode,
        iface: Option<&str>,
    ) -> Result<OffloadState> {
        self.before_install(std::slice::from_ref(spec)).await;
        self.state().insert_sa(spec)?;
        let (mode, packet_ifindex) = match (offload, iface) {
            (OffloadMode::Crypto, Some(_)) => ("crypto", None),
            (OffloadMode::Packet, Some(_)) => ("packet", Some(1)),
            _ => ("none", None),
        };
        Ok(OffloadState {
            mode: mode.into(),
            packet_ifindex,
        })
    }

    async fn add_sas(&mut self, specs: &[SaSpec]) -> Result<Vec<Result<()>>> {
        self.before_install(specs).await;
        let mut st = self.state();
        st.log.push(format!("add_sas {}", specs.len()));
        Ok(specs.iter().map(|s| st.insert_sa(s)).collect())
    }

    async fn delete_sa(&mut self, id: &SaId) -> Result<()> {
        let mut st = self.state();
        st.log
            .push(format!("delete_sa {} {:#010x}", id.dst, id.spi.0));
        st.sas.remove(&(id.dst, id.spi.0));
        Ok(())
    }

    async fn rebind_sa(
        &mut self,
        id: &SaId,
        dir: SaDir,
        remote: std::net::SocketAddr,
    ) -> Result<SaId> {
        let mut st = self.state();
        st.log
            .push(format!("rebind_sa {:#010x} {dir:?} {remote}", id.spi.0));
        let Some(mut sa) = st.sas.remove(&(id.dst, id.spi.0)) else {
            bail!("no SA {} {:#x}", id.dst, id.spi.0);
        };
        let mut new = *id;
        match dir {
            SaDir::Out => new.dst = remote.ip(),
            SaDir::In => new.src = Some(remote.ip()),
        }
        (sa.src, sa.dst) = (new.src.unwrap_or(sa.src), new.dst);
        st.sas.insert((new.dst, new.spi.0), sa);
        Ok(new)
    }

    async fn counters(&mut self, id: &SaId) -> Result<Counters> {
        match self.state().sas.get(&(id.dst, id.spi.0)) {
            Some(sa) => Ok(sa.counters),
            None => bail!("no SA {} {:#x}", id.dst, id.spi.0),
        }
    }

    async fn update_policies(&mut self, specs: &[PolicySpec]) -> Result<Vec<Result<()>>> {
        let mut st = self.state();
        st.log.push(format!("update_policies {}", specs.len()));
        for spec in specs {
            st.log.push(format!(
                "add_policy {:?} {}->{} cpu_acquire={}",
                spec.dir, spec.selector.src, spec.selector.dst, spec.cpu_acquire
            ));
            st.policies.insert(policy_key(&spec.id()), spec.clone());
        }
        Ok(specs.iter().map(|_| Ok(())).collect())
    }

    async fn delete_policy(&mut self, id: &PolicyId) -> Result<()> {
        let mut st = self.state();
        st.log.push(format!(
            "delete_policy {:?} {}->{}",
            id.dir, id.selector.src, id.selector.dst
        ));
        st.policies.remove(&policy_key(id));
        Ok(())
    }

    async fn flush_ours(&mut self) -> Result<(usize, usize)> {
        let mut st = self.state();
        st.log.push("flush_ours".into());
        let n = (st.sas.len(), st.policies.len());
        st.sas.clear();
        st.policies.clear();
        Ok(n)
    }

    fn events(&mut self) -> Result<mpsc::UnboundedReceiver<KernelEvent>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.state().events = Some(tx);
        Ok(rx)
    }
}
