//! SA messages: NEWSA/UPDSA from a typed [`SaSpec`], GETSA/DELSA from an
//! [`SaId`], ALLOCSPI from a [`SpiRequest`], and the typed read-back
//! [`SaState`] of a kernel NEWSA (`struct xfrm_usersa_info`, 224 bytes, plus
//! attributes; `net/xfrm/xfrm_user.c` `xfrm_add_sa`, `copy_to_user_state_extra`).

use std::net::{IpAddr, SocketAddr};

use netlink_packet_xfrm::{
    EncapTmpl, Id, LifetimeConfig, Mark as NlMark, ReplayEsn, UserOffloadDev, UserSaId, UserSaInfo,
    UserSpiInfo, XfrmAttrs,
    state::{AllocSpiMessage, DelGetMessage, ModifyMessage},
};

use crate::error::{Error, RequestTraits, SpecError};
use crate::msg::attr::{
    AttrsExt, ExtAttr, XFRM_OFFLOAD_INBOUND, XFRM_OFFLOAD_PACKET, XFRM_STATE_AF_UNSPEC,
    XFRM_STATE_ESN,
};
use crate::msg::common::{
    self, Lifetimes, family, from_addr, from_selector, need, parse_attrs, to_addr, to_selector,
    unspecified,
};
use crate::msg::crypto::SaCrypto;
use crate::types::{CpuId, IpsecProto, Mark, Mode, Reqid, SaDir, Spi, TrafficSelector};

/// `UDP_ENCAP_ESPINUDP` (RFC 3948).
pub const UDP_ENCAP_ESPINUDP: u16 = 2;
/// Windows above this need the ESN replay attribute (`xfrm_replay_state` has a
/// 32-bit bitmap).
const LEGACY_REPLAY_MAX: u32 = 32;

/// UDP encapsulation of ESP (NAT-T, RFC 3948). With per-CPU SAs in
/// strongSwan's `encap` mode, each outbound SA gets its own source port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpEncap {
    /// Source port (4500, or a per-SA port).
    pub sport: u16,
    /// Destination port (usually 4500).
    pub dport: u16,
    /// Original address for transport-mode checksum fix-up, if any.
    pub oa: Option<IpAddr>,
}

/// Offload attribute for an SA (`struct xfrm_user_offload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadDev {
    /// Interface index.
    pub ifindex: u32,
    /// Packet offload (`XFRM_OFFLOAD_PACKET`); crypto offload otherwise.
    pub packet: bool,
}

/// Everything needed to install one SA.
///
/// Build with [`SaSpec::new`] and set the public fields. Keys live in
/// [`SaCrypto`] (zeroized on drop).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SaSpec {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// Protocol (ESP).
    pub proto: IpsecProto,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Request id (lanes' range: [`crate::tag`]).
    pub reqid: Reqid,
    /// The acquire's sequence number, so the kernel replaces its larval state
    /// (`xfrm_usersa_info.seq`); 0 when not answering an acquire.
    pub seq: u32,
    /// Algorithms and keys.
    pub crypto: SaCrypto,
    /// Extended sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// Anti-replay window in packets (inbound only; 0 for outbound).
    pub replay_window: u32,
    /// Soft and hard lifetimes.
    pub lifetimes: Lifetimes,
    /// UDP encapsulation.
    pub encap: Option<UdpEncap>,
    /// Inner selector; `None` leaves it empty (tunnel mode).
    pub selector: Option<TrafficSelector>,
    /// `XFRM_STATE_AF_UNSPEC`: a tunnel SA without selector carries inner
    /// packets of either family (4-in-6, 6-in-4). Without it the kernel gives
    /// the empty selector the outer family (`copy_from_user_state` in
    /// net/xfrm/xfrm_user.c), and `xfrm_state_find` skips the SA for flows of
    /// the other one.
    pub any_inner_family: bool,
    /// XFRM mark.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// `XFRMA_SA_DIR`; required with `pcpu` and with offload.
    pub dir: Option<SaDir>,
    /// `XFRMA_SA_PCPU`: the CPU this SA serves; `None` is a fallback SA.
    pub pcpu: Option<CpuId>,
    /// `XFRMA_MTIMER_THRESH` (inbound UDP-encapsulated SAs): seconds between
    /// NAT mapping events; `u32::MAX` silences them, as strongSwan does for
    /// inbound per-CPU SAs whose peer port is unknown.
    pub mapping_threshold: Option<u32>,
}

