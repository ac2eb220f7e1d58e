//! XFRM interfaces (`ip link add NAME type xfrm if_id N`) and routes through
//! them, over rtnetlink (include/uapi/linux/if_link.h `IFLA_XFRM_*`,
//! include/uapi/linux/rtnetlink.h; net/xfrm/xfrm_interface_core.c). Policies
//! and SAs with the same `XFRMA_IF_ID` carry the interface's traffic.

use std::net::IpAddr;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::Error;
use crate::types::IpPrefix;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_XFRM_IF_ID: u16 = 2;
const IFF_UP: u32 = 1;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;

fn attr(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// `struct ifinfomsg` (16 bytes): any family and type, `flags`/`change`.
fn ifinfomsg(flags: u32) -> Vec<u8> {
    let mut v = vec![0u8; 8];
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v
}

/// RTM_NEWLINK body of an XFRM interface `name` with `if_id`, up.
pub fn newlink_body(name: &str, if_id: u32) -> Vec<u8> {
    let mut data = Vec::new();
    attr(&mut data, IFLA_XFRM_IF_ID, &if_id.to_ne_bytes());
    let mut info = Vec::new();
    attr(&mut info, IFLA_INFO_KIND, b"xfrm");
    attr(&mut info, IFLA_INFO_DATA | NLA_F_NESTED, &data);
    let mut body = ifinfomsg(IFF_UP);
    attr(&mut body, IFLA_IFNAME, &name_bytes(name));
    attr(&mut body, IFLA_LINKINFO | NLA_F_NESTED, &info);
    body
}

/// RTM_NEWROUTE body: `dst` through interface `ifindex` (scope link, main table).
pub fn route_body(dst: IpPrefix, ifindex: u32) -> Vec<u8> {
    let family = if dst.addr().is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    } as u8;
    let mut body = vec![
        family,
        dst.prefix_len(),
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_STATIC,
        RT_SCOPE_LINK,
        RTN_UNICAST,
    ];
    body.extend_from_slice(&0u32.to_ne_bytes());
    let addr = match dst.addr() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    attr(&mut body, RTA_DST, &addr);
    attr(&mut body, RTA_OIF, &ifindex.to_ne_bytes());
    body
}

/// Sends one request and waits for its acknowledgement.
fn request(ty: u16, flags: u16, body: &[u8], what: &'static str) -> Result<(), Error> {
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io("rtnetlink socket", e))?;
    sock.bind_auto()
        .map_err(|e| Error::io("rtnetlink bind", e))?;
    let len = 16 + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    sock.send_to(&msg, &SocketAddr::new(0, 0), 0)
        .map_err(|e| Error::io(what, e))?;
    let mut buf = vec![0u8; 8192];
    let n = sock
        .recv(&mut &mut buf[..], 0)
        .map_err(|e| Error::io(what, e))?;
    let reply = &buf[..n];
    let ty = reply.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let errno = reply
        .get(16..20)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (ty, errno) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(e)) => Err(Error::io(what, std::io::Error::from_raw_os_error(-e))),
        _ => Err(Error::Decode(format!(
            "{what}: unexpected rtnetlink answer"
        ))),
    }
}

/// Creates XFRM interface `name` with `if_id` and brings it up; fails with
/// EEXIST when a link of that name exists.
pub fn create_xfrm_interface(name: &str, if_id: u32) -> Result<u32, Error> {
    request(
        RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        &newlink_body(name, if_id),
        "creating the XFRM interface",
    )?;
    ifindex_of(name)
}

/// Deletes link `name`.
pub fn delete_link(name: &str) -> Result<(), Error> {
    let mut body = ifinfomsg(0);
    attr(&mut body, IFLA_IFNAME, &name_bytes(name));
    request(RTM_DELLINK, 0, &body, "deleting the XFRM interface")
}

/// Routes `dst` through interface `ifindex` (replacing a route to `dst`).
pub fn add_route(dst: IpPrefix, ifindex: u32) -> Result<(), Error> {
    request(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_REPLACE,
        &route_body(dst, ifindex),
        "adding a route through the XFRM interface",
    )
}

/// The index of interface `name`.
pub fn ifindex_of(name: &str) -> Result<u32, Error> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| Error::Decode(format!("interface name {name:?} holds a NUL")))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(Error::io(
            "looking up the interface",
            std::io::Error::last_os_error(),
        )),
        i => Ok(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlink_matches_iproute2() {
        // `ip link add xfrm-gwb type xfrm if_id 7` with the interface up:
        // ifinfomsg, IFLA_IFNAME, IFLA_LINKINFO { kind "xfrm", data { IF_ID 7 } }.
        let b = newlink_body("xfrm-gwb", 7);
        assert_eq!(
            &b[8..16],
            &[1, 0, 0, 0, 1, 0, 0, 0],
            "IFF_UP set and changed"
        );
        assert_eq!(&b[16..20], &[13, 0, 3, 0]);
        assert_eq!(&b[20..29], b"xfrm-gwb\0");
        assert_eq!(&b[32..36], &[24, 0, 18, 0x80]);
        assert_eq!(&b[36..44], &[8, 0, 1, 0, b'x', b'f', b'r', b'm']);
        assert_eq!(&b[44..48], &[12, 0, 2, 0x80]);
        assert_eq!(&b[48..56], &[8, 0, 2, 0, 7, 0, 0, 0]);
        assert_eq!(b.len(), 56);
    }

    #[test]
    fn a_route_names_prefix_and_interface() {
        let p = IpPrefix::new("192.168.2.0".parse().expect("test value"), 24).expect("test value");
        let b = route_body(p, 9);
        assert_eq!(&b[..8], &[2, 24, 0, 0, 254, 4, 253, 1]);
        assert_eq!(&b[12..20], &[8, 0, 1, 0, 192, 168, 2, 0]);
        assert_eq!(&b[20..28], &[8, 0, 4, 0, 9, 0, 0, 0]);
    }
}
