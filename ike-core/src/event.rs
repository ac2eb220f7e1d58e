//! Outputs of the engine: datagrams to send and events for the daemon.

use std::net::SocketAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::{Identity, Mode, TrafficSelector};
use crate::error::Error;
use crate::ids::{ChildSaId, ConnId, CpuId, IkeSaId, IkeSpi, Spi};
use crate::proposal::Selected;
use crate::recovery::Action;

/// A UDP datagram to send. On port 4500 `data` already starts with the 4-byte
/// non-ESP marker (RFC 3948 §2.2); send it as is from `local` to `remote`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub remote: SocketAddr,
    /// Source address and port to send from.
    pub local: SocketAddr,
    /// UDP payload.
    pub data: Vec<u8>,
}

/// Something the daemon must act on, from [`Endpoint::poll_event`](crate::Endpoint::poll_event).
#[non_exhaustive]
#[derive(Debug)]
pub enum Event {
    /// An IKE SA completed IKE_AUTH (or an IKE rekey installed a new one).
    IkeSaUp {
        /// Handle.
        ike: IkeSaId,
        /// Its connection.
        conn: ConnId,
        /// Connection name.
        connection: String,
        /// We are the original initiator.
        initiator: bool,
        /// The authenticated peer identity.
        peer_id: Identity,
        /// Initiator's SPI.
        spi_i: IkeSpi,
        /// Responder's SPI.
        spi_r: IkeSpi,
        /// Negotiated IKE algorithms.
        algorithms: Selected,
        /// Outer addresses in use.
        local: SocketAddr,
        /// Peer address in use.
        remote: SocketAddr,
    },
    /// An IKE SA is gone; all its Child SAs were reported deleted first.
    IkeSaDown {
        /// Handle.
        ike: IkeSaId,
        /// Its connection (possibly removed since).
        conn: ConnId,
        /// Why.
        reason: Error,
    },
    /// A responder IKE SA that never completed IKE_AUTH is gone (timed out,
    /// refused or failed): it was never reported up, and nothing else will
    /// be reported about it.
    HalfOpenClosed {
        /// Handle.
        ike: IkeSaId,
        /// The peer it came from.
        remote: SocketAddr,
    },
    /// The peer of an established IKE SA moved behind its NAT (RFC 7296
    /// §2.23): its Child SAs' ESP-in-UDP ports (RFC 3948) and tunnel
    /// addresses must follow; new Child SAs already use `remote`.
    IkeSaMoved {
        /// Handle.
        ike: IkeSaId,
        /// Our address in use.
        local: SocketAddr,
        /// The peer's previous address.
        old: SocketAddr,
        /// The peer's address from now on.
        remote: SocketAddr,
    },
    /// Install this Child SA (both directions) into the kernel.
    ChildSaReady(ChildSaInstall),
    /// A Child SA was rekeyed: install `new`, then remove the SAs of `old`.
    ChildSaRekeyed {
        /// The replaced SA.
        old: ChildSaId,
        /// Its successor (same CPU binding).
        new: ChildSaInstall,
    },
    /// Remove this Child SA from the kernel.
    ChildSaDeleted {
        /// Which one.
        child: ChildSaId,
        /// Owning IKE SA.
        ike: IkeSaId,
        /// Inbound SPI.
        spi_in: Spi,
        /// Outbound SPI.
        spi_out: Spi,
        /// The reqid of its config.
        reqid: u32,
        /// Its CPU binding (RFC 9611), `None` for the fallback or a plain SA.
        resource: Option<CpuId>,
        /// The peer deleted it on its own (an INFORMATIONAL Delete that is
        /// not the end of a rekey, RFC 7296 §1.4.1): the child's
        /// `close_action`. The engine itself creates it again for
        /// [`Action::Restart`]; [`Action::Trap`] is the daemon's to install.
        /// `None` for every other removal.
        closed_by_peer: Option<Action>,
    },
    /// RFC 9611 §4.2, initiator: the peer answered TS_MAX_QUEUE (or
    /// NO_ADDITIONAL_SAS) for this per-CPU group, or the group reached its
    /// `per_cpu_max` or the connection its `max_child_sas` (`full`), so the
    /// engine asks for no more of its SAs, and ignores their acquires, until a
    /// live one goes away (`!full`; a rekey replacing one does not count). Meanwhile a
    /// kernel backend should stop raising per-CPU acquires for the group, so
    /// CPUs without an SA use the fallback SA.
    PerCpuGroupFull {
        /// Owning IKE SA.
        ike: IkeSaId,
        /// Child config name.
        name: String,
        /// Full (true) or open again (false).
        full: bool,
    },
    /// The peer refused a Child SA, or creating one failed; nothing was installed.
    ChildSaFailed {
        /// Owning IKE SA.
        ike: IkeSaId,
        /// Child config name.
        name: String,
        /// The CPU it was for, if any.
        resource: Option<CpuId>,
        /// Why.
        reason: Error,
    },
}

