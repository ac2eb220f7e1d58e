//! Policy messages: NEWPOLICY/UPDPOLICY from a [`PolicySpec`] (`struct
//! xfrm_userpolicy_info`, 168 bytes, + `XFRMA_TMPL`), DELPOLICY/GETPOLICY
//! from a [`PolicyId`] (`struct xfrm_userpolicy_id`, 64 bytes), and the typed
//! read-back [`PolicyState`]. Per-CPU acquires: `XFRM_POLICY_CPU_ACQUIRE` on
//! the outbound policy, template SPI 0 (SPEC §3.1).

use std::net::IpAddr;

use netlink_packet_xfrm::{
    Id, Mark as NlMark, UserOffloadDev, UserPolicyId, UserPolicyInfo, UserTemplate, XfrmAttrs,
    policy::{DelGetMessage, ModifyMessage},
};

use crate::error::{Error, SpecError};
use crate::msg::attr::{AttrsExt, XFRM_OFFLOAD_PACKET, XFRM_POLICY_CPU_ACQUIRE};
use crate::msg::common::{
    Lifetimes, family, from_addr, from_selector, need, parse_attrs, to_addr, to_selector,
    unspecified,
};
use crate::types::{
    IpsecProto, Mark, Mode, PolicyAction, PolicyDir, PortMask, Reqid, Spi, TrafficSelector,
};

/// One template of a policy (`struct xfrm_user_tmpl`): which SA must protect
/// the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    /// Tunnel source (ignored in transport mode).
    pub src: IpAddr,
    /// Tunnel destination.
    pub dst: IpAddr,
    /// Protocol.
    pub proto: IpsecProto,
    /// A fixed SPI; `None` for per-CPU policies (any SA with the reqid).
    pub spi: Option<Spi>,
    /// Mode.
    pub mode: Mode,
    /// Request id matching the SAs.
    pub reqid: Reqid,
    /// `level use`: traffic may pass without this transform (inbound).
    pub optional: bool,
}

impl Template {
    /// An ESP tunnel template.
    pub fn esp_tunnel(src: IpAddr, dst: IpAddr, reqid: Reqid) -> Self {
        Self {
            src,
            dst,
            proto: IpsecProto::ESP,
            spi: None,
            mode: Mode::Tunnel,
            reqid,
            optional: false,
        }
    }

    fn to_user(self) -> UserTemplate {
        UserTemplate {
            id: Id {
                daddr: to_addr(&self.dst),
                spi: self.spi.map_or(0, |s| s.0),
                proto: self.proto.0,
            },
            family: family(&self.dst),
            saddr: to_addr(&self.src),
            reqid: self.reqid.0,
            mode: self.mode.to_raw(),
            share: 0,
            optional: u8::from(self.optional),
            aalgos: u32::MAX,
            ealgos: u32::MAX,
            calgos: u32::MAX,
        }
    }

    pub(crate) fn from_user(t: &UserTemplate) -> Self {
        let addr = |a| from_addr(a, t.family).unwrap_or_else(|| unspecified(t.family));
        Self {
            src: addr(&t.saddr),
            dst: addr(&t.id.daddr),
            proto: IpsecProto(t.id.proto),
            spi: (t.id.spi != 0).then_some(Spi(t.id.spi)),
            mode: Mode::from_raw(t.mode),
            reqid: Reqid(t.reqid),
            optional: t.optional != 0,
        }
    }
}

/// Everything needed to install one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicySpec {
    /// Traffic selector.
    pub selector: TrafficSelector,
    /// Direction.
    pub dir: PolicyDir,
    /// Allow (with templates) or block.
    pub action: PolicyAction,
    /// Lower is preferred.
    pub priority: u32,
    /// `XFRM_POLICY_CPU_ACQUIRE`: the kernel sends one acquire per CPU
    /// (Linux 6.13; set on outbound policies of per-CPU children).
    pub cpu_acquire: bool,
    /// Templates (outermost last, as in iproute2).
    pub templates: Vec<Template>,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// Packet offload of the policy to this ifindex (needed by packet-offloaded SAs).
    pub offload: Option<u32>,
}

