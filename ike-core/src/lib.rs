//! Sans-IO IKEv2 engine (RFC 7296) with RFC 9611 per-resource Child SAs.
//!
//! The crate is fully deterministic: it owns no sockets, clocks, threads or
//! netlink handles. Time enters as `now` arguments, datagrams enter through
//! `handle_*` methods and every effect leaves through `poll_*` methods.
#![forbid(unsafe_code)]

pub mod child_sa;
pub mod config;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod ids;
mod ike_sa;
pub mod proposal;
pub mod timer;
pub mod wire;

pub use config::{
    ChildConfig, ConnectionConfig, EndpointConfig, Identity, Mode, PerCpu, PerCpuMode, Psk,
    TrafficSelector,
};
pub use endpoint::{Endpoint, KernelEvent};
pub use error::{ApiError, Error, PeerIncompatible, PeerMisbehaved};
pub use event::{ChildSaInstall, DirectionKeys, Encap, Event, Transmit};
pub use ids::{ChildSaId, CpuId, IkeSaId, IkeSpi, Spi};
pub use proposal::{Proposal, ProposalError, Selected};

#[cfg(test)]
mod tests;
