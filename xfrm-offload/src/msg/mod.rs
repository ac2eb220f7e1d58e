//! The message layer: typed specs to and from netlink-packet-xfrm messages,
//! with the attributes it lacks (`attr`). Pure functions, no I/O: every
//! message here has a golden-byte test (`tests/golden.rs`).

pub mod attr;
pub mod common;
pub mod crypto;
pub mod event;
pub mod policy;
pub mod sa;
