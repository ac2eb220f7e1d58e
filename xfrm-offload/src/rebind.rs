//! Moving an installed SA's remote end: a NAT-T peer whose mapping changed
//! (RFC 3948 §2.2; strongSwan's `kernel_netlink_ipsec.c` `update_sa`). The SA
//! is read back with its keys and replay state (GETSA), its remote address
//! and UDP encapsulation port rewritten, and written again: with UPDSA when
//! its identity (destination, SPI) stays, so the kernel keeps the live state
//! and its sequence numbers (`xfrm_state_update` in net/xfrm/xfrm_state.c
//! copies the new encapsulation into it); otherwise as a new SA, then the old
//! one deleted.

use std::net::SocketAddr;

use netlink_packet_core::Parseable;
use netlink_packet_xfrm::XfrmMessage;
use netlink_packet_xfrm::nlas::XfrmAttrs;
use netlink_packet_xfrm::state::ModifyMessage;

use crate::error::{Error, Op, RequestTraits};
use crate::handle::Xfrm;
use crate::msg::common::{self, family, from_addr, to_addr};
use crate::msg::sa::SaId;
use crate::types::SaDir;

const XFRM_MSG_NEWSA: u16 = 16;

/// Rewrites the NEWSA body `m` of an SA in direction `dir` for a peer now at
/// `remote`: the outbound SA's destination and encapsulation destination
/// port, the inbound SA's source and source port (an inbound SA that
/// accepts any source port, port 0, keeps it). Drops what a new SA must not
/// carry (the offload device, which stays with the kernel's state). Returns
/// the SA's identity afterwards.
pub fn rebind_message(
    m: &mut ModifyMessage,
    dir: SaDir,
    remote: SocketAddr,
) -> Result<SaId, Error> {
    let info = &mut m.user_sa_info;
    if family(&remote.ip()) != info.family {
        return Err(Error::Decode(format!(
            "cannot move an SA of address family {} to {remote}",
            info.family
        )));
    }
    match dir {
        SaDir::Out => info.id.daddr = to_addr(&remote.ip()),
        SaDir::In => info.saddr = to_addr(&remote.ip()),
    }
    for a in &mut m.nlas {
        if let XfrmAttrs::EncapsulationTemplate(e) = a {
            match dir {
                SaDir::Out => e.encap_dport = remote.port(),
                SaDir::In if e.encap_sport != 0 => e.encap_sport = remote.port(),
                SaDir::In => {}
            }
        }
    }
    m.nlas.retain(|a| !matches!(a, XfrmAttrs::OffloadDevice(_)));
    let info = &m.user_sa_info;
    let addr = |a| from_addr(a, info.family).ok_or_else(|| Error::Decode("SA family".into()));
    let mut id = SaId::esp(
        addr(&info.saddr)?,
        addr(&info.id.daddr)?,
        crate::types::Spi(info.id.spi),
    );
    id.proto = crate::types::IpsecProto(info.id.proto);
    Ok(id)
}

fn same_place(a: &SaId, b: &SaId) -> bool {
    (a.dst, a.spi, a.proto) == (b.dst, b.spi, b.proto)
}

impl Xfrm {
    /// Moves the remote end of SA `id` (direction `dir`) to `remote`, keeping
    /// its keys, lifetimes and sequence numbers; returns its new identity.
    pub async fn rebind_sa(
        &self,
        id: &SaId,
        dir: SaDir,
        remote: SocketAddr,
    ) -> Result<SaId, Error> {
        let get = XfrmMessage::GetSa(id.to_message());
        let traits = RequestTraits::default();
        let body = self
            .conn
            .lock()
            .await
            .get(&get, XFRM_MSG_NEWSA, Op::GetSa, traits)
            .await?;
        let mut m = ModifyMessage::parse(&body[..])
            .map_err(|e| Error::Decode(format!("GETSA answer: {e}")))?;
        let mut new_id = rebind_message(&mut m, dir, remote)?;
        new_id.mark = id.mark;
        let in_place = same_place(id, &new_id) && (id.src.is_none() || id.src == new_id.src);
        let result = self.write_moved(id, &m, in_place).await;
        common::wipe_keys(&mut m.nlas);
        result.map(|()| new_id)
    }

