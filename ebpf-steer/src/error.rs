//! Errors of the steering loader, grouped by cause.

use std::path::PathBuf;

/// Everything that can go wrong loading, attaching or driving the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure injected by a test ([`crate::FailAt`]).
    #[doc(hidden)]
    #[error("injected failure at {0:?}")]
    Injected(crate::FailAt),

    /// The crate was built without the XDP object.
    #[error("XDP object not built: run `cargo xtask build` (or set LANES_EBPF_OBJ) and rebuild")]
    ObjectNotBuilt,

    /// bpffs is not mounted where the pins live.
    #[error("{0} is not on a BPF filesystem: mount it with `mount -t bpf bpf /sys/fs/bpf`")]
    NoBpffs(PathBuf),

    /// Nothing is pinned: the program was never attached with this pin root.
    #[error("steering is not attached (no maps under {0}): run `lanes steer attach IFACE` first")]
    NotAttached(PathBuf),

    /// A pinned map from another version of the program has a different shape.
    #[error(
        "pinned map {path} does not match this program ({what}): detach every interface \
         (`lanes steer detach IFACE`) so the maps are recreated"
    )]
    StaleMap {
        /// The pinned map.
        path: PathBuf,
        /// Which property differs.
        what: String,
    },

    /// The interface does not exist.
    #[error("no interface named {0:?}")]
    UnknownInterface(String),

    /// Attaching failed in every mode that was tried.
    #[error("attaching XDP to {iface} in {mode} mode failed: {source}{hint}")]
    Attach {
        /// The interface.
        iface: String,
        /// The last mode tried.
        mode: crate::Mode,
        /// What the kernel said.
        #[source]
        source: Box<aya::programs::ProgramError>,
        /// What to try next.
        hint: &'static str,
    },

    /// The CPU is not online (or above the cpumap size).
    #[error("CPU {cpu} is not online (online: {online})")]
    CpuOffline {
        /// The requested CPU.
        cpu: u32,
        /// The online CPU list, as the kernel prints it.
        online: String,
    },

    /// Reading kernel facts from sysfs/procfs failed.
    #[error("reading {what}: {source}")]
    System {
        /// What was read.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Loading the object (maps, verifier) failed.
    #[error("loading the XDP object: {0}")]
    Load(#[source] Box<aya::EbpfError>),

    /// A program operation (load, test run, link) failed.
    #[error("XDP program: {0}")]
    Program(#[source] Box<aya::programs::ProgramError>),

    /// A map operation failed.
    #[error("BPF map: {0}")]
    Map(#[source] Box<aya::maps::MapError>),

    /// A cpumap update failed.
    #[error("cpumap: {0}")]
    CpuMap(#[source] Box<aya::maps::xdp::XdpMapError>),

    /// SPI 0 is reserved and never sent on the wire (RFC 4303 §2.1).
    #[error("SPI 0 is reserved (RFC 4303 §2.1): bind a real SA's SPI")]
    InvalidSpi,

    /// The operation needs the program loaded by this process, not only
    /// its pinned maps.
    #[error("the XDP program is not loaded by this process (opened from pinned maps)")]
    NotLoadedHere,

    /// The object lacks a program or map this loader expects.
    #[error("the XDP object has no {0:?}: rebuild it with `cargo xtask build`")]
    MissingInObject(String),

    /// The kernel attached through netlink, so there is no link to pin.
    #[error(
        "{0}: the kernel attached XDP without a bpf_link (Linux < 5.9?); pinning needs bpf_link"
    )]
    NetlinkAttach(String),

    /// aya-log could not be started.
    #[error("aya-log: {0}")]
    Logger(String),

    /// Pinning a link failed.
    #[error("pinning the XDP link: {0}")]
    PinLink(#[source] Box<aya::pin::PinError>),

    /// Pinning or unpinning failed.
    #[error("bpffs pin {path}: {source}")]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },

    /// A link operation failed.
    #[error("XDP link: {0}")]
    Link(#[source] Box<aya::programs::links::LinkError>),
}

impl Error {
    pub(crate) fn pin(path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        Self::Pin {
            path: path.into(),
            source: source.into(),
        }
    }
}

/// aya's errors are large; they are boxed to keep `Result<_, Error>` small.
macro_rules! boxed_from {
    ($($variant:ident: $ty:ty),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Self::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from! {
    Load: aya::EbpfError,
    Program: aya::programs::ProgramError,
    Map: aya::maps::MapError,
    CpuMap: aya::maps::xdp::XdpMapError,
    PinLink: aya::pin::PinError,
    Link: aya::programs::links::LinkError,
}