impl PolicySpec {
    /// An allow policy with one template.
    pub fn new(selector: TrafficSelector, dir: PolicyDir, template: Template) -> Self {
        Self {
            selector,
            dir,
            action: PolicyAction::Allow,
            priority: 0,
            cpu_acquire: false,
            templates: vec![template],
            mark: None,
            if_id: None,
            offload: None,
        }
    }

    /// The policy's identity, for GETPOLICY/DELPOLICY, in the form the
    /// kernel compares: two specs with one id are one kernel policy
    /// (`xfrm_policy_insert_list` and `xfrm_policy_bysel_ctx` in
    /// net/xfrm/xfrm_policy.c match type, if_id, the whole selector and the
    /// mark's value and mask). A zero mark or if_id is the same as none, and a
    /// port is sent masked.
    pub fn id(&self) -> PolicyId {
        let port = |p: Option<PortMask>| {
            p.filter(|p| p.mask != 0).map(|p| PortMask {
                port: p.port & p.mask,
                mask: p.mask,
            })
        };
        let mut selector = self.selector;
        selector.sport = port(selector.sport);
        selector.dport = port(selector.dport);
        PolicyId {
            selector,
            dir: self.dir,
            mark: self.mark.filter(|m| m.value != 0 || m.mask != 0),
            if_id: self.if_id.filter(|&i| i != 0),
        }
    }

    /// The NEWPOLICY/UPDPOLICY body.
    pub fn to_message(&self) -> Result<ModifyMessage, SpecError> {
        if self.action == PolicyAction::Allow && self.templates.is_empty() {
            return Err(SpecError::NoTemplate { dir: self.dir });
        }
        for t in &self.templates {
            if t.src.is_ipv4() != t.dst.is_ipv4() {
                return Err(SpecError::FamilyMismatch {
                    what: "template",
                    a: t.src,
                    b: t.dst,
                });
            }
        }
        let info = UserPolicyInfo {
            selector: to_selector(&self.selector),
            lifetime_cfg: Lifetimes::default().to_cfg(),
            priority: self.priority,
            index: 0,
            direction: self.dir.to_raw(),
            action: match self.action {
                PolicyAction::Allow => 0,
                PolicyAction::Block => 1,
            },
            flags: if self.cpu_acquire {
                XFRM_POLICY_CPU_ACQUIRE
            } else {
                0
            },
            share: 0,
            ..Default::default()
        };
        let mut nlas = Vec::new();
        if !self.templates.is_empty() {
            nlas.push(XfrmAttrs::Template(
                self.templates.iter().map(|t| t.to_user()).collect(),
            ));
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
        if let Some(ifindex) = self.offload {
            nlas.push(XfrmAttrs::OffloadDevice(UserOffloadDev {
                ifindex: i32::try_from(ifindex).unwrap_or(i32::MAX),
                flags: XFRM_OFFLOAD_PACKET,
            }));
        }
        Ok(ModifyMessage {
            user_policy_info: info,
            nlas,
        })
    }
}

/// A policy's identity: selector, direction, and the mark / if_id the kernel
/// also matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// Selector.
    pub selector: TrafficSelector,
    /// Direction.
    pub dir: PolicyDir,
    /// Mark.
    pub mark: Option<Mark>,
    /// Interface id.
    pub if_id: Option<u32>,
}

impl PolicyId {
    /// The GETPOLICY/DELPOLICY body.
    pub fn to_message(&self) -> DelGetMessage {
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
        DelGetMessage {
            user_policy_id: UserPolicyId {
                selector: to_selector(&self.selector),
                index: 0,
                direction: self.dir.to_raw(),
            },
            nlas,
        }
    }
}

