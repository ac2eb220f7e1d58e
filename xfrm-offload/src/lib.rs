//! Installs IPsec SAs and policies into the Linux kernel over XFRM netlink,
//! per CPU (Linux >= 6.13, `XFRMA_SA_PCPU`), with NIC offload where available
//! and a verified fallback. Knows nothing about IKE.
//!
//! * [`Xfrm`]: SA and policy requests (`ip xfrm state|policy ...`), ALLOCSPI,
//!   pipelined batches.
//! * [`Monitor`]: kernel events (ACQUIRE with the CPU, EXPIRE soft/hard,
//!   MAPPING), resynchronising by dump after ENOBUFS.
//! * [`probe`]: what the running kernel supports (per-CPU SAs, ESP, AEADs),
//!   tried rather than guessed from the version, cached per process.
//! * [`offload`]: the `no | crypto | packet | auto` ladder, reading each SA
//!   back to report the mode actually in effect.
//! * [`tag`]: how lanes recognises its own SAs and policies (reqid range).
//!
//! ```no_run
//! use std::net::IpAddr;
//! use xfrm_offload::*;
//! use zeroize::Zeroizing;
//!
//! # async fn demo(key: Zeroizing<Vec<u8>>) -> Result<(), Error> {
//! let xfrm = Xfrm::new()?;
//! let caps = probe::capabilities(&xfrm).await?;
//! let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
//! let reqid = tag::reqid(1)?;
//! let mut sa = SaSpec::new(a, b, Spi(0xc000_0001), reqid, SaCrypto::AesGcm { key, icv_bits: 128 });
//! sa.dir = Some(SaDir::Out);
//! sa.pcpu = caps.per_cpu_sa.then_some(CpuId(0));
//! let done = xfrm.install_sa(&sa, OffloadMode::Auto, Some("eth0"), false).await?;
//! println!("offload in effect: {}", done.offload);
//! let mut events = Monitor::new(xfrm.clone(), Groups::default())?;
//! if let Event::Acquire(acq) = events.next().await? {
//!     println!("acquire seq {} cpu {:?} reqid {:?}", acq.seq, acq.cpu, acq.reqid);
//! }
//! # Ok(()) }
//! ```
//!
//! Testing: `tests/golden.rs` (no root) compares every emitted message with
//! iproute2's bytes and parses kernel captures; `tests/host_netns.rs`
//! (LANES_PRIV_TESTS=1, root) runs policies, ALLOCSPI, acquires and the
//! overflow resync in a fresh namespace; `tests/vm_kernel.rs` and
//! `tests/sa_install_bench.rs` (LANES_VM_TESTS=1) need ESP and run in the VM
//! via `tests/vm/*.sh`.
//!
//! Message layer: netlink-packet-xfrm 0.5 structs, plus typed
//! `XFRMA_SA_DIR` / `XFRMA_SA_PCPU` / `XFRM_OFFLOAD_PACKET` /
//! `XFRM_POLICY_CPU_ACQUIRE` in [`msg::attr`]. Transport: a netlink-sys 0.9
//! tokio socket (see `netlink.rs` for why not netlink-proto).

pub mod error;
mod ethtool;
mod handle;
pub mod iface;
mod monitor;
pub mod msg;
mod netlink;
pub mod offload;
pub mod probe;
pub mod rebind;
pub mod tag;
pub mod types;

pub use error::{Error, KernelError, OffloadError, Op, SpecError};
pub use ethtool::{esp_hw_offload, ifindex};
pub use handle::Xfrm;
pub use monitor::{Event, Groups, Monitor};
pub use msg::common::{Lifetimes, Limits};
pub use msg::crypto::{Integ, SaCrypto};
pub use msg::event::{Acquire, Expire};
pub use msg::policy::{PolicyId, PolicySpec, PolicyState, Template};
pub use msg::sa::{
    MappingChange, OffloadDev, OffloadState, SaId, SaMessage, SaSpec, SaState, SpiRequest, UdpEncap,
};
pub use offload::{Installed, InstalledPolicy, OffloadInEffect, OffloadMode};
pub use types::{
    CpuId, IpPrefix, IpsecProto, Mark, Mode, PolicyAction, PolicyDir, PortMask, Reqid, SaDir, Spi,
    TrafficSelector,
};
