//! Error types, grouped by cause: a bad spec (caller), a kernel refusal (errno
//! plus extack plus a hint naming the fix), offload not available, and
//! transport problems (socket I/O, undecodable replies).

use std::fmt;
use std::net::IpAddr;

use crate::types::{CpuId, PolicyDir, Spi};

/// Everything this crate can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before it reached the kernel.
    #[error("invalid request: {0}")]
    Spec(#[from] SpecError),
    /// The kernel answered with an error.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The requested offload mode is not available.
    #[error(transparent)]
    Offload(#[from] OffloadError),
    /// The netlink socket failed.
    #[error("netlink socket: {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel sent something this crate cannot decode.
    #[error("malformed XFRM netlink message: {0}")]
    Decode(String),
}

impl Error {
    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        Error::Io { context, source }
    }

    /// The kernel errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel(k) => Some(k.errno),
            _ => None,
        }
    }
}

/// A spec that cannot be installed as given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// Prefix longer than the address.
    #[error("prefix length {len} too long for {addr}")]
    PrefixLen {
        /// Address.
        addr: IpAddr,
        /// Offending length.
        len: u8,
    },
    /// Addresses of different families where one family is required.
    #[error("{what}: {a} and {b} are of different address families")]
    FamilyMismatch {
        /// Which part of the spec.
        what: &'static str,
        /// First address.
        a: IpAddr,
        /// Second address.
        b: IpAddr,
    },
    /// Key of the wrong length for the algorithm.
    #[error("{alg}: key is {got} bytes, expected {expected} (include the 4-byte salt for AEADs)")]
    KeyLength {
        /// Kernel algorithm name.
        alg: &'static str,
        /// Bytes supplied.
        got: usize,
        /// Accepted lengths, human readable.
        expected: &'static str,
    },
    /// ICV length the kernel does not accept for this AEAD.
    #[error("{alg}: ICV of {bits} bits not supported (use {allowed})")]
    IcvLength {
        /// Kernel algorithm name.
        alg: &'static str,
        /// Requested ICV bits.
        bits: u32,
        /// Accepted values.
        allowed: &'static str,
    },
    /// `u32::MAX` is the kernel's "no CPU" value.
    #[error("{0} is the kernel's 'unset' value; use None for a fallback SA")]
    CpuUnset(CpuId),
    /// SA_PCPU needs SA_DIR (`xfrm_user.c`: "SA_PCPU only supported with SA_DIR").
    #[error("per-CPU SA {spi} needs a direction (set dir to In or Out)")]
    PcpuWithoutDir {
        /// SA.
        spi: Spi,
    },
    /// Replay window on an outbound SA (`verify_replay`: must be 0 with SA_DIR out).
    #[error("outbound SA {spi} cannot have a replay window (set replay_window to 0)")]
    OutboundReplay {
        /// SA.
        spi: Spi,
    },
    /// `XFRMA_MTIMER_THRESH` only applies to inbound UDP-encapsulated SAs.
    #[error("SA {spi}: mapping_threshold needs UDP encapsulation and an inbound (or unset) dir")]
    MappingThreshold {
        /// SA.
        spi: Spi,
    },
    /// SPI range empty or containing reserved SPIs 0..=255 (RFC 4303 §2.1).
    #[error("SPI range {min:#x}..={max:#x} is empty or includes reserved SPIs below 256")]
    SpiRange {
        /// Lower bound.
        min: u32,
        /// Upper bound.
        max: u32,
    },
    /// A policy that protects traffic needs at least one template.
    #[error("allow policy for {dir:?} has no template (add one or use Block)")]
    NoTemplate {
        /// Direction.
        dir: PolicyDir,
    },
    /// SPI 0 is reserved.
    #[error("SPI 0 is reserved (RFC 4303 §2.1)")]
    ZeroSpi,
    /// Interface name that cannot be looked up.
    #[error("no network interface named {0:?}")]
    NoSuchInterface(String),
    /// A reqid outside lanes' range passed where a lanes reqid is required.
    #[error("reqid {0:#x} is outside lanes' range (see xfrm_offload::tag)")]
    ForeignReqid(u32),
}

