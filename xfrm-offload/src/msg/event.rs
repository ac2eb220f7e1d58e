//! Kernel notifications: XFRM_MSG_ACQUIRE (`struct xfrm_user_acquire`, 280
//! bytes; `xfrm_user.c` `build_acquire`), XFRM_MSG_EXPIRE (`struct
//! xfrm_user_expire`, 232 bytes; `build_expire`) and XFRM_MSG_MAPPING
//! (`struct xfrm_user_mapping`, 64 bytes; `build_mapping`).

use std::net::{IpAddr, SocketAddr};

use netlink_packet_xfrm::{UserAcquire, UserExpire, UserMapping, UserPolicyInfo};

use crate::error::Error;
use crate::msg::attr::AttrsExt;
use crate::msg::common::{self, from_addr, from_selector, need, parse_attrs, unspecified};
use crate::msg::policy::{PolicyState, Template};
use crate::msg::sa::{MappingChange, SaState};
use crate::types::{CpuId, IpsecProto, Mark, PolicyDir, Reqid, Spi, TrafficSelector};

/// The kernel asks for an SA (a packet hit a policy whose template has none).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acquire {
    /// Sequence number to echo in ALLOCSPI / NEWSA (`xfrm_user_acquire.seq`).
    pub seq: u32,
    /// The CPU that needs an SA (`XFRMA_SA_PCPU`); `None` asks for the
    /// fallback SA. Only with `XFRM_POLICY_CPU_ACQUIRE` (SPEC §3.2).
    pub cpu: Option<CpuId>,
    /// Reqid of the first template (what strongSwan keys acquires on).
    pub reqid: Option<Reqid>,
    /// The templates of the policy.
    pub templates: Vec<Template>,
    /// Selector of the triggering packet (the policy's, narrowed).
    pub selector: TrafficSelector,
    /// Outer source of the wanted SA.
    pub src: IpAddr,
    /// Outer destination of the wanted SA.
    pub dst: IpAddr,
    /// Protocol of the wanted SA.
    pub proto: IpsecProto,
    /// The policy that triggered it.
    pub policy_index: u32,
    /// Its direction.
    pub policy_dir: Option<PolicyDir>,
    /// Mark.
    pub mark: Option<Mark>,
    /// Interface id.
    pub if_id: Option<u32>,
}

impl Acquire {
    /// Parses an XFRM_MSG_ACQUIRE body.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(buf, 280, "xfrm_user_acquire")?;
        let a = UserAcquire::parse(buf).map_err(|e| Error::Decode(e.to_string()))?;
        let attrs = parse_attrs(&buf[280..])?;
        let fam = a.policy.selector.family;
        let addr = |x| from_addr(x, fam).unwrap_or_else(|| unspecified(fam));
        let templates: Vec<Template> = attrs.templates().iter().map(Template::from_user).collect();
        let policy: &UserPolicyInfo = &a.policy;
        Ok(Self {
            seq: a.seq,
            cpu: attrs.sa_pcpu(),
            reqid: templates.first().map(|t| t.reqid),
            selector: from_selector(&a.selector, fam),
            src: addr(&a.saddr),
            dst: addr(&a.id.daddr),
            proto: IpsecProto(a.id.proto),
            policy_index: policy.index,
            policy_dir: PolicyDir::from_raw(policy.direction),
            mark: attrs.mark(),
            if_id: attrs.if_id(),
            templates,
        })
    }
}

/// An SA reached a soft (rekey now) or hard (deleted) limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expire {
    /// The SA (keys never kept).
    pub sa: SaState,
    /// Hard expiry: the kernel deleted the SA.
    pub hard: bool,
}

impl Expire {
    /// Parses an XFRM_MSG_EXPIRE body.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(buf, 232, "xfrm_user_expire")?;
        let e = UserExpire::parse(buf).map_err(|e| Error::Decode(e.to_string()))?;
        let mut attrs = parse_attrs(&buf[232..])?;
        let sa = SaState::from_parts(&e.state, &attrs);
        common::wipe_keys(&mut attrs);
        Ok(Self {
            sa,
            hard: e.hard != 0,
        })
    }
}

impl MappingChange {
    /// Parses an XFRM_MSG_MAPPING body.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(buf, 64, "xfrm_user_mapping")?;
        let m = UserMapping::parse(buf).map_err(|e| Error::Decode(e.to_string()))?;
        let fam = m.id.family;
        let addr = |x| from_addr(x, fam).unwrap_or_else(|| unspecified(fam));
        Ok(Self {
            dst: addr(&m.id.daddr),
            spi: Spi(m.id.spi),
            reqid: Reqid(m.reqid),
            old: SocketAddr::new(addr(&m.old_saddr), m.old_sport),
            new: SocketAddr::new(addr(&m.new_saddr), m.new_sport),
        })
    }
}

/// A policy the kernel expired (XFRM_MSG_POLEXPIRE), parsed loosely.
pub(crate) fn parse_polexpire(buf: &[u8]) -> Result<(PolicyState, bool), Error> {
    // struct xfrm_user_polexpire { xfrm_userpolicy_info pol; __u8 hard; } = 176
    need(buf, 176, "xfrm_user_polexpire")?;
    let pol = PolicyState::parse(&buf[..168])?;
    Ok((pol, buf[168] != 0))
}