/// A policy as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyState {
    /// Selector.
    pub selector: TrafficSelector,
    /// Direction (`None` for socket policies).
    pub dir: Option<PolicyDir>,
    /// Block or allow.
    pub action: PolicyAction,
    /// Priority.
    pub priority: u32,
    /// Kernel index.
    pub index: u32,
    /// Raw flags (`XFRM_POLICY_*`).
    pub flags: u8,
    /// Templates.
    pub templates: Vec<Template>,
    /// Mark.
    pub mark: Option<Mark>,
    /// Interface id.
    pub if_id: Option<u32>,
    /// Offload device if the policy is offloaded.
    pub offload: Option<u32>,
}

impl PolicyState {
    /// True when `XFRM_POLICY_CPU_ACQUIRE` is set.
    pub fn cpu_acquire(&self) -> bool {
        self.flags & XFRM_POLICY_CPU_ACQUIRE != 0
    }

    /// The identity to delete or get it.
    pub fn id(&self) -> Option<PolicyId> {
        Some(PolicyId {
            selector: self.selector,
            dir: self.dir?,
            mark: self.mark,
            if_id: self.if_id,
        })
    }

    /// Parses a kernel NEWPOLICY body.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        need(buf, 168, "xfrm_userpolicy_info")?;
        let info = UserPolicyInfo::parse(buf).map_err(|e| Error::Decode(e.to_string()))?;
        let attrs = parse_attrs(&buf[168..])?;
        Ok(Self::from_parts(&info, &attrs))
    }

    pub(crate) fn from_parts(info: &UserPolicyInfo, attrs: &[XfrmAttrs]) -> Self {
        let fam = info.selector.family;
        Self {
            selector: from_selector(&info.selector, fam),
            dir: PolicyDir::from_raw(info.direction),
            action: if info.action == 1 {
                PolicyAction::Block
            } else {
                PolicyAction::Allow
            },
            priority: info.priority,
            index: info.index,
            flags: info.flags,
            templates: attrs.templates().iter().map(Template::from_user).collect(),
            mark: attrs.mark(),
            if_id: attrs.if_id(),
            offload: attrs
                .offload_dev()
                .map(|o| u32::try_from(o.ifindex).unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::IpPrefix;

    fn spec() -> PolicySpec {
        let a: IpAddr = "10.1.0.0".parse().unwrap_or_else(|e| panic!("{e}"));
        let b: IpAddr = "10.2.0.0".parse().unwrap_or_else(|e| panic!("{e}"));
        let sel = TrafficSelector::new(
            IpPrefix::new(a, 16).unwrap_or_else(|e| panic!("{e}")),
            IpPrefix::new(b, 16).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = Template::esp_tunnel(a, b, Reqid(1));
        PolicySpec::new(sel, PolicyDir::Out, t)
    }

    #[test]
    fn id_is_the_kernels_identity() {
        let plain = spec();
        let mut zeros = spec();
        zeros.mark = Some(Mark { value: 0, mask: 0 });
        zeros.if_id = Some(0);
        zeros.selector.sport = Some(PortMask { port: 7, mask: 0 });
        zeros.priority += 1;
        zeros.cpu_acquire = !zeros.cpu_acquire;
        assert_eq!(plain.id(), zeros.id());
        assert_eq!(
            to_selector(&plain.selector),
            to_selector(&zeros.id().selector)
        );

        let mut masked = spec();
        masked.selector.dport = Some(PortMask {
            port: 0x1234,
            mask: 0xff00,
        });
        assert_eq!(
            masked.id().selector.dport,
            Some(PortMask {
                port: 0x1200,
                mask: 0xff00
            })
        );

        for differ in [
            PolicySpec {
                mark: Some(Mark { value: 1, mask: 0 }),
                ..spec()
            },
            PolicySpec {
                if_id: Some(3),
                ..spec()
            },
            PolicySpec {
                dir: PolicyDir::Fwd,
                ..spec()
            },
        ] {
            assert_ne!(plain.id(), differ.id());
        }
    }
}