/// Which request the kernel refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// XFRM_MSG_NEWSA.
    AddSa,
    /// XFRM_MSG_UPDSA.
    UpdateSa,
    /// XFRM_MSG_GETSA.
    GetSa,
    /// XFRM_MSG_DELSA.
    DeleteSa,
    /// XFRM_MSG_GETSA dump.
    DumpSa,
    /// XFRM_MSG_ALLOCSPI.
    AllocSpi,
    /// XFRM_MSG_NEWPOLICY.
    AddPolicy,
    /// XFRM_MSG_UPDPOLICY.
    UpdatePolicy,
    /// XFRM_MSG_DELPOLICY.
    DeletePolicy,
    /// XFRM_MSG_GETPOLICY.
    GetPolicy,
    /// XFRM_MSG_GETPOLICY dump.
    DumpPolicy,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Op::AddSa => "XFRM_MSG_NEWSA",
            Op::UpdateSa => "XFRM_MSG_UPDSA",
            Op::GetSa => "XFRM_MSG_GETSA",
            Op::DeleteSa => "XFRM_MSG_DELSA",
            Op::DumpSa => "XFRM_MSG_GETSA (dump)",
            Op::AllocSpi => "XFRM_MSG_ALLOCSPI",
            Op::AddPolicy => "XFRM_MSG_NEWPOLICY",
            Op::UpdatePolicy => "XFRM_MSG_UPDPOLICY",
            Op::DeletePolicy => "XFRM_MSG_DELPOLICY",
            Op::GetPolicy => "XFRM_MSG_GETPOLICY",
            Op::DumpPolicy => "XFRM_MSG_GETPOLICY (dump)",
        };
        f.write_str(s)
    }
}

/// What the request carried, so the hint can name the likely fix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestTraits {
    /// Carried XFRMA_SA_PCPU.
    pub pcpu: bool,
    /// Carried XFRMA_SA_DIR.
    pub dir: bool,
    /// Carried XFRMA_OFFLOAD_DEV.
    pub offload: bool,
    /// Kernel name of the cipher or AEAD, if any.
    pub alg: Option<&'static str>,
}

/// The kernel refused a request: errno, the extack message if the kernel sent
/// one, and a hint naming the likely fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The request.
    pub op: Op,
    /// Positive errno (`EINVAL` = 22, ...).
    pub errno: i32,
    /// The kernel's extended ack message (`NLMSGERR_ATTR_MSG`).
    pub extack: Option<String>,
    /// What usually fixes it.
    pub hint: Option<&'static str>,
}