impl SaSpec {
    /// A tunnel-mode ESP SA with no lifetimes, no replay window, no ESN.
    pub fn new(src: IpAddr, dst: IpAddr, spi: Spi, reqid: Reqid, crypto: SaCrypto) -> Self {
        Self {
            src,
            dst,
            spi,
            proto: IpsecProto::ESP,
            mode: Mode::Tunnel,
            reqid,
            seq: 0,
            crypto,
            esn: false,
            replay_window: 0,
            lifetimes: Lifetimes::default(),
            encap: None,
            selector: None,
            any_inner_family: false,
            mark: None,
            if_id: None,
            dir: None,
            pcpu: None,
            mapping_threshold: None,
        }
    }

    /// The SA's kernel identity.
    pub fn id(&self) -> SaId {
        SaId {
            src: Some(self.src),
            dst: self.dst,
            spi: self.spi,
            proto: self.proto,
            mark: self.mark,
        }
    }

    /// Checks the spec against the kernel's rules (`verify_newsa_info`).
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.spi.0 == 0 {
            return Err(SpecError::ZeroSpi);
        }
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(SpecError::FamilyMismatch {
                what: "SA addresses",
                a: self.src,
                b: self.dst,
            });
        }
        self.crypto.validate()?;
        if let Some(c) = self.pcpu {
            if c.0 == u32::MAX {
                return Err(SpecError::CpuUnset(c));
            }
            if self.dir.is_none() {
                return Err(SpecError::PcpuWithoutDir { spi: self.spi });
            }
        }
        if self.dir == Some(SaDir::Out) && self.replay_window != 0 {
            return Err(SpecError::OutboundReplay { spi: self.spi });
        }
        if self.mapping_threshold.is_some()
            && (self.encap.is_none() || self.dir == Some(SaDir::Out))
        {
            return Err(SpecError::MappingThreshold { spi: self.spi });
        }
        Ok(())
    }

    /// What the request carries, for error hints.
    pub(crate) fn traits(&self, offload: bool) -> RequestTraits {
        RequestTraits {
            pcpu: self.pcpu.is_some(),
            dir: self.dir.is_some(),
            offload,
            alg: Some(self.crypto.kernel_name()),
        }
    }

    /// Builds the NEWSA/UPDSA body. The result holds key copies; it wipes
    /// them when dropped.
    pub fn to_message(&self, offload: Option<OffloadDev>) -> Result<SaMessage, SpecError> {
        self.validate()?;
        let fam = family(&self.src);
        let mut info = UserSaInfo {
            selector: self.selector.as_ref().map(to_selector).unwrap_or_default(),
            id: Id {
                daddr: to_addr(&self.dst),
                spi: self.spi.0,
                proto: self.proto.0,
            },
            saddr: to_addr(&self.src),
            lifetime_cfg: self.lifetimes.to_cfg(),
            seq: self.seq,
            reqid: self.reqid.0,
            family: fam,
            mode: self.mode.to_raw(),
            ..Default::default()
        };
        if self.any_inner_family && self.selector.is_none() {
            info.flags |= XFRM_STATE_AF_UNSPEC;
        }
        let mut nlas = Vec::new();
        if let Some(e) = self.encap {
            nlas.push(XfrmAttrs::EncapsulationTemplate(EncapTmpl {
                encap_type: UDP_ENCAP_ESPINUDP,
                encap_sport: e.sport,
                encap_dport: e.dport,
                encap_oa: e.oa.map(|a| to_addr(&a)).unwrap_or_default(),
            }));
        }
        nlas.extend(self.crypto.attrs());
        // Like strongSwan and iproute2: the ESN attribute for ESN or windows
        // above 32, sent without bitmap (`verify_replay` accepts the bare struct).
        if self.esn || self.replay_window > LEGACY_REPLAY_MAX {
            if self.esn {
                info.flags |= XFRM_STATE_ESN;
            }
            nlas.push(XfrmAttrs::ReplayStateEsn(ReplayEsn {
                bmp_len: self.replay_window.div_ceil(32),
                replay_window: self.replay_window,
                ..Default::default()
            }));
        } else {
            info.replay_window = u8::try_from(self.replay_window).unwrap_or(u8::MAX);
        }
        if let Some(m) = self.mark {
            nlas.push(XfrmAttrs::Mark(NlMark {
                value: m.value,
                mask: m.mask,
            }));
        }
        if let Some(id) = self.if_id {
            nlas.push(XfrmAttrs::IfId(id));
        }
        if let Some(o) = offload {
            let mut flags = if o.packet { XFRM_OFFLOAD_PACKET } else { 0 };
            if self.dir == Some(SaDir::In) {
                flags |= XFRM_OFFLOAD_INBOUND;
            }
            nlas.push(XfrmAttrs::OffloadDevice(UserOffloadDev {
                ifindex: i32::try_from(o.ifindex).unwrap_or(i32::MAX),
                flags,
            }));
        }
        if let Some(t) = self.mapping_threshold {
            nlas.push(XfrmAttrs::MappingTimeThreshold(t));
        }
        if let Some(d) = self.dir {
            nlas.push(ExtAttr::SaDir(d).to_xfrm());
        }
        if let Some(c) = self.pcpu {
            nlas.push(ExtAttr::SaPcpu(c).to_xfrm());
        }
        Ok(SaMessage(ModifyMessage {
            user_sa_info: info,
            nlas,
        }))
    }
}

