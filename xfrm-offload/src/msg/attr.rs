//! XFRM attributes and flags that netlink-packet-xfrm 0.5 lacks, as typed
//! values converting to and from its `XfrmAttrs::Other(DefaultNla)`.
//!
//! Numbers from `include/uapi/linux/xfrm.h` (Linux 6.13+): `XFRMA_SA_DIR` = 33
//! (u8, Linux 6.10), `XFRMA_SA_PCPU` = 35 (u32, Linux 6.13, commit
//! 1ddf9916ac09), `XFRM_OFFLOAD_PACKET` = 4 (Linux 6.2),
//! `XFRM_POLICY_CPU_ACQUIRE` = 4 (Linux 6.13).

use netlink_packet_core::{DefaultNla, Nla};
use netlink_packet_xfrm::{Mark as NlMark, UserOffloadDev, UserTemplate, XfrmAttrs};

use crate::types::{CpuId, Mark, SaDir};

/// `XFRMA_SA_DIR`.
pub const XFRMA_SA_DIR: u16 = 33;
/// `XFRMA_NAT_KEEPALIVE_INTERVAL`.
pub const XFRMA_NAT_KEEPALIVE_INTERVAL: u16 = 34;
/// `XFRMA_SA_PCPU`.
pub const XFRMA_SA_PCPU: u16 = 35;
/// `XFRM_OFFLOAD_IPV6`: legacy, ignored by the kernel.
pub const XFRM_OFFLOAD_IPV6: u8 = 1;
/// `XFRM_OFFLOAD_INBOUND`.
pub const XFRM_OFFLOAD_INBOUND: u8 = 2;
/// `XFRM_OFFLOAD_PACKET`: full packet offload (policies must be offloaded too).
pub const XFRM_OFFLOAD_PACKET: u8 = 4;
/// `XFRM_POLICY_LOCALOK`.
pub const XFRM_POLICY_LOCALOK: u8 = 1;
/// `XFRM_POLICY_ICMP`.
pub const XFRM_POLICY_ICMP: u8 = 2;
/// `XFRM_POLICY_CPU_ACQUIRE`: one acquire per CPU (outbound policies).
pub const XFRM_POLICY_CPU_ACQUIRE: u8 = 4;
/// `XFRM_STATE_ESN` (`xfrm_usersa_info.flags`).
pub const XFRM_STATE_ESN: u8 = 128;
/// `XFRM_STATE_AF_UNSPEC`.
pub const XFRM_STATE_AF_UNSPEC: u8 = 32;

/// The attributes this crate adds on top of netlink-packet-xfrm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtAttr {
    /// `XFRMA_SA_DIR`.
    SaDir(SaDir),
    /// `XFRMA_SA_PCPU`.
    SaPcpu(CpuId),
}

impl ExtAttr {
    /// As a netlink-packet-xfrm attribute (native-endian, like the kernel's
    /// `nla_put_u8` / `nla_put_u32`).
    pub fn to_xfrm(self) -> XfrmAttrs {
        match self {
            ExtAttr::SaDir(d) => XfrmAttrs::Other(DefaultNla::new(XFRMA_SA_DIR, vec![d.to_raw()])),
            ExtAttr::SaPcpu(c) => {
                XfrmAttrs::Other(DefaultNla::new(XFRMA_SA_PCPU, c.0.to_ne_bytes().to_vec()))
            }
        }
    }

    /// Recognises one of our attributes; `None` for anything else or a
    /// malformed value.
    pub fn from_xfrm(attr: &XfrmAttrs) -> Option<Self> {
        let XfrmAttrs::Other(nla) = attr else {
            return None;
        };
        let mut value = vec![0u8; nla.value_len()];
        nla.emit_value(&mut value);
        match nla.kind() {
            XFRMA_SA_DIR => value
                .first()
                .and_then(|v| SaDir::from_raw(*v))
                .map(ExtAttr::SaDir),
            XFRMA_SA_PCPU => {
                let b: [u8; 4] = value.get(..4)?.try_into().ok()?;
                Some(ExtAttr::SaPcpu(CpuId(u32::from_ne_bytes(b))))
            }
            _ => None,
        }
    }
}