impl KernelError {
    /// Builds the error and derives the hint from the op, errno and request.
    pub fn new(op: Op, errno: i32, extack: Option<String>, req: RequestTraits) -> Self {
        let hint = hint(op, errno, extack.as_deref(), req);
        Self {
            op,
            errno,
            extack,
            hint,
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "{} failed: {} (errno {})", self.op, os, self.errno)?;
        if let Some(m) = &self.extack {
            write!(f, ", kernel says: {m:?}")?;
        }
        if let Some(h) = self.hint {
            write!(f, "; hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

/// Maps (op, errno, extack, request) to a fix. Sources: `net/xfrm/xfrm_user.c`
/// (`verify_newsa_info`, `xfrm_state_construct`, `attach_aead`),
/// `net/xfrm/xfrm_state.c`, `net/xfrm/xfrm_device.c`.
fn hint(op: Op, errno: i32, extack: Option<&str>, req: RequestTraits) -> Option<&'static str> {
    let is_sa = matches!(op, Op::AddSa | Op::UpdateSa);
    let ext = extack.unwrap_or("");
    match errno {
        libc::EPERM => Some("needs CAP_NET_ADMIN in the network namespace (run as root)"),
        libc::EPROTONOSUPPORT | libc::ENOENT if is_sa && ext.contains("type") => {
            Some("kernel lacks CONFIG_INET_ESP / CONFIG_INET6_ESP (load the esp4 / esp6 module)")
        }
        libc::EPROTONOSUPPORT if is_sa => {
            Some("kernel lacks CONFIG_INET_ESP / CONFIG_INET6_ESP (load the esp4 / esp6 module)")
        }
        libc::ENOSYS if is_sa => Some(match req.alg {
            Some("rfc4106(gcm(aes))") => {
                "kernel lacks the AEAD: load gcm + aes (CONFIG_CRYPTO_GCM, CONFIG_CRYPTO_AES); \
                 if no algorithm works, ESP itself is missing (CONFIG_INET_ESP, esp4)"
            }
            Some("rfc7539esp(chacha20,poly1305)") => {
                "kernel lacks the AEAD: load chacha20poly1305 (CONFIG_CRYPTO_CHACHA20POLY1305); \
                 if no algorithm works, ESP itself is missing (CONFIG_INET_ESP, esp4)"
            }
            _ => {
                "kernel lacks the algorithm: load its crypto module (CONFIG_CRYPTO_CBC, \
                 CONFIG_CRYPTO_SHA256/512, CONFIG_CRYPTO_HMAC); if no algorithm works, ESP \
                 itself is missing (CONFIG_INET_ESP, esp4)"
            }
        }),
        libc::ERANGE if req.pcpu => {
            Some("SA_PCPU CPU number is >= num_possible_cpus(); pick a CPU that exists")
        }
        libc::EINVAL if req.pcpu && ext.contains("SA_DIR") => {
            Some("per-CPU SAs need XFRMA_SA_DIR (set SaSpec::dir)")
        }
        libc::EINVAL if req.pcpu && (ext.is_empty() || ext.contains("PCPU")) => Some(
            "kernel < 6.13 has no per-CPU SAs (XFRMA_SA_PCPU); install without pcpu or upgrade",
        ),
        libc::EINVAL if req.dir && ext.contains("Replay") => {
            Some("outbound SAs take no replay window; inbound ones need one with ESN")
        }
        libc::EINVAL | libc::EOPNOTSUPP | libc::ENODEV if req.offload => Some(
            "the device cannot offload this SA/policy: use offload mode `no` or `auto` (auto falls back)",
        ),
        libc::EEXIST if is_sa => {
            Some("an SA with this (dst, spi, proto) exists: use update or delete it first")
        }
        libc::EEXIST => Some("a policy with this selector and direction exists: use update"),
        libc::ESRCH | libc::ENOENT => Some("no such SA or policy (already deleted or expired?)"),
        libc::ENOBUFS => Some("socket buffer overflow; retry"),
        _ => None,
    }
}

/// The requested offload is not available.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffloadError {
    /// Crypto offload asked for, but the kernel installed the SA in software.
    #[error(
        "crypto offload requested on {iface} but the kernel installed SA {spi} in software \
         (no esp-hw-offload on the device); the SA was removed; use offload `auto` or `no`"
    )]
    SilentFallback {
        /// Interface.
        iface: String,
        /// SA.
        spi: Spi,
    },
    /// The device does not advertise `esp-hw-offload`.
    #[error(
        "{iface} has no esp-hw-offload feature (ethtool -k {iface}); use offload `auto` or `no`"
    )]
    NotCapable {
        /// Interface.
        iface: String,
    },
    /// The device refused a packet-offloaded policy.
    #[error("packet offload of a policy on {iface} refused: {reason}; use offload `auto` or `no`")]
    PolicyRefused {
        /// Interface.
        iface: String,
        /// Kernel error text.
        reason: String,
    },
    /// The kernel refused the offloaded SA or policy.
    #[error("{mode} offload of SA {spi} on {iface} refused: {reason}")]
    Refused {
        /// Interface.
        iface: String,
        /// SA.
        spi: Spi,
        /// "crypto" or "packet".
        mode: &'static str,
        /// Kernel error text.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_fix() {
        let e = KernelError::new(
            Op::AddSa,
            libc::EPROTONOSUPPORT,
            Some("Requested type not found".into()),
            RequestTraits::default(),
        );
        assert!(e.to_string().contains("CONFIG_INET_ESP"), "{e}");
        let e = KernelError::new(
            Op::AddSa,
            libc::EINVAL,
            None,
            RequestTraits {
                pcpu: true,
                dir: true,
                ..Default::default()
            },
        );
        assert!(e.to_string().contains("6.13"), "{e}");
        let e = KernelError::new(
            Op::AddSa,
            libc::ENOSYS,
            Some("Requested AEAD algorithm not found".into()),
            RequestTraits {
                alg: Some("rfc4106(gcm(aes))"),
                ..Default::default()
            },
        );
        assert!(e.to_string().contains("CONFIG_CRYPTO_GCM"), "{e}");
        let e = KernelError::new(Op::DeleteSa, libc::ESRCH, None, RequestTraits::default());
        assert_eq!(e.errno, 3);
        assert!(e.hint.is_some_and(|h| h.contains("no such")));
    }
}