/// A NEWSA/UPDSA body holding key copies; wiped on drop.
#[derive(Debug)]
pub struct SaMessage(pub(crate) ModifyMessage);

impl SaMessage {
    /// The netlink-packet-xfrm message (for inspection in tests).
    pub fn inner(&self) -> &ModifyMessage {
        &self.0
    }
}

impl Drop for SaMessage {
    fn drop(&mut self) {
        common::wipe_keys(&mut self.0.nlas);
    }
}

/// An SA's kernel identity: (dst, SPI, proto), plus the source address and
/// the mark the kernel also matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SaId {
    /// Source address; iproute2 sends it as XFRMA_SRCADDR.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// Protocol.
    pub proto: IpsecProto,
    /// Mark, if the SA has one.
    pub mark: Option<Mark>,
}

impl SaId {
    /// ESP SA `spi` towards `dst` from `src`.
    pub fn esp(src: IpAddr, dst: IpAddr, spi: Spi) -> Self {
        Self {
            src: Some(src),
            dst,
            spi,
            proto: IpsecProto::ESP,
            mark: None,
        }
    }

    /// The GETSA/DELSA body (`struct xfrm_usersa_id` + SRCADDR + MARK).
    pub fn to_message(&self) -> DelGetMessage {
        let mut nlas = Vec::new();
        if let Some(s) = self.src {
            nlas.push(XfrmAttrs::SrcAddr(to_addr(&s)));
        }
        if let Some(m) = self.mark {
            nlas.push(XfrmAttrs::Mark(NlMark {
                value: m.value,
                mask: m.mask,
            }));
        }
        DelGetMessage {
            user_sa_id: UserSaId {
                daddr: to_addr(&self.dst),
                spi: self.spi.0,
                family: family(&self.dst),
                proto: self.proto.0,
            },
            nlas,
        }
    }
}