/// Typed accessors over an attribute list (from any XFRM message).
pub trait AttrsExt {
    /// `XFRMA_SA_PCPU`.
    fn sa_pcpu(&self) -> Option<CpuId>;
    /// `XFRMA_SA_DIR`.
    fn sa_dir(&self) -> Option<SaDir>;
    /// `XFRMA_OFFLOAD_DEV`.
    fn offload_dev(&self) -> Option<UserOffloadDev>;
    /// `XFRMA_TMPL`.
    fn templates(&self) -> &[UserTemplate];
    /// `XFRMA_MARK`.
    fn mark(&self) -> Option<Mark>;
    /// `XFRMA_IF_ID`.
    fn if_id(&self) -> Option<u32>;
}

impl AttrsExt for [XfrmAttrs] {
    fn sa_pcpu(&self) -> Option<CpuId> {
        self.iter().find_map(|a| match ExtAttr::from_xfrm(a) {
            Some(ExtAttr::SaPcpu(c)) => Some(c),
            _ => None,
        })
    }

    fn sa_dir(&self) -> Option<SaDir> {
        self.iter().find_map(|a| match ExtAttr::from_xfrm(a) {
            Some(ExtAttr::SaDir(d)) => Some(d),
            _ => None,
        })
    }

    fn offload_dev(&self) -> Option<UserOffloadDev> {
        self.iter().find_map(|a| match a {
            XfrmAttrs::OffloadDevice(d) => Some(*d),
            _ => None,
        })
    }

    fn templates(&self) -> &[UserTemplate] {
        self.iter()
            .find_map(|a| match a {
                XfrmAttrs::Template(t) => Some(t.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    fn mark(&self) -> Option<Mark> {
        self.iter().find_map(|a| match a {
            XfrmAttrs::Mark(NlMark { value, mask }) => Some(Mark {
                value: *value,
                mask: *mask,
            }),
            _ => None,
        })
    }

    fn if_id(&self) -> Option<u32> {
        self.iter().find_map(|a| match a {
            XfrmAttrs::IfId(v) => Some(*v),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, NlaBuffer, Parseable};

    fn emit(a: &XfrmAttrs) -> Vec<u8> {
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut b);
        b
    }

    #[test]
    fn sa_pcpu_bytes_and_round_trip() {
        let a = ExtAttr::SaPcpu(CpuId(3)).to_xfrm();
        let mut want = vec![8, 0, 35, 0];
        want.extend_from_slice(&3u32.to_ne_bytes());
        assert_eq!(emit(&a), want);
        let b = emit(&a);
        let parsed = XfrmAttrs::parse(&NlaBuffer::new(&b[..])).expect("parse");
        assert_eq!(ExtAttr::from_xfrm(&parsed), Some(ExtAttr::SaPcpu(CpuId(3))));
    }

    #[test]
    fn sa_dir_bytes_pad_to_four() {
        let a = ExtAttr::SaDir(SaDir::Out).to_xfrm();
        assert_eq!(emit(&a), vec![5, 0, 33, 0, 2, 0, 0, 0]);
        let b = emit(&a);
        let parsed = XfrmAttrs::parse(&NlaBuffer::new(&b[..])).expect("parse");
        assert_eq!([parsed].sa_dir(), Some(SaDir::Out));
    }

    #[test]
    fn unknown_other_is_not_ours() {
        let a = XfrmAttrs::Other(DefaultNla::new(34, vec![1, 0, 0, 0]));
        assert_eq!(ExtAttr::from_xfrm(&a), None);
        let bad = XfrmAttrs::Other(DefaultNla::new(XFRMA_SA_DIR, vec![9]));
        assert_eq!(ExtAttr::from_xfrm(&bad), None);
    }
}
