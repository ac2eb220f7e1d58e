//! IKE_AUTH with a pre-shared key (RFC 7296 §1.2, §2.15) and the first Child SA.

use std::sync::Arc;
use std::time::Instant;

use super::cert::{self, AuthInput, PeerAuth};
use super::init::InitResponder;
use super::keys::SaKeys;
use super::{Ctx, IkeSa, Pending, State, Task};
use crate::config::{ConnectionConfig, Identity};
use crate::connections::Candidate;
use crate::error::{Error, PeerMisbehaved};
use crate::event::Event;
use crate::ids::ConnId;
use crate::pki::OcspQuery;
use crate::timer::jittered;
use crate::wire::{Auth, ExchangeType, Id, Notify, NotifyType, Payload};

use super::child::{ChildReq, get_sa};

fn find_id(inner: &[Payload], initiator: bool) -> Option<&Id> {
    inner.iter().find_map(|p| match (p, initiator) {
        (Payload::Idi(i), true) | (Payload::Idr(i), false) => Some(i),
        _ => None,
    })
}

fn find_auth(inner: &[Payload]) -> Option<&Auth> {
    inner.iter().find_map(|p| match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    })
}

fn has_notify(inner: &[Payload], ty: NotifyType) -> bool {
    inner
        .iter()
        .any(|p| matches!(p, Payload::Notify(n) if n.ty == ty))
}