/// An ALLOCSPI request: the kernel picks a free SPI in `min..=max` and creates
/// a larval SA (matched later by NEWSA/UPDSA with the same `seq` and `pcpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpiRequest {
    /// Peer (source of the inbound SA).
    pub src: IpAddr,
    /// Local address (destination of the inbound SA).
    pub dst: IpAddr,
    /// Protocol.
    pub proto: IpsecProto,
    /// Mode.
    pub mode: Mode,
    /// Request id.
    pub reqid: Reqid,
    /// The acquire's seq (0 if none).
    pub seq: u32,
    /// Lowest SPI.
    pub min: u32,
    /// Highest SPI.
    pub max: u32,
    /// CPU of the acquire, sent as XFRMA_SA_PCPU.
    pub pcpu: Option<CpuId>,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// `XFRMA_SA_DIR` (usually In: the SPI is ours to receive on).
    pub dir: Option<SaDir>,
}

impl SpiRequest {
    /// An ESP tunnel-mode request over lanes' default range 0xc0000000..=0xcfffffff.
    pub fn new(src: IpAddr, dst: IpAddr, reqid: Reqid) -> Self {
        Self {
            src,
            dst,
            proto: IpsecProto::ESP,
            mode: Mode::Tunnel,
            reqid,
            seq: 0,
            min: 0xc000_0000,
            max: 0xcfff_ffff,
            pcpu: None,
            mark: None,
            if_id: None,
            dir: None,
        }
    }

    /// The ALLOCSPI body (`struct xfrm_userspi_info`, 232 bytes, + attrs).
    pub fn to_message(&self) -> Result<AllocSpiMessage, SpecError> {
        if self.min > self.max || self.min < 256 {
            return Err(SpecError::SpiRange {
                min: self.min,
                max: self.max,
            });
        }
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(SpecError::FamilyMismatch {
                what: "ALLOCSPI addresses",
                a: self.src,
                b: self.dst,
            });
        }
        if let Some(c) = self.pcpu
            && c.0 == u32::MAX
        {
            return Err(SpecError::CpuUnset(c));
        }
        let info = UserSaInfo {
            id: Id {
                daddr: to_addr(&self.dst),
                spi: 0,
                proto: self.proto.0,
            },
            saddr: to_addr(&self.src),
            // iproute2 sends zeros here; the kernel ignores them for ALLOCSPI.
            lifetime_cfg: LifetimeConfig {
                soft_byte_limit: 0,
                hard_byte_limit: 0,
                soft_packet_limit: 0,
                hard_packet_limit: 0,
                soft_add_expires_seconds: 0,
                hard_add_expires_seconds: 0,
                soft_use_expires_seconds: 0,
                hard_use_expires_seconds: 0,
            },
            seq: self.seq,
            reqid: self.reqid.0,
            family: family(&self.src),
            mode: self.mode.to_raw(),
            ..Default::default()
        };
        let mut nlas = Vec::new();
        if let Some(m) = self.mark {
            nlas.push(XfrmAttrs::Mark(NlMark {
                value: m.value,
                mask: m.mask,
            }));
        }
        if let Some(id) = self.if_id {
            nlas.push(XfrmAttrs::IfId(id));
        }
        if let Some(d) = self.dir {
            nlas.push(ExtAttr::SaDir(d).to_xfrm());
        }
        if let Some(c) = self.pcpu {
            nlas.push(ExtAttr::SaPcpu(c).to_xfrm());
        }
        Ok(AllocSpiMessage {
            spi_info: UserSpiInfo {
                info,
                min: self.min,
                max: self.max,
            },
            nlas,
        })
    }
}

/// Offload state read back from the kernel (XFRMA_OFFLOAD_DEV present).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadState {
    /// Device.
    pub ifindex: u32,
    /// Packet (true) or crypto (false) offload.
    pub packet: bool,
    /// Inbound offload.
    pub inbound: bool,
}