/// Keys of one direction of a Child SA (RFC 7296 §2.17). `Debug` redacts them.
pub struct DirectionKeys {
    /// Encryption key; for AES-GCM it ends with the 4-byte salt (RFC 4106).
    pub encr: Zeroizing<Vec<u8>>,
    /// Integrity key (empty for AEAD).
    pub integ: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "DirectionKeys {{ encr: <{} bytes>, integ: <{} bytes> }}",
            self.encr.len(),
            self.integ.len()
        )
    }
}

/// UDP encapsulation (RFC 3948) ports for a Child SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encap {
    /// Our UDP port (for per-CPU SAs with `per_cpu = encap`, a random port in 49152..=65535
    /// for the outbound SA).
    pub local_port: u16,
    /// The peer's UDP port.
    pub remote_port: u16,
}

/// Everything the kernel needs for a Child SA pair.
#[derive(Debug)]
pub struct ChildSaInstall {
    /// Owning IKE SA.
    pub ike: IkeSaId,
    /// Handle of this Child SA.
    pub child: ChildSaId,
    /// Child config name.
    pub name: String,
    /// Kernel reqid of the child config.
    pub reqid: u32,
    /// SPI the peer sends to (our inbound SA).
    pub spi_in: Spi,
    /// SPI we send to (our outbound SA).
    pub spi_out: Spi,
    /// Our outer address.
    pub local: SocketAddr,
    /// The peer's outer address.
    pub remote: SocketAddr,
    /// UDP encapsulation, when NAT was detected or forced.
    pub encap: Option<Encap>,
    /// ESP algorithms (encryption with key size, integrity, ESN).
    pub esp: Selected,
    /// Keys of the inbound SA (peer → us).
    pub keys_in: DirectionKeys,
    /// Keys of the outbound SA (us → peer).
    pub keys_out: DirectionKeys,
    /// Our traffic selectors as negotiated.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's traffic selectors as negotiated.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Soft lifetime (the engine rekeys around then).
    pub soft_lifetime: Duration,
    /// Hard lifetime for the kernel.
    pub hard_lifetime: Duration,
    /// Byte and packet limits for the kernel (soft: rekey, hard: remove).
    pub volume: crate::limits::VolumeLimits,
    /// Whether this SA belongs to an RFC 9611 group (policies get
    /// `XFRM_POLICY_CPU_ACQUIRE`).
    pub per_cpu: bool,
    /// The CPU this SA is bound to (`XFRMA_SA_PCPU`); `None` for the fallback or a plain SA.
    pub resource: Option<CpuId>,
    /// The kernel acquire sequence number that caused this SA, if any.
    pub acquire_seq: Option<u32>,
}

/// Where an IKE SA is in its life, for status displays.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeSaState {
    /// IKE_SA_INIT or IKE_AUTH in progress.
    Connecting,
    /// Established.
    Established,
    /// Replaced by a rekey or being deleted.
    Closing,
}

/// A snapshot of one IKE SA, from [`Endpoint::ike_sa_info`](crate::Endpoint::ike_sa_info).
#[derive(Clone, Debug)]
pub struct IkeSaInfo {
    /// Its connection.
    pub conn: ConnId,
    /// State.
    pub state: IkeSaState,
    /// We are the original initiator.
    pub initiator: bool,
    /// Our address in use.
    pub local: SocketAddr,
    /// The peer's address in use.
    pub remote: SocketAddr,
    /// Our identity.
    pub local_id: Identity,
    /// The peer's authenticated identity, once known.
    pub peer_id: Option<Identity>,
    /// Initiator's SPI.
    pub spi_i: IkeSpi,
    /// Responder's SPI (zero until known).
    pub spi_r: IkeSpi,
    /// Negotiated IKE algorithms, once known.
    pub algorithms: Option<Selected>,
    /// When it was established (the `now` of that call).
    pub established_at: Option<std::time::Instant>,
}