impl IkeSa {
    /// Initiator: sends IKE_AUTH after IKE_SA_INIT completed.
    pub(crate) fn start_auth(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let conn = self.conn();
        let State::AuthSent(st) = &mut self.state else {
            return;
        };
        let first = st.first_child.take();
        let (Some(keys), Some(_)) = (self.keys.as_ref(), self.ike_sel) else {
            return;
        };
        let idi = conn.local_id.to_wire();
        let int_auth = st.inter.auth_octets(self.next_msg_id);
        let input = AuthInput {
            prf: keys.prf,
            real_message: &st.request,
            peer_nonce: &st.nr,
            sk_p: &keys.sk_pi,
            id: &idi,
            int_auth: &int_auth,
        };
        let auth = match cert::our_auth(&conn, &input, &st.peer_sig) {
            Ok(a) => a,
            Err(e) => return self.die(ctx, e),
        };
        let mut payloads = vec![Payload::Idi(idi.clone())];
        payloads.extend(cert::our_certs(&conn, &st.peer_sig));
        payloads.extend(cert::certreq(&conn));
        if conn.initial_contact {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INITIAL_CONTACT,
                Vec::new(),
            )));
        }
        if let Some(r) = &conn.remote_id {
            payloads.push(Payload::Idr(r.to_wire()));
        }
        payloads.push(Payload::Auth(auth));
        let mut child: Option<Box<ChildReq>> = None;
        if let Some(Task::CreateChild { cfg, cpu, seq }) = first
            && let Some((p, req)) = self.build_child_request(ctx, cfg, cpu, seq, None, true)
        {
            payloads.extend(p);
            child = Some(Box::new(req));
        }
        self.send_request(
            ctx,
            now,
            ExchangeType::IKE_AUTH,
            &payloads,
            Pending::Auth(child),
        );
    }

    pub(crate) fn establish(&mut self, ctx: &mut Ctx<'_>, now: Instant, peer: Identity) {
        let conn = self.conn();
        self.state = State::Established;
        self.announced = true;
        self.established_at.get_or_insert(now);
        self.expire_at = None;
        tracing::info!(ike = ?self.id, conn = %conn.name, spi_i = %self.spi_i, spi_r = %self.spi_r, peer = ?peer, "IKE SA established");
        self.peer_id = Some(peer.clone());
        if !conn.rekey_time.is_zero() {
            self.rekey_at =
                Some(now + jittered(conn.rekey_time, conn.rekey_jitter, ctx.rand_u32()));
        }
        if !conn.dpd_delay.is_zero() {
            self.dpd_at = Some(now + conn.dpd_delay);
        }
        // RFC 3948 §4: the side behind the NAT keeps the mapping open.
        if self.behind_nat {
            self.keepalive_at = Some(now + ctx.cfg.nat_keepalive);
        }
        ctx.out.events.push_back(Event::IkeSaUp {
            ike: self.id,
            conn: self.conn,
            connection: conn.name.clone(),
            initiator: self.initiator,
            peer_id: peer,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            algorithms: self.ike_sel.unwrap_or(crate::proposal::Selected {
                encr: crate::proposal::Encr {
                    id: crate::wire::EncrId::NULL,
                    key_bits: None,
                },
                prf: None,
                integ: None,
                ke: None,
                esn: false,
                ake: [None; 7],
            }),
            local: self.local,
            remote: self.remote,
        });
    }

    /// Initiator: the IKE_AUTH response.
    pub(crate) fn handle_auth_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        child: Option<Box<ChildReq>>,
        inner: &[Payload],
    ) {
        let State::AuthSent(_) = &self.state else {
            return;
        };
        let State::AuthSent(st) = std::mem::replace(&mut self.state, State::Closing) else {
            return;
        };
        let st: Box<InitResponder> = st;
        let conn = self.conn();
        if has_notify(inner, NotifyType::AUTHENTICATION_FAILED) {
            self.die(
                ctx,
                Error::NotifyReceived(NotifyType::AUTHENTICATION_FAILED.0),
            );
            return;
        }
        let (Some(idr), Some(auth)) = (find_id(inner, false), find_auth(inner)) else {
            let e = super::child::error_notify(inner).map_or(
                Error::PeerMisbehaved(PeerMisbehaved::MissingPayload("IDr/AUTH")),
                |n| Error::NotifyReceived(n.ty.0),
            );
            self.die(ctx, e);
            return;
        };
        let peer = Identity::from_wire(idr);
        if conn.remote_id.as_ref().is_some_and(|r| *r != peer) {
            self.die(ctx, cert::identity_refusal(&conn, &peer, inner));
            return;
        }
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        let int_auth = st.inter.auth_octets(self.next_msg_id.wrapping_sub(1));
        let input = AuthInput {
            prf: keys.prf,
            real_message: &st.response,
            peer_nonce: &st.ni,
            sk_p: &keys.sk_pr,
            id: idr,
            int_auth: &int_auth,
        };
        match cert::verify_peer(ctx, now, &conn, &input, auth, inner) {
            Err(e) => return self.die(ctx, e),
            Ok(PeerAuth::Pending(queries)) => {
                self.state = State::AuthSent(st);
                let p = Parked {
                    msg_id: 0,
                    inner: inner.to_vec(),
                    child,
                };
                return self.park(ctx, p, queries);
            }
            Ok(PeerAuth::Verified) => {}
        }
        self.establish(ctx, now, peer);
        if let Some(req) = child {
            self.finish_child(ctx, now, *req, inner, &st.ni, &st.nr);
        }
    }

    /// Responder: the IKE_AUTH request.
    pub(crate) fn handle_auth_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        inner: &[Payload],
    ) {
        let State::InitDone(_) = &self.state else {
            self.send_response(ctx, ExchangeType::IKE_AUTH, msg_id, &[]);
            return;
        };
        let State::InitDone(st) = std::mem::replace(&mut self.state, State::Closing) else {
            return;
        };
        self.announced = true;
        if !st.inter.todo.is_empty() {
            let e = Error::PeerMisbehaved(PeerMisbehaved::Invalid(
                "IKE_AUTH before the additional key exchanges",
            ));
            return self.fail_auth(ctx, msg_id, NotifyType::INVALID_SYNTAX, e);
        }
        let claim = match self.auth_claim(ctx, inner) {
            Ok(claim) => claim,
            Err((ty, e)) => return self.fail_auth(ctx, msg_id, ty, e),
        };
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        let int_auth = st.inter.auth_octets(msg_id);
        let input = AuthInput {
            prf: keys.prf,
            real_message: &st.request,
            peer_nonce: &st.nr,
            sk_p: &keys.sk_pi,
            id: claim.idi,
            int_auth: &int_auth,
        };
        match cert::verify_peer(ctx, now, &claim.conn, &input, claim.auth, inner) {
            Err(e) => return self.fail_auth(ctx, msg_id, NotifyType::AUTHENTICATION_FAILED, e),
            Ok(PeerAuth::Pending(queries)) => {
                self.state = State::InitDone(st);
                let p = Parked {
                    msg_id,
                    inner: inner.to_vec(),
                    child: None,
                };
                return self.park(ctx, p, queries);
            }
            Ok(PeerAuth::Verified) => {}
        }
        let mut peer_sig = st.peer_sig.clone();
        peer_sig.merge(inner);
        let mut payloads = match auth_response(keys, &st, &claim.conn, &peer_sig, msg_id) {
            Ok(p) => p,
            Err(e) => return self.fail_auth(ctx, msg_id, NotifyType::AUTHENTICATION_FAILED, e),
        };
        self.conn = claim.conn_id;
        self.cfg = Arc::clone(&claim.conn);
        if has_notify(inner, NotifyType::INITIAL_CONTACT) {
            ctx.out.initial_contact.push(self.id);
        }
        self.establish(ctx, now, claim.peer);
        if get_sa(inner).is_some() {
            payloads.extend(self.respond_auth_child(ctx, now, inner, &st.ni, &st.nr));
        }
        self.send_response(ctx, ExchangeType::IKE_AUTH, msg_id, &payloads);
    }

    /// Keeps the IKE_AUTH until the OCSP answers it needs come back; the
    /// endpoint hands the lookups out. A retransmitted request meanwhile gets
    /// no answer (RFC 7296 §2.1 lets the peer retry).
    fn park(&mut self, ctx: &mut Ctx<'_>, p: Parked, queries: Vec<OcspQuery>) {
        if !self.initiator {
            self.last_response.clear();
        }
        ctx.out.ocsp.ask(self.id, queries);
        self.parked = Some(Box::new(p));
    }

    /// Runs a parked IKE_AUTH again now that an OCSP answer it waited for
    /// is cached (it parks again if another is still missing).
    pub(crate) fn resume_auth(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let Some(p) = self.parked.take() else {
            return;
        };
        if self.initiator {
            self.handle_auth_response(ctx, now, p.child, &p.inner);
        } else {
            self.handle_auth_request(ctx, now, p.msg_id, &p.inner);
        }
        self.kick(ctx, now);
    }

    /// Answers IKE_AUTH with an error notify and ends this SA.
    fn fail_auth(&mut self, ctx: &mut Ctx<'_>, msg_id: u32, ty: NotifyType, e: Error) {
        let n = Payload::Notify(Notify::new(ty, Vec::new()));
        self.send_response(ctx, ExchangeType::IKE_AUTH, msg_id, &[n]);
        self.die(ctx, e);
    }

    /// Reads IDi, AUTH and IDr and chooses the connection by address, then by
    /// IDi and IDr (RFC 7296 §2.15); the AUTH is not verified yet.
    fn auth_claim<'a>(
        &self,
        ctx: &Ctx<'_>,
        inner: &'a [Payload],
    ) -> Result<AuthClaim<'a>, (NotifyType, Error)> {
        let (Some(idi), Some(auth)) = (find_id(inner, true), find_auth(inner)) else {
            let e = Error::PeerMisbehaved(PeerMisbehaved::MissingPayload("IDi/AUTH"));
            return Err((NotifyType::INVALID_SYNTAX, e));
        };
        let peer = Identity::from_wire(idi);
        let idr = find_id(inner, false).map(Identity::from_wire);
        let sel = self.ike_sel;
        let pick = ctx.conns.pick(
            &Candidate {
                remote: self.remote.ip(),
                local: self.local.ip(),
                peer_id: Some(&peer),
                our_id: idr.as_ref(),
            },
            |c| {
                c.ike_proposals
                    .iter()
                    .any(|p| sel.is_some_and(|s| p.allows(&s)))
            },
        );
        let Some((conn_id, conn)) = pick else {
            // The connection the peer would have had without its ID says why.
            let by_addr = Candidate {
                remote: self.remote.ip(),
                local: self.local.ip(),
                peer_id: None,
                our_id: idr.as_ref(),
            };
            let e = ctx.conns.pick(&by_addr, |_| true).map_or(
                Error::PeerMisbehaved(PeerMisbehaved::UnexpectedIdentity),
                |(_, c)| cert::identity_refusal(&c, &peer, inner),
            );
            return Err((NotifyType::AUTHENTICATION_FAILED, e));
        };
        Ok(AuthClaim {
            idi,
            auth,
            peer,
            conn_id,
            conn,
        })
    }
}

