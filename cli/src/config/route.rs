//! Route-based VPN settings (strongSwan's swanctl.conf `if_id_in`/`if_id_out`,
//! `mark_in`/`mark_out`): XFRM interface ids and marks on SAs and policies
//! (`XFRMA_IF_ID`, `XFRMA_MARK` in include/uapi/linux/xfrm.h), and the XFRM
//! interface lanes creates for a child (`interface`, with `install_routes`).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::locate::Seg;
use super::validate::Problem;
use super::{Child, Connection};

/// An XFRM mark: `42`, `"0x2a"` or `"0x2a/0xff"` (value/mask; the mask
/// defaults to all ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkConf {
    /// Value.
    pub value: u32,
    /// Mask.
    pub mask: u32,
}

fn number(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("{s:?} is not a 32-bit number (decimal or 0x hex)"))
}

impl std::str::FromStr for MarkConf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (v, m) = s.split_once('/').unwrap_or((s, "0xffffffff"));
        Ok(MarkConf {
            value: number(v)?,
            mask: number(m)?,
        })
    }
}

impl<'de> Deserialize<'de> for MarkConf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(value) => Ok(MarkConf {
                value,
                mask: u32::MAX,
            }),
            Raw::Text(s) => s
                .parse()
                .map_err(|e| de::Error::custom(format!("mark: {e}; write value/mask"))),
        }
    }
}

impl fmt::Display for MarkConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}/{:#x}", self.value, self.mask)
    }
}

impl Child {
    /// `if_id_in`, else the connection's.
    pub fn if_id_in(&self, c: &Connection) -> Option<u32> {
        self.if_id_in.or(c.if_id_in)
    }
    /// `if_id_out`, else the connection's.
    pub fn if_id_out(&self, c: &Connection) -> Option<u32> {
        self.if_id_out.or(c.if_id_out)
    }
}

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// An XFRM interface carries one if_id both ways, and has a valid name.
pub(super) fn problems(
    c: &Connection,
    ch: &Child,
    k: &dyn Fn(&str) -> Vec<Seg>,
    out: &mut Vec<Problem>,
) {
    let prob = |key: &str, m: String| Problem {
        key: k(key),
        message: m,
    };
    if ch.install_routes && ch.interface.is_none() {
        out.push(prob(
            "install_routes",
            "routes go through the child's XFRM interface: set interface too".into(),
        ));
    }
    let Some(name) = &ch.interface else {
        return;
    };
    let bad = |ch: char| !(ch.is_ascii_alphanumeric() || "-_.".contains(ch));
    if name.is_empty() || name.len() > IFNAME_MAX || name.chars().any(bad) {
        out.push(prob(
            "interface",
            format!("{name:?}: an interface name is 1 to 15 letters, digits, '-', '_' or '.'"),
        ));
    }
    match (ch.if_id_in(c), ch.if_id_out(c)) {
        (Some(i), Some(o)) if i == o && i != 0 => {}
        (Some(i), Some(o)) if i == o => out.push(prob(
            "if_id_out",
            "if_id 0 means no interface: pick another number".into(),
        )),
        (i, o) => out.push(prob(
            "if_id_out",
            format!(
                "an XFRM interface has one if_id: set if_id_in and if_id_out to the same non-zero number (now {i:?} and {o:?})"
            ),
        )),
    }
    // Children may share an interface (route-based: one link, several
    // selector pairs), but then also its if_id.
    let mine = ch.if_id_out(c);
    if let Some((other, _)) = c
        .children
        .iter()
        .find(|(_, o)| o.interface.as_ref() == Some(name) && o.if_id_out(c) != mine)
    {
        out.push(prob(
            "interface",
            format!("{name:?} is also child {other:?}'s interface with another if_id: give both the same if_id_in/if_id_out"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = r#"
[connections.gw-b]
local_addrs = ["10.0.0.1"]
remote_addrs = ["10.0.0.2"]
if_id_in = 42
local = { auth = "psk" }
remote = { auth = "psk" }
[connections.gw-b.children.net]
remote_ts = ["192.168.2.0/24"]
[secrets.s]
secret = "x"
"#;

    fn parse(child_extra: &str) -> Result<Config, String> {
        let src = BASE.replace(
            "remote_ts = [\"192.168.2.0/24\"]",
            &format!("remote_ts = [\"192.168.2.0/24\"]\n{child_extra}"),
        );
        Config::parse(&src, Path::new("lanes.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn marks_take_numbers_and_value_mask_text() {
        let cfg = parse("mark_in = 7\nmark_out = \"0x2a/0xff\"").expect("valid");
        let c = &cfg.connections["gw-b"];
        let ch = &c.children["net"];
        assert_eq!(ch.mark_in.map(|m| (m.value, m.mask)), Some((7, u32::MAX)));
        assert_eq!(ch.mark_out.map(|m| (m.value, m.mask)), Some((0x2a, 0xff)));
        assert_eq!((ch.if_id_in(c), ch.if_id_out(c)), (Some(42), None));
        let e = parse("mark_out = \"0x2a/zz\"").expect_err("bad mask");
        assert!(e.contains("value/mask") && e.contains(":"), "{e}");
    }

    #[test]
    fn an_interface_needs_one_non_zero_if_id_and_a_valid_name() {
        let ok = parse("if_id_out = 42\ninterface = \"xfrm-gwb\"\ninstall_routes = true");
        assert!(ok.is_ok(), "{ok:?}");
        let e = parse("interface = \"xfrm-gwb\"").expect_err("if_id_out missing");
        assert!(
            e.contains("set if_id_in and if_id_out to the same non-zero number"),
            "{e}"
        );
        let e = parse("if_id_out = 42\ninterface = \"a-name-much-too-long\"").expect_err("name");
        assert!(e.contains("1 to 15 letters"), "{e}");
        let e = parse("install_routes = true").expect_err("routes without interface");
        assert!(e.contains("set interface too"), "{e}");
    }

    #[test]
    fn children_share_an_interface_only_with_its_if_id() {
        let two = |if_id: u32| {
            format!(
                "if_id_out = 42\ninterface = \"xfrm-gwb\"\n\
                 [connections.gw-b.children.two]\nremote_ts = [\"192.168.4.0/24\"]\n\
                 if_id_out = {if_id}\ninterface = \"xfrm-gwb\""
            )
        };
        let cfg = parse(&two(42)).unwrap_or_else(|e| panic!("same if_id is fine: {e}"));
        assert_eq!(cfg.connections["gw-b"].children.len(), 2);
        let e = parse(&two(43)).expect_err("another if_id on the same interface");
        assert!(
            e.contains("is also child") && e.contains("same if_id_in/if_id_out"),
            "{e}"
        );
    }
}
