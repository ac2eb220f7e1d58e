//! IKE sockets: UDP 500 and 4500 per listen address (RFC 7296 §2, RFC 3948).
//!
//! * The NAT-T socket sets `UDP_ENCAP_ESPINUDP`, so the kernel takes ESP-in-UDP
//!   and passes up only datagrams with the 4-byte non-ESP marker (and keepalives).
//! * Each socket bypasses IPsec policies (`IP_XFRM_POLICY` allow in and out, as
//!   strongSwan's `bypass_socket`), so IKE never gets caught by its own trap policy.
//! * Wildcard sockets learn each datagram's destination with `IP_PKTINFO` /
//!   `IPV6_RECVPKTINFO` (NAT detection hashes need it) and send with a chosen source.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::net::UdpSocket;

const UDP_ENCAP: libc::c_int = 100;
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;
const IP_XFRM_POLICY: libc::c_int = 17;
const IPV6_XFRM_POLICY: libc::c_int = 35;
/// `sizeof(struct xfrm_userpolicy_info)` on 64-bit Linux.
const USERPOLICY_INFO_LEN: usize = 168;

/// A bound IKE socket.
#[derive(Debug)]
pub struct IkeSocket {
    sock: UdpSocket,
    /// The bound address (possibly unspecified).
    pub local: SocketAddr,
    /// Whether this is the NAT-T port (non-ESP marker in front of IKE).
    pub nat: bool,
}

/// A received datagram.
#[derive(Debug)]
pub struct Datagram {
    /// Sender.
    pub remote: SocketAddr,
    /// The address and port it was sent to.
    pub local: SocketAddr,
    /// Payload length in the caller's buffer.
    pub len: usize,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points at a live T of the given size for the duration of the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: family says this storage holds a sockaddr_in.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: family says this storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Installs allow policies in both directions on the socket (needs CAP_NET_ADMIN).
fn bypass_policies(fd: RawFd, v6: bool) -> io::Result<()> {
    let (level, name, family) = if v6 {
        (libc::IPPROTO_IPV6, IPV6_XFRM_POLICY, libc::AF_INET6 as u16)
    } else {
        (libc::IPPROTO_IP, IP_XFRM_POLICY, libc::AF_INET as u16)
    };
    for dir in [0u8 /* XFRM_POLICY_IN */, 1 /* XFRM_POLICY_OUT */] {
        let mut info = [0u8; USERPOLICY_INFO_LEN];
        info[40..42].copy_from_slice(&family.to_ne_bytes()); // sel.family
        for i in 0..4 {
            // lft: byte and packet limits = XFRM_INF
            info[56 + i * 8..64 + i * 8].copy_from_slice(&u64::MAX.to_ne_bytes());
        }
        info[160] = dir; // dir; action (161) = XFRM_POLICY_ALLOW = 0
        setsockopt(fd, level, name, &info)?;
    }
    Ok(())
}

impl IkeSocket {
    /// Binds `addr`; `nat` marks the NAT-T port (sets UDP_ENCAP_ESPINUDP).
    pub fn bind(addr: SocketAddr, nat: bool) -> io::Result<IkeSocket> {
        let v6 = addr.is_ipv6();
        let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2); the fd is wrapped in OwnedFd immediately.
        let fd = check(unsafe {
            libc::socket(
                domain,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_UDP,
            )
        })?;
        // SAFETY: fd is a fresh descriptor we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let one: libc::c_int = 1;
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)?;
        if v6 {
            setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &one)?;
            setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &one)?;
        } else {
            setsockopt(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, &one)?;
        }
        let (ss, len) = sockaddr(addr);
        // SAFETY: ss/len describe a valid sockaddr for this family.
        check(unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) })?;
        if nat && let Err(e) = setsockopt(fd, libc::IPPROTO_UDP, UDP_ENCAP, &UDP_ENCAP_ESPINUDP) {
            tracing::warn!(%addr, "UDP_ENCAP_ESPINUDP not set ({e}): ESP-in-UDP will not reach the kernel");
        }
        if let Err(e) = bypass_policies(fd, v6) {
            tracing::warn!(%addr, "IPsec bypass policy not set on the IKE socket ({e}); run as root");
        }
        let std_sock = std::net::UdpSocket::from(owned);
        let sock = UdpSocket::from_std(std_sock)?;
        let local = sock.local_addr()?;
        Ok(IkeSocket { sock, local, nat })
    }

    /// Receives one datagram into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let fd = self.sock.as_raw_fd();
        let port = self.local.port();
        let bound = self.local.ip();
        self.sock
            .async_io(Interest::READABLE, || recv_pktinfo(fd, buf, port, bound))
            .await
    }

    /// Sends `data` to `remote` from `local` (the source address matters only on
    /// wildcard sockets).
    pub async fn send(&self, data: &[u8], local: IpAddr, remote: SocketAddr) -> io::Result<()> {
        let fd = self.sock.as_raw_fd();
        let src = (self.local.ip().is_unspecified() && !local.is_unspecified()).then_some(local);
        self.sock
            .async_io(Interest::WRITABLE, || send_from(fd, data, src, remote))
            .await
            .map(|_| ())
    }
}