/// An SA as the kernel reports it (GETSA, dumps, ALLOCSPI answers). Keys are
/// never kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaState {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// Protocol.
    pub proto: IpsecProto,
    /// Mode.
    pub mode: Mode,
    /// Request id.
    pub reqid: Reqid,
    /// Sequence number (the acquire's, for larval states).
    pub seq: u32,
    /// `xfrm_usersa_info.flags`.
    pub flags: u8,
    /// Selector.
    pub selector: TrafficSelector,
    /// Configured lifetimes.
    pub lifetimes: Lifetimes,
    /// Bytes processed so far.
    pub cur_bytes: u64,
    /// Packets processed so far.
    pub cur_packets: u64,
    /// Packets dropped as replayed or outside the replay window
    /// (`xfrm_stats.replay` + `replay_window`, include/uapi/linux/xfrm.h).
    pub replay_failures: u64,
    /// Packets that failed the ICV check (`xfrm_stats.integrity_failed`).
    pub integrity_failures: u64,
    /// `XFRMA_SA_DIR`.
    pub dir: Option<SaDir>,
    /// `XFRMA_SA_PCPU`.
    pub pcpu: Option<CpuId>,
    /// `XFRMA_OFFLOAD_DEV`: present only when offload is in effect.
    pub offload: Option<OffloadState>,
    /// Mark.
    pub mark: Option<Mark>,
    /// Interface id.
    pub if_id: Option<u32>,
    /// Cipher or AEAD kernel name, if any.
    pub alg: Option<String>,
    /// UDP encapsulation ports.
    pub encap: Option<(u16, u16)>,
}

impl SaState {
    /// The SA's identity, for GETSA/DELSA.
    pub fn id(&self) -> SaId {
        SaId {
            src: Some(self.src),
            dst: self.dst,
            spi: self.spi,
            proto: self.proto,
            mark: self.mark,
        }
    }

    /// Parses a kernel NEWSA/UPDSA body (and wipes the key copies).
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(buf, 224, "xfrm_usersa_info")?;
        let info = UserSaInfo::parse(buf).map_err(|e| Error::Decode(e.to_string()))?;
        let mut attrs = parse_attrs(&buf[224..])?;
        let state = Self::from_parts(&info, &attrs);
        common::wipe_keys(&mut attrs);
        Ok(state)
    }

    pub(crate) fn from_parts(info: &UserSaInfo, attrs: &[XfrmAttrs]) -> Self {
        let fam = info.family;
        let addr = |a| from_addr(a, fam).unwrap_or_else(|| unspecified(fam));
        let alg = attrs.iter().find_map(|a| match a {
            XfrmAttrs::EncryptionAlgAead(x) => Some(common::read_name(&x.alg_name)),
            XfrmAttrs::EncryptionAlg(x) => Some(common::read_name(&x.alg_name)),
            _ => None,
        });
        let encap = attrs.iter().find_map(|a| match a {
            XfrmAttrs::EncapsulationTemplate(e) => Some((e.encap_sport, e.encap_dport)),
            _ => None,
        });
        Self {
            src: addr(&info.saddr),
            dst: addr(&info.id.daddr),
            spi: Spi(info.id.spi),
            proto: IpsecProto(info.id.proto),
            mode: Mode::from_raw(info.mode),
            reqid: Reqid(info.reqid),
            seq: info.seq,
            flags: info.flags,
            selector: from_selector(&info.selector, fam),
            lifetimes: Lifetimes::from_cfg(&info.lifetime_cfg),
            cur_bytes: info.lifetime_cur.bytes,
            cur_packets: info.lifetime_cur.packets,
            replay_failures: u64::from(info.stats.replay) + u64::from(info.stats.replay_window),
            integrity_failures: u64::from(info.stats.integrity_failed),
            dir: attrs.sa_dir(),
            pcpu: attrs.sa_pcpu(),
            offload: attrs.offload_dev().map(|o| OffloadState {
                ifindex: u32::try_from(o.ifindex).unwrap_or(0),
                packet: o.flags & XFRM_OFFLOAD_PACKET != 0,
                inbound: o.flags & XFRM_OFFLOAD_INBOUND != 0,
            }),
            mark: attrs.mark(),
            if_id: attrs.if_id(),
            alg,
            encap,
        }
    }
}

/// NAT mapping change reported by the kernel (XFRM_MSG_MAPPING, RFC 3948).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingChange {
    /// SA destination.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// Request id.
    pub reqid: Reqid,
    /// Old peer address and port.
    pub old: SocketAddr,
    /// New peer address and port.
    pub new: SocketAddr,
}
