//! Sans-IO IKEv2 engine (RFC 7296) with RFC 9611 per-resource Child SAs.
//!
//! The crate is fully deterministic: it owns no sockets, clocks, threads or
//! netlink handles. Time enters as `now` arguments, datagrams enter through
//! `handle_*` methods and every effect leaves through `poll_*` methods.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod wire;