fn recv_pktinfo(fd: RawFd, buf: &mut [u8], port: u16, bound: IpAddr) -> io::Result<Datagram> {
    // SAFETY: plain data.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16]; // 128 bytes, 8-aligned: room for one pktinfo cmsg
    // SAFETY: plain data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>() as _;
    // SAFETY: msg points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = from_sockaddr(&ss)
        .ok_or_else(|| io::Error::other("datagram from an unknown address family"))?;
    let mut dst = bound;
    // SAFETY: CMSG_* walk the control buffer the kernel filled, bounded by msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_PKTINFO {
                let info = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                dst = IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
                let info = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>());
                dst = IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Datagram {
        remote,
        local: SocketAddr::new(dst, port),
        len: n as usize,
    })
}

fn send_from(fd: RawFd, data: &[u8], src: Option<IpAddr>, remote: SocketAddr) -> io::Result<usize> {
    let (ss, sslen) = sockaddr(remote);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: plain data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&ss as *const libc::sockaddr_storage) as *mut libc::c_void;
    msg.msg_namelen = sslen;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(src) = src {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: the control buffer (128 bytes) holds one pktinfo cmsg; CMSG_* stay within it.
        unsafe {
            match src {
                IpAddr::V4(a) => {
                    let space = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32);
                    msg.msg_controllen = space as _;
                    let c = libc::CMSG_FIRSTHDR(&msg);
                    (*c).cmsg_level = libc::IPPROTO_IP;
                    (*c).cmsg_type = libc::IP_PKTINFO;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
                    let mut info: libc::in_pktinfo = zeroed();
                    info.ipi_spec_dst.s_addr = u32::from(a).to_be();
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
                }
                IpAddr::V6(a) => {
                    let space = libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32);
                    msg.msg_controllen = space as _;
                    let c = libc::CMSG_FIRSTHDR(&msg);
                    (*c).cmsg_level = libc::IPPROTO_IPV6;
                    (*c).cmsg_type = libc::IPV6_PKTINFO;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                    let mut info: libc::in6_pktinfo = zeroed();
                    info.ipi6_addr.s6_addr = a.octets();
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
                }
            }
        }
    }
    // SAFETY: msg points at live buffers of the stated sizes.
    let n = unsafe { libc::sendmsg(fd, &msg, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_round_trip_reports_destination() {
        let a = IkeSocket::bind("127.0.0.1:0".parse().expect("addr"), false).expect("bind a");
        let b = IkeSocket::bind("0.0.0.0:0".parse().expect("addr"), true).expect("bind b");
        let to = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), b.local.port());
        a.send(b"\0\0\0\0hello", a.local.ip(), to)
            .await
            .expect("send");
        let mut buf = [0u8; 64];
        let d = b.recv(&mut buf).await.expect("recv");
        assert_eq!(&buf[..d.len], b"\0\0\0\0hello");
        assert_eq!(d.remote, a.local);
        assert_eq!(
            d.local, to,
            "pktinfo gives the real destination of a wildcard socket"
        );
        // and back, choosing the source on the wildcard socket
        b.send(b"back", Ipv4Addr::LOCALHOST.into(), a.local)
            .await
            .expect("send back");
        let d = a.recv(&mut buf).await.expect("recv back");
        assert_eq!(&buf[..d.len], b"back");
        assert_eq!(d.remote, to);
    }

    #[tokio::test]
    async fn ipv6_loopback() {
        // Skipped only where the kernel has no ::1 at all; with ::1 a bind
        // failure is a failure.
        let has_lo6 = std::fs::read_to_string("/proc/net/if_inet6")
            .is_ok_and(|t| t.lines().any(|l| l.starts_with(&format!("{:032}", 1))));
        if !has_lo6 {
            eprintln!("skipped: no IPv6 loopback (::1 not in /proc/net/if_inet6)");
            return;
        }
        let a = IkeSocket::bind("[::1]:0".parse().expect("addr"), false).expect("bind ::1");
        let b = IkeSocket::bind("[::]:0".parse().expect("addr"), false).expect("bind");
        let to = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), b.local.port());
        a.send(b"six", a.local.ip(), to).await.expect("send");
        let mut buf = [0u8; 16];
        let d = b.recv(&mut buf).await.expect("recv");
        assert_eq!(d.local.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    }
}
