//! Sans-IO IKEv2 engine (RFC 7296) with RFC 9611 per-resource Child SAs.
//!
//! The crate is fully deterministic: it owns no sockets, clocks, threads or
//! netlink handles. Time enters as `now` arguments, datagrams enter through
//! `handle_*` methods and every effect leaves through `poll_*` methods
//! (quinn-proto's contract).
//!
//! # Driving an [`Endpoint`]
//!
//! One [`Endpoint`] holds every connection and every IKE SA of a daemon. Build
//! it from plain-data configuration ([`EndpointConfig`], [`ConnectionConfig`],
//! [`ChildConfig`]) and a [`crypto::CryptoProvider`]; connections come and go
//! with [`Endpoint::add_connection`], [`Endpoint::replace_connection`] and
//! [`Endpoint::remove_connection`] under a stable [`ConnId`]. The endpoint routes
//! every datagram itself: by IKE SPI, and a new IKE_SA_INIT by the peer's
//! address, then in IKE_AUTH by its identity (IDi, and IDr when sent). Then loop:
//!
//! 1. **Inputs** (`handle_*`, in any order as they happen):
//!    - [`Endpoint::handle_datagram`]`(now, remote, local, data)` for every UDP datagram
//!      received on the IKE or the NAT-T port ([`EndpointConfig::ike_port`],
//!      [`EndpointConfig::nat_port`]; pass NAT-T datagrams as received, with the
//!      non-ESP marker; ESP and NAT keepalives are ignored);
//!    - [`Endpoint::handle_timeout`]`(now)` once `now >= poll_timeout()`;
//!    - [`Endpoint::handle_kernel`]`(now, KernelEvent::{Acquire, Expire})` for XFRM
//!      acquires (with the per-CPU `cpu`, Linux ≥ 6.13) and SA expiries.
//!    - [`Endpoint::handle_ocsp_status`]`(now, query, status)` for each OCSP
//!      lookup handed out (below), once fetched or timed out.
//! 2. **Commands**: [`Endpoint::initiate`], [`Endpoint::create_child`],
//!    [`Endpoint::rekey_child`], [`Endpoint::delete_child`], [`Endpoint::rekey_ike`],
//!    [`Endpoint::close`], [`Endpoint::set_cookie_secret`] (rotate it periodically).
//! 3. **Outputs**, drained after every input or command, in this order:
//!    - [`Endpoint::poll_transmit`]`(now)` until `None`: send each [`Transmit`] from
//!      `local` to `remote` (its `data` already has the non-ESP marker on port 4500);
//!    - [`Endpoint::poll_event`]`()` until `None`: install/remove SAs as told by
//!      [`Event::ChildSaReady`], [`Event::ChildSaRekeyed`] (install `new`; the old SA
//!      is removed on its own [`Event::ChildSaDeleted`]), [`Event::ChildSaDeleted`];
//!      [`Event::PerCpuGroupFull`] turns a group's per-CPU acquires off and on
//!      (RFC 9611 §4.2); [`Event::IkeSaUp`] / [`Event::IkeSaDown`] are informational;
//!    - [`Endpoint::poll_ocsp_query`]`()` until `None`: an IKE_AUTH waits for
//!      the OCSP status (RFC 6960) of a certificate of the peer's chain; fetch it
//!      off the loop and hand the answer back;
//!    - [`Endpoint::poll_timeout`]`()`: sleep until then (or the next input).
//!
//! Every Child SA event carries `resource: Option<CpuId>`: the CPU for
//! `XFRMA_SA_PCPU`, or `None` for an RFC 9611 fallback SA or a plain SA
//! (`per_cpu` tells which, for `XFRM_POLICY_CPU_ACQUIRE`). Keys arrive in
//! `Zeroizing` buffers and are never logged.
//!
//! Addresses: give initiating connections their concrete local address (it is
//! hashed into NAT_DETECTION_SOURCE_IP, and a `dynamic`, empty, `local_ts` is
//! that address). Inbound ESP SPIs are chosen by the engine, at random in
//! [`EndpointConfig::esp_spis`], never one that a live Child SA or a request in
//! flight holds; install them as given. [`Event::HalfOpenClosed`] reports every
//! responder SA that ends before IKE_AUTH, so nothing the daemon keys on it
//! outlives it.
//!
//! # What is implemented
//!
//! IKE_SA_INIT (INVALID_KE_PAYLOAD retry, COOKIE on both sides, NAT detection and the
//! move to port 4500), IKE_AUTH with PSK and the first Child SA (tunnel/transport,
//! TS narrowing), CREATE_CHILD_SA (new Child, Child rekey with REKEY_SA, IKE rekey,
//! both with the lowest-nonce-loses collision rules of §2.8.1/§2.8.2, PFS with
//! INVALID_KE_PAYLOAD retry), INFORMATIONAL (Delete, DPD, INITIAL_CONTACT),
//! retransmission with strongSwan's back-off, response caching, window size 1,
//! lifetime-driven rekeying with jitter, and RFC 9611 groups
//! ([`child_sa::per_resource`]).
#![forbid(unsafe_code)]

pub mod child_sa;
pub mod config;
mod connections;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod exchange_stats;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
mod ike_sa;
pub mod ke_job;
pub mod limits;
pub(crate) mod ocsp_job;
pub mod pki;
pub mod proposal;
pub mod recovery;
mod sa_index;
pub mod selector;
mod spi_pool;
pub mod timer;
pub mod wire;

pub use config::{
    ChildConfig, ConnectionConfig, DosLimits, EndpointConfig, Fragmentation, Identity, Mode,
    PerCpu, PerCpuMode, Psk, TrafficSelector,
};
pub use endpoint::{DosStats, Endpoint, KernelEvent};
pub use error::{ApiError, Error, PeerIncompatible, PeerMisbehaved};
pub use event::{ChildSaInstall, DirectionKeys, Encap, Event, IkeSaInfo, IkeSaState, Transmit};
pub use exchange_stats::{ExchangeStats, Initiator};
pub use ids::{ChildSaId, ConnId, CpuId, IkeSaId, IkeSpi, Spi};
pub use ike_sa::frag::FragStats;
pub use ke_job::{KeJob, KeResult};
pub use limits::VolumeLimits;
pub use proposal::{Proposal, ProposalError, Selected};

#[cfg(test)]
mod tests;