/// Our IDr, CERTs and AUTH for the IKE_AUTH response (RFC 7296 §2.15).
fn auth_response(
    keys: &SaKeys,
    st: &InitResponder,
    conn: &ConnectionConfig,
    peer: &cert::PeerSig,
    msg_id: u32,
) -> Result<Vec<Payload>, Error> {
    let idr = conn.local_id.to_wire();
    let int_auth = st.inter.auth_octets(msg_id);
    let input = AuthInput {
        prf: keys.prf,
        real_message: &st.response,
        peer_nonce: &st.ni,
        sk_p: &keys.sk_pr,
        id: &idr,
        int_auth: &int_auth,
    };
    let auth = cert::our_auth(conn, &input, peer)?;
    let mut v = vec![Payload::Idr(idr)];
    v.extend(cert::our_certs(conn, peer));
    v.push(Payload::Auth(auth));
    Ok(v)
}

/// An IKE_AUTH message waiting for OCSP answers, to be handled again.
pub(crate) struct Parked {
    /// The request's message ID (responder).
    msg_id: u32,
    /// Its decrypted payloads.
    inner: Vec<Payload>,
    /// The first Child SA the request asked for (initiator).
    child: Option<Box<ChildReq>>,
}

/// What an IKE_AUTH request claims: the peer's identity and AUTH, and the
/// connection chosen for it.
struct AuthClaim<'a> {
    idi: &'a Id,
    auth: &'a Auth,
    peer: Identity,
    conn_id: ConnId,
    conn: Arc<ConnectionConfig>,
}