    async fn write_moved(
        &self,
        old: &SaId,
        m: &ModifyMessage,
        in_place: bool,
    ) -> Result<(), Error> {
        let traits = RequestTraits::default();
        if in_place {
            let msg = XfrmMessage::UpdateSa(m.clone());
            let r = self
                .conn
                .lock()
                .await
                .ack(&msg, 0, Op::UpdateSa, traits)
                .await;
            wipe(msg);
            return r;
        }
        // Same destination and SPI (an inbound SA whose source moved): the
        // kernel keys SAs by them, so the old one goes first.
        if same_place(old, &id_of(m)?) {
            self.delete_sa(old).await?;
        }
        let msg = XfrmMessage::AddSa(m.clone());
        let r = self.conn.lock().await.ack(&msg, 0, Op::AddSa, traits).await;
        wipe(msg);
        r?;
        if !same_place(old, &id_of(m)?) {
            self.delete_sa(old).await?;
        }
        Ok(())
    }
}

fn id_of(m: &ModifyMessage) -> Result<SaId, Error> {
    let info = &m.user_sa_info;
    let addr = |a| from_addr(a, info.family).ok_or_else(|| Error::Decode("SA family".into()));
    Ok(SaId::esp(
        addr(&info.saddr)?,
        addr(&info.id.daddr)?,
        crate::types::Spi(info.id.spi),
    ))
}

fn wipe(msg: XfrmMessage) {
    if let XfrmMessage::AddSa(mut m) | XfrmMessage::UpdateSa(mut m) = msg {
        common::wipe_keys(&mut m.nlas);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::msg::crypto::SaCrypto;
    use crate::msg::sa::{SaSpec, UdpEncap};
    use crate::types::{Reqid, Spi};

    fn spec(dir: SaDir, sport: u16) -> ModifyMessage {
        let (l, r): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("test value"),
            "192.0.2.1".parse().expect("test value"),
        );
        let (src, dst) = if dir == SaDir::Out { (l, r) } else { (r, l) };
        let key = zeroize::Zeroizing::new(vec![7u8; 20]);
        let mut s = SaSpec::new(
            src,
            dst,
            Spi(0xc000_0001),
            Reqid(1),
            SaCrypto::AesGcm { key, icv_bits: 128 },
        );
        s.dir = Some(dir);
        s.encap = Some(match dir {
            SaDir::Out => UdpEncap {
                sport: 4500,
                dport: 1025,
                oa: None,
            },
            SaDir::In => UdpEncap {
                sport,
                dport: 4500,
                oa: None,
            },
        });
        s.to_message(None).expect("message").0.clone()
    }

    fn encap(m: &ModifyMessage) -> (u16, u16) {
        m.nlas
            .iter()
            .find_map(|a| match a {
                XfrmAttrs::EncapsulationTemplate(e) => Some((e.encap_sport, e.encap_dport)),
                _ => None,
            })
            .expect("encap")
    }

    #[test]
    fn the_outbound_sa_follows_the_peer_to_its_new_port_and_address() {
        let mut m = spec(SaDir::Out, 0);
        let keys_before = m.nlas.len();
        let id = rebind_message(
            &mut m,
            SaDir::Out,
            "192.0.2.1:2001".parse().expect("test value"),
        )
        .expect("rebind");
        assert_eq!(encap(&m), (4500, 2001));
        assert_eq!(id.dst.to_string(), "192.0.2.1");
        assert_eq!(m.nlas.len(), keys_before, "keys and the rest are kept");
        let id = rebind_message(
            &mut m,
            SaDir::Out,
            "198.51.100.9:2001".parse().expect("test value"),
        )
        .expect("rebind");
        assert_eq!(id.dst.to_string(), "198.51.100.9");
        assert_eq!(id.src.map(|a| a.to_string()).as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn the_inbound_sa_takes_the_new_source_port_unless_it_accepts_any() {
        let mut m = spec(SaDir::In, 1025);
        let id = rebind_message(
            &mut m,
            SaDir::In,
            "192.0.2.1:2001".parse().expect("test value"),
        )
        .expect("rebind");
        assert_eq!(encap(&m), (2001, 4500));
        assert_eq!(id.dst.to_string(), "10.0.0.1", "the inbound SA stays ours");
        let mut any = spec(SaDir::In, 0);
        rebind_message(
            &mut any,
            SaDir::In,
            "192.0.2.1:2001".parse().expect("test value"),
        )
        .expect("rebind");
        assert_eq!(encap(&any), (0, 4500));
    }

    #[test]
    fn another_address_family_is_refused() {
        let mut m = spec(SaDir::Out, 0);
        let e = rebind_message(
            &mut m,
            SaDir::Out,
            "[2001:db8::1]:4500".parse().expect("test value"),
        )
        .expect_err("family");
        assert!(e.to_string().contains("family"), "{e}");
        assert_eq!(encap(&m), (4500, 1025), "unchanged");
    }
}
