//! Loader for the lanes XDP steering program: (destination, SPI) -> CPU ->
//! cpumap.
//!
//! Per-CPU SAs (RFC 9611, Linux `XFRMA_SA_PCPU`) fix the sending side, but
//! all ESP packets of a tunnel share one outer 5-tuple, so RSS lands them on
//! one RX queue and one CPU decrypts everything. The XDP program in
//! `ebpf/` reads each packet's SPI and redirects it through a cpumap to the
//! CPU that owns the SA, before an skb is built.
//!
//! Use:
//! - the daemon calls [`Steering::attach`] once per interface, then
//!   [`Steering::bind`] / [`Steering::unbind`] as inbound SAs come and go;
//! - `lanes steer bind|status` from another process calls
//!   [`Steering::open`] on the pinned maps;
//! - tests and the benchmark call [`Steering::load`] and
//!   [`Steering::test_run`] (`BPF_PROG_TEST_RUN`).
//!
//! The object is embedded at build time; before `cargo xtask build` every
//! loading call returns [`Error::ObjectNotBuilt`].

mod binding;
mod error;
pub mod frames;
mod object;
mod pin;
mod stats;
mod steering;
mod undo;

pub use binding::Binding;
pub use error::Error;
pub use object::object_built;
pub use pin::{DEFAULT_PIN_ROOT, PinRoot};
pub use stats::{Counter, CpuStats, Stats};
pub use steering::{
    AttachOptions, Attached, AttachedIface, DEFAULT_QUEUE_SIZE, FLOOR_PROGRAM, Mode, RunResult,
    Steering, XDP_PASS, XDP_REDIRECT, online_cpus,
};
#[doc(hidden)]
pub use undo::FailAt;
