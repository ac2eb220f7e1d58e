//! What the planner asks of the kernel and of the daemon, and what the
//! executor reports back.

use std::net::{IpAddr, SocketAddr};

use ike_core::ChildSaId;
use xfrm_offload::{OffloadMode, PolicyId, PolicySpec, SaDir, SaId, SaSpec};

use crate::daemon::backend::OffloadState;

/// One kernel operation. An executor may send consecutive `AddSa` with
/// `offload: No` as one pipelined batch, and consecutive `AddPolicy` too,
/// as long as it reports one result per op, in order.
#[derive(Clone, Debug)]
pub enum Op {
    /// NEWSA. With an offload other than `No` the executor installs it through
    /// the offload ladder on the device holding `local`, and reads it back.
    AddSa {
        /// The SA, with its keys.
        spec: Box<SaSpec>,
        /// Requested offload.
        offload: OffloadMode,
        /// Our outer address (its device is the offload target).
        local: IpAddr,
    },
    /// DELSA; an SA already gone is not an error.
    DeleteSa(SaId),
    /// Moves the remote end of an SA to a peer whose NAT rebound.
    RebindSa {
        /// The SA as installed.
        id: SaId,
        /// Its direction (which end is the peer's).
        dir: SaDir,
        /// The peer's new address and port.
        remote: SocketAddr,
    },
    /// UPDPOLICY: adds the policy or replaces the one with the same id.
    AddPolicy(PolicySpec),
    /// DELPOLICY; a policy already gone is not an error.
    DeletePolicy(PolicyId),
    /// Steers inbound ESP with `spi` to `cpu`.
    Bind {
        /// Inbound SPI.
        spi: u32,
        /// CPU.
        cpu: u32,
    },
    /// Stops steering `spi`.
    Unbind {
        /// Inbound SPI.
        spi: u32,
    },
}

impl Op {
    /// Whether the op creates or changes an object (a delete only removes).
    pub fn adds(&self) -> bool {
        matches!(self, Op::AddSa { .. } | Op::AddPolicy(_) | Op::Bind { .. })
    }
}

/// A one-line summary for the log: identities and flags, never keys.
impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sel =
            |s: &xfrm_offload::TrafficSelector| format!("{}->{} proto {}", s.src, s.dst, s.proto);
        match self {
            Op::AddSa { spec, offload, .. } => write!(
                f,
                "add-sa {:08x} {}->{} reqid {} offload {offload}",
                spec.spi.0, spec.src, spec.dst, spec.reqid.0
            ),
            Op::DeleteSa(id) => write!(f, "del-sa {:08x} ->{}", id.spi.0, id.dst),
            Op::RebindSa { id, remote, .. } => write!(f, "rebind-sa {:08x} ->{remote}", id.spi.0),
            Op::AddPolicy(p) => write!(
                f,
                "upd-policy {:?} {} cpu_acquire {} if_id {:?} mark {:?}",
                p.dir,
                sel(&p.selector),
                p.cpu_acquire,
                p.if_id,
                p.mark
            ),
            Op::DeletePolicy(id) => write!(
                f,
                "del-policy {:?} {} if_id {:?} mark {:?}",
                id.dir,
                sel(&id.selector),
                id.if_id,
                id.mark
            ),
            Op::Bind { spi, cpu } => write!(f, "bind {spi:08x} cpu {cpu}"),
            Op::Unbind { spi } => write!(f, "unbind {spi:08x}"),
        }
    }
}

/// A successful op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// An `AddSa`, with the offload in effect (`none` when it was not asked).
    Sa(OffloadState),
    /// A `RebindSa`, with the SA's identity afterwards.
    Rebound(SaId),
    /// Any other op.
    Ok,
}

/// One op's outcome; the error is the text to log.
pub type OpResult = Result<Done, String>;

/// Ops to run now, in order, then report with
/// [`Planner::handle_results`](super::Planner::handle_results).
#[derive(Debug)]
pub struct Batch {
    /// Ties the results to this batch.
    pub id: u64,
    /// The ops.
    pub ops: Vec<Op>,
}

/// What the daemon must do besides kernel ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The Child SA could not be installed (nothing of it is left in the
    /// kernel): the engine must delete it on both sides.
    DeleteChild {
        /// The engine's handle.
        child: ChildSaId,
        /// Why, for the log.
        reason: String,
    },
}
