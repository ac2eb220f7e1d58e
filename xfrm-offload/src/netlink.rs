//! The request socket: NETLINK_XFRM over a netlink-sys tokio socket, with
//! sequence matching, acks, dumps, extended-ack messages and batched
//! (pipelined) requests.
//!
//! Why not netlink-proto: SAs carry keys, and this layer owns every buffer a
//! key passes through (send and receive buffers are `Zeroizing`; the kernel's
//! error echo is capped with `NETLINK_CAP_ACK` so keys never come back), it
//! can put many requests into one `sendmsg` (the kernel's `netlink_rcv_skb`
//! runs them in order), and monitor sockets see ENOBUFS directly.

use netlink_packet_core::NetlinkSerializable;
use netlink_packet_xfrm::XfrmMessage;
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols::NETLINK_XFRM};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, KernelError, Op, RequestTraits};

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
const NLMSGERR_ATTR_MSG: u16 = 1;
const HDR: usize = 16;
/// Receive buffer; the kernel sizes dump datagrams up to 32 KiB.
const RX_BUF: usize = 128 * 1024;
/// Requests per `sendmsg` in a batch; their acks must fit the receive buffer.
pub(crate) const BATCH: usize = 64;

/// One netlink message from a datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub body: &'a [u8],
}

/// Splits a datagram into messages (`NLMSG_ALIGN`ed).
pub(crate) fn split(mut buf: &[u8]) -> Result<Vec<Raw<'_>>, Error> {
    let mut out = Vec::new();
    while buf.len() >= HDR {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < HDR || len > buf.len() {
            return Err(Error::Decode(format!(
                "nlmsg_len {len} with {} bytes left",
                buf.len()
            )));
        }
        out.push(Raw {
            ty: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            body: &buf[HDR..len],
        });
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    Ok(out)
}

/// An NLMSG_ERROR body: errno (0 = ack) and the extack message.
pub(crate) fn parse_error(m: &Raw<'_>) -> Result<(i32, Option<String>), Error> {
    if m.body.len() < 4 + HDR {
        return Err(Error::Decode("short NLMSG_ERROR".into()));
    }
    let code = i32::from_ne_bytes([m.body[0], m.body[1], m.body[2], m.body[3]]);
    let mut off = 4 + HDR;
    if m.flags & NLM_F_CAPPED == 0 {
        let orig = u32::from_ne_bytes([m.body[4], m.body[5], m.body[6], m.body[7]]) as usize;
        off = 4 + orig.max(HDR);
    }
    let mut extack = None;
    if m.flags & NLM_F_ACK_TLVS != 0 {
        let mut tlvs = m.body.get(off..).unwrap_or(&[]);
        while tlvs.len() >= 4 {
            let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
            let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]);
            if len < 4 || len > tlvs.len() {
                break;
            }
            if kind == NLMSGERR_ATTR_MSG {
                let v = &tlvs[4..len];
                let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
                extack = Some(String::from_utf8_lossy(&v[..end]).into_owned());
            }
            tlvs = &tlvs[((len + 3) & !3).min(tlvs.len())..];
        }
    }
    Ok((code.saturating_neg(), extack))
}

/// Wipes the used part of a buffer and empties it. Buffers here never
/// reallocate behind our back ([`grow`]), so bytes beyond `len` are zero.
pub(crate) fn wipe(v: &mut Vec<u8>) {
    v.as_mut_slice().zeroize();
    v.clear();
}

/// Makes room for `extra` more bytes without leaving a copy of the old
/// contents in freed memory (a plain `reserve` may move them).
pub(crate) fn grow(v: &mut Vec<u8>, extra: usize) {
    if v.capacity() - v.len() >= extra {
        return;
    }
    let mut bigger = Vec::with_capacity((v.len() + extra).next_power_of_two());
    bigger.extend_from_slice(v);
    wipe(v);
    *v = bigger;
}

