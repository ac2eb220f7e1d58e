//! The kernel as seen by the daemon loop: XFRM SAs and policies plus the
//! acquire/expire event stream. Implemented by [`super::xfrm_backend::XfrmBackend`]
//! (netlink, needs CAP_NET_ADMIN) and [`super::fake::FakeKernel`] (tests).

use std::net::{IpAddr, SocketAddr};

use anyhow::Result;
use tokio::sync::mpsc;
use xfrm_offload::{OffloadMode, PolicyId, PolicySpec, SaDir, SaId, SaSpec};

/// What the kernel can do (from probes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// ESP SAs can be installed.
    pub esp: bool,
    /// `XFRMA_SA_DIR` is understood (Linux 6.10+).
    pub sa_dir: bool,
    /// `XFRMA_SA_PCPU` works (Linux 6.13+).
    pub per_cpu: bool,
}

/// A kernel event the loop reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// A packet matched a policy without an SA (XFRM_MSG_ACQUIRE).
    Acquire {
        /// The policy template's reqid.
        reqid: u32,
        /// The CPU that sent the packet (`XFRMA_SA_PCPU`, CPU_ACQUIRE policies).
        cpu: Option<u32>,
        /// Acquire sequence number; reused when the SA is installed.
        seq: u32,
        /// Outer source address from the template.
        src: IpAddr,
        /// Outer destination address from the template.
        dst: IpAddr,
    },
    /// An SA hit its soft (rekey) or hard (delete) lifetime.
    Expire {
        /// SPI.
        spi: u32,
        /// Destination address (with the SPI, the SA's identity).
        dst: IpAddr,
        /// Reqid of the SA.
        reqid: u32,
        /// Hard expiry: the kernel deleted the SA.
        hard: bool,
    },
    /// An authenticated ESP-in-UDP packet of inbound SA `spi` came from
    /// another address or port (XFRM_MSG_MAPPING): the peer's NAT rebound.
    Mapping {
        /// Inbound SPI.
        spi: u32,
        /// Reqid of the SA.
        reqid: u32,
        /// The peer's address and port the SA had.
        old: SocketAddr,
        /// Where the packet came from.
        new: SocketAddr,
    },
    /// Events were lost (socket overrun); state should be re-checked.
    Overrun,
}

/// Offload in effect for an installed SA.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffloadState {
    /// `none`, `crypto` or `packet`.
    pub mode: String,
    /// With packet offload, the device the policies must be offloaded to too.
    pub packet_ifindex: Option<u32>,
}

impl OffloadState {
    /// No offload.
    pub fn none() -> Self {
        OffloadState {
            mode: "none".into(),
            packet_ifindex: None,
        }
    }
}

/// Kernel counters of one SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Packets dropped as replays (inbound SAs).
    pub replay_failures: u64,
    /// Packets that failed the ICV check (inbound SAs).
    pub integrity_failures: u64,
}

/// XFRM operations the daemon needs.
#[expect(
    async_fn_in_trait,
    reason = "the loop drives one backend on one task; no Send bound is needed"
)]
pub trait SaBackend {
    /// Kernel capabilities.
    async fn caps(&mut self) -> Caps;
    /// Installs an SA with the requested offload (`iface` is the egress device);
    /// returns the offload in effect, read back from the kernel.
    async fn add_sa(
        &mut self,
        spec: &SaSpec,
        offload: OffloadMode,
        iface: Option<&str>,
    ) -> Result<OffloadState>;
    /// Installs SAs without offload, pipelined (no read-back); one result
    /// per SA, in order. The outer error is a failure of the whole batch.
    async fn add_sas(&mut self, specs: &[SaSpec]) -> Result<Vec<Result<()>>>;
    /// Deletes an SA; an SA that is already gone is not an error.
    async fn delete_sa(&mut self, id: &SaId) -> Result<()>;
    /// Moves the remote end of SA `id` (its `dir`) to `remote`, keeping keys
    /// and sequence numbers; returns its identity afterwards.
    async fn rebind_sa(&mut self, id: &SaId, dir: SaDir, remote: SocketAddr) -> Result<SaId> {
        let _ = (dir, remote);
        anyhow::bail!("this kernel backend cannot move SA {:08x}", id.spi.0)
    }
    /// Byte and packet counters of an SA.
    async fn counters(&mut self, id: &SaId) -> Result<Counters>;
    /// Adds or replaces policies, pipelined; one result per policy, in
    /// order. The outer error is a failure of the whole batch.
    async fn update_policies(&mut self, specs: &[PolicySpec]) -> Result<Vec<Result<()>>>;
    /// Deletes a policy; a policy that is already gone is not an error.
    async fn delete_policy(&mut self, id: &PolicyId) -> Result<()>;
    /// Removes every SA and policy lanes left behind (tagged reqids); returns
    /// (SAs, policies) removed.
    async fn flush_ours(&mut self) -> Result<(usize, usize)>;
    /// The kernel event stream (called once).
    fn events(&mut self) -> Result<mpsc::UnboundedReceiver<KernelEvent>>;
}