/// Appends one request (header + body) to `out`.
pub(crate) fn encode(msg: &XfrmMessage, flags: u16, seq: u32, out: &mut Vec<u8>) {
    let body_len = msg.buffer_len();
    let total = HDR + body_len;
    let start = out.len();
    grow(out, (total + 3) & !3);
    out.resize(start + ((total + 3) & !3), 0);
    let len = u32::try_from(total).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    out[start + 4..start + 6].copy_from_slice(&msg.message_type().to_ne_bytes());
    out[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
    out[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
    msg.serialize(&mut out[start + HDR..start + total]);
}

/// Opens a NETLINK_XFRM socket with extack on and capped error echoes.
pub(crate) fn open_socket() -> Result<TokioSocket, Error> {
    let mut sock = TokioSocket::new(NETLINK_XFRM).map_err(|e| Error::io("socket", e))?;
    let s = sock.socket_mut();
    s.bind_auto().map_err(|e| Error::io("bind", e))?;
    // Best effort: older kernels lack them; errors then carry less detail.
    let _ = s.set_ext_ack(true);
    let _ = s.set_cap_ack(true);
    Ok(sock)
}

/// Raises the receive buffer, with SO_RCVBUFFORCE when privileged.
pub(crate) fn grow_rcvbuf(sock: &TokioSocket, bytes: usize) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let val = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: fd is a valid socket owned by `sock`; the option value is
        // a c_int that outlives the call.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&raw const val).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

/// A request connection. Not shared: [`crate::Xfrm`] wraps it in a mutex.
pub(crate) struct Conn {
    sock: TokioSocket,
    seq: u32,
    rx: Zeroizing<Vec<u8>>,
    tx: Zeroizing<Vec<u8>>,
}

impl Conn {
    pub(crate) fn open() -> Result<Self, Error> {
        let sock = open_socket()?;
        grow_rcvbuf(&sock, 4 << 20);
        Ok(Self {
            sock,
            seq: 0,
            rx: Zeroizing::new(Vec::with_capacity(RX_BUF)),
            tx: Zeroizing::new(Vec::with_capacity(BATCH * 512)),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    async fn send_tx(&mut self) -> Result<(), Error> {
        let kernel = SocketAddr::new(0, 0);
        // Fast path: the socket is non-blocking and the kernel consumes
        // requests synchronously, so a direct send almost never waits.
        let r = match self.sock.socket_ref().send_to(&self.tx, &kernel, 0) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.sock.send_to(&self.tx, &kernel).await
            }
            r => r,
        };
        wipe(&mut self.tx);
        r.map_err(|e| Error::io("sendmsg", e))?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<(), Error> {
        wipe(&mut self.rx);
        grow(&mut self.rx, RX_BUF);
        let rx: &mut Vec<u8> = &mut self.rx;
        // Fast path: XFRM requests run inside sendmsg, so the answer is
        // usually queued already; only wait (epoll) when it is not.
        match self.sock.socket_ref().recv(rx, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::io("recvmsg", e)),
        }
        self.sock
            .recv(rx)
            .await
            .map_err(|e| Error::io("recvmsg", e))?;
        Ok(())
    }

    /// Sends one request and waits for its ack (or error).
    pub(crate) async fn ack(
        &mut self,
        msg: &XfrmMessage,
        flags: u16,
        op: Op,
        traits: RequestTraits,
    ) -> Result<(), Error> {
        let seq = self.next_seq();
        encode(msg, NLM_F_REQUEST | NLM_F_ACK | flags, seq, &mut self.tx);
        self.send_tx().await?;
        loop {
            self.recv().await?;
            for m in split(&self.rx)? {
                if m.seq != seq || m.ty != NLMSG_ERROR {
                    continue;
                }
                let (errno, extack) = parse_error(&m)?;
                if errno == 0 {
                    return Ok(());
                }
                return Err(KernelError::new(op, errno, extack, traits).into());
            }
        }
    }

    /// Sends one request and returns the body of its single reply of type
    /// `want` (GETSA, ALLOCSPI, GETPOLICY).
    pub(crate) async fn get(
        &mut self,
        msg: &XfrmMessage,
        want: u16,
        op: Op,
        traits: RequestTraits,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let seq = self.next_seq();
        encode(msg, NLM_F_REQUEST, seq, &mut self.tx);
        self.send_tx().await?;
        loop {
            self.recv().await?;
            for m in split(&self.rx)? {
                if m.seq != seq {
                    continue;
                }
                if m.ty == want {
                    return Ok(Zeroizing::new(m.body.to_vec()));
                }
                if m.ty == NLMSG_ERROR {
                    let (errno, extack) = parse_error(&m)?;
                    return Err(KernelError::new(op, errno.max(1), extack, traits).into());
                }
            }
        }
    }

    /// Runs a dump and hands each reply of type `want` to `each`.
    pub(crate) async fn dump(
        &mut self,
        msg: &XfrmMessage,
        want: u16,
        op: Op,
        mut each: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = self.next_seq();
        encode(msg, NLM_F_REQUEST | NLM_F_DUMP, seq, &mut self.tx);
        self.send_tx().await?;
        loop {
            self.recv().await?;
            for m in split(&self.rx)? {
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let (errno, extack) = parse_error(&m)?;
                        if errno == 0 {
                            return Ok(());
                        }
                        return Err(
                            KernelError::new(op, errno, extack, RequestTraits::default()).into(),
                        );
                    }
                    t if t == want => each(m.body)?,
                    _ => {}
                }
            }
        }
    }

    /// Sends many requests, [`BATCH`] per `sendmsg`, and collects one result
    /// per request, in order.
    pub(crate) async fn ack_batch(
        &mut self,
        msgs: &[(XfrmMessage, Op, RequestTraits)],
        flags: u16,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let mut results = Vec::with_capacity(msgs.len());
        for chunk in msgs.chunks(BATCH) {
            let mut seqs = Vec::with_capacity(chunk.len());
            for (m, _, _) in chunk {
                let seq = self.next_seq();
                seqs.push(seq);
                encode(m, NLM_F_REQUEST | NLM_F_ACK | flags, seq, &mut self.tx);
            }
            self.send_tx().await?;
            let mut got: Vec<Option<Result<(), Error>>> = (0..chunk.len()).map(|_| None).collect();
            let mut left = chunk.len();
            while left > 0 {
                self.recv().await?;
                for m in split(&self.rx)? {
                    if m.ty != NLMSG_ERROR {
                        continue;
                    }
                    let Some(i) = seqs.iter().position(|s| *s == m.seq) else {
                        continue;
                    };
                    if got[i].is_some() {
                        continue;
                    }
                    let (errno, extack) = parse_error(&m)?;
                    let (_, op, traits) = &chunk[i];
                    got[i] = Some(if errno == 0 {
                        Ok(())
                    } else {
                        Err(KernelError::new(*op, errno, extack, *traits).into())
                    });
                    left -= 1;
                }
            }
            results.extend(got.into_iter().map(|r| r.unwrap_or(Ok(()))));
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_with_extack_parses() {
        // NLMSG_ERROR, flags CAPPED|ACK_TLVS, errno -22, original header, MSG TLV.
        let mut b = Vec::new();
        b.extend_from_slice(&(-22i32).to_ne_bytes());
        b.extend_from_slice(&[0u8; 16]);
        let msg = b"pCPU number too big\0";
        let len = 4 + msg.len();
        b.extend_from_slice(&(len as u16).to_ne_bytes());
        b.extend_from_slice(&1u16.to_ne_bytes());
        b.extend_from_slice(msg);
        let raw = Raw {
            ty: NLMSG_ERROR,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 1,
            body: &b,
        };
        let (errno, ext) = parse_error(&raw).expect("parse");
        assert_eq!(errno, 22);
        assert_eq!(ext.as_deref(), Some("pCPU number too big"));
    }

    #[test]
    fn grow_keeps_contents_and_wipe_zeroes() {
        let mut v = Vec::with_capacity(4);
        v.extend_from_slice(&[1, 2, 3]);
        grow(&mut v, 100);
        assert_eq!(v, [1, 2, 3]);
        assert!(v.capacity() >= 103);
        wipe(&mut v);
        assert!(v.is_empty());
        // SAFETY: capacity >= 3 and u8 has no invalid values.
        unsafe { v.set_len(3) };
        assert_eq!(v, [0, 0, 0]);
    }

    #[test]
    fn split_rejects_bad_length() {
        let mut b = vec![0u8; 20];
        b[0] = 200;
        assert!(split(&b).is_err());
        let mut ok = vec![0u8; 16];
        ok[0] = 16;
        ok[4] = 3;
        let v = split(&ok).expect("split");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].ty, 3);
    }
}
