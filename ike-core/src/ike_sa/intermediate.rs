//! IKE_INTERMEDIATE (RFC 9242) carrying the additional key exchanges of
//! RFC 9370 §2.2.2 between IKE_SA_INIT and IKE_AUTH: one exchange per
//! negotiated ADDITIONAL_KEY_EXCHANGE transform, in transform type order,
//! each followed by a key update, and the IntAuth chain that IKE_AUTH signs
//! (RFC 9242 §3.3.2). Message IDs continue from 1; IKE_AUTH takes the next.

use std::collections::VecDeque;
use std::time::Instant;

use super::followup::find_ke;
use super::init::InitResponder;
use super::keys::SaKeys;
use super::{Ctx, IkeSa, Pending, State};
use crate::crypto::ke::ActiveKe;
use crate::crypto::keymat::skeyseed_rekey;
use crate::crypto::prf::{Prf, prf};
use crate::crypto::sk::OpenError;
use crate::crypto::{CryptoProvider, SecretBytes};
use crate::error::{Error, PeerMisbehaved};
use crate::proposal::Selected;
use crate::wire::payload::encode_chain;
use crate::wire::{ExchangeType, Header, Ke, KeId, Notify, NotifyType, Payload, PayloadType};

/// What the IKE SA keeps between IKE_SA_INIT and IKE_AUTH for RFC 9242.
#[derive(Default)]
pub(crate) struct Intermediate {
    /// Additional key exchanges not run yet, in the order they run.
    pub(crate) todo: VecDeque<KeId>,
    /// IntAuth_iN and IntAuth_rN so far; empty before the first exchange.
    pub(crate) int_auth_i: Vec<u8>,
    pub(crate) int_auth_r: Vec<u8>,
    /// Responder: the keys before the last update, which protect a
    /// retransmission of the request that caused it.
    pub(crate) prev: Option<Box<SaKeys>>,
}

impl Intermediate {
    /// The exchanges `sel` asks for.
    pub(crate) fn new(sel: &Selected) -> Self {
        Self {
            todo: sel.additional().collect(),
            ..Self::default()
        }
    }

    /// The octets IKE_AUTH's AUTH adds after MACedID: IntAuth_iN ‖
    /// IntAuth_rN ‖ the IKE_AUTH request's message ID; nothing when no
    /// IKE_INTERMEDIATE took place (RFC 9242 §3.3.2).
    pub(crate) fn auth_octets(&self, auth_msg_id: u32) -> Vec<u8> {
        if self.int_auth_i.is_empty() {
            return Vec::new();
        }
        let mut v = self.int_auth_i.clone();
        v.extend_from_slice(&self.int_auth_r);
        v.extend_from_slice(&auth_msg_id.to_be_bytes());
        v
    }
}

/// IntAuth_N = prf(SK_p, IntAuth_(N-1) ‖ A ‖ P) over one protected message
/// (RFC 9242 §3.3.2): A is the header, any unencrypted payloads and the
/// Encrypted payload's generic header, with both lengths adjusted as if the
/// Encrypted payload held only P, the inner payloads in the clear.
fn chain(
    prf_alg: &dyn Prf,
    sk_p: &[u8],
    prev: &[u8],
    datagram: &[u8],
    inner: &[Payload],
) -> Vec<u8> {
    let mut plain = Vec::new();
    encode_chain(inner, &mut plain);
    let a = unprotected_part(datagram, inner, plain.len());
    prf(prf_alg, sk_p, &[prev, &a, &plain]).to_vec()
}

/// IntAuth_A: the IKE header and the Encrypted payload header with their
/// lengths as if IV, padding and ICV were absent (RFC 9242 §3.3.1). A
/// message that came or went as SKF fragments counts as if it had not been
/// fragmented (RFC 9242 §3.3.2): an SK payload whose Next Payload is the
/// first inner payload.
fn unprotected_part(datagram: &[u8], inner: &[Payload], plain_len: usize) -> Vec<u8> {
    let fragmented = datagram.get(16) == Some(&PayloadType::SKF.0);
    let (mut a, sk_off) = if fragmented {
        let mut a = datagram.get(..Header::LEN).unwrap_or_default().to_vec();
        if let Some(np) = a.get_mut(16) {
            *np = PayloadType::SK.0;
        }
        let first = inner.first().map_or(PayloadType::NONE, Payload::ty);
        a.extend_from_slice(&[first.0, 0, 0, 0]);
        (a, Header::LEN)
    } else {
        let sk_off = sk_offset(datagram).unwrap_or(Header::LEN);
        (
            datagram.get(..sk_off + 4).unwrap_or_default().to_vec(),
            sk_off,
        )
    };
    let total = u32::try_from(a.len() + plain_len).unwrap_or(u32::MAX);
    let sk_len = u16::try_from(4 + plain_len).unwrap_or(u16::MAX);
    if a.len() >= sk_off + 4 {
        a[Header::LENGTH_OFFSET..Header::LENGTH_OFFSET + 4].copy_from_slice(&total.to_be_bytes());
        a[sk_off + 2..sk_off + 4].copy_from_slice(&sk_len.to_be_bytes());
    }
    a
}

/// Offset of the Encrypted payload's generic header in a protected datagram.
fn sk_offset(datagram: &[u8]) -> Option<usize> {
    let mut ty = PayloadType(*datagram.get(16)?);
    let mut off = Header::LEN;
    while ty != PayloadType::SK {
        let g = datagram.get(off..off + 4)?;
        ty = PayloadType(g[0]);
        let len = usize::from(u16::from_be_bytes([g[2], g[3]]));
        if len < 4 {
            return None;
        }
        off += len;
    }
    Some(off)
}

/// The keys after one additional key exchange (RFC 9370 §2.2.2):
/// SKEYSEED(n) = prf(SK_d(n-1), SK(n) ‖ Ni ‖ Nr), SK_*(n) from prf+ as in
/// RFC 7296 §2.14 with the IKE_SA_INIT nonces and SPIs.
fn next_keys(
    crypto: &CryptoProvider,
    sa: &IkeSa,
    st: &InitResponder,
    secret: &SecretBytes,
) -> Option<SaKeys> {
    let (keys, sel) = (sa.keys.as_ref()?, sa.ike_sel.as_ref()?);
    let seed = skeyseed_rekey(keys.prf, &keys.sk_d, secret, &st.ni, &st.nr);
    let (i, r) = (sa.spi_i.0, sa.spi_r.0);
    SaKeys::derive(crypto, sel, &seed, &st.ni, &st.nr, i, r, sa.initiator).ok()
}

impl IkeSa {
    /// Initiator, IKE_SA_INIT (or an IKE_INTERMEDIATE) done: the next
    /// additional key exchange, or IKE_AUTH.
    pub(crate) fn continue_init(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let State::AuthSent(st) = &mut self.state else {
            return;
        };
        let Some(group) = st.inter.todo.pop_front() else {
            return self.start_auth(ctx, now);
        };
        let started = ctx
            .crypto
            .ke(group)
            .and_then(|g| g.start(&*ctx.crypto.random));
        let Ok(ke) = started else {
            return self.die(ctx, Error::Unreachable("key exchange start failed"));
        };
        let payloads = [Payload::Ke(Ke {
            group,
            data: ke.public().to_vec(),
        })];
        let pending = Pending::Intermediate(ke);
        self.send_request(ctx, now, ExchangeType::IKE_INTERMEDIATE, &payloads, pending);
        let (Some(o), Some(keys), State::AuthSent(st)) =
            (&self.outstanding, &self.keys, &mut self.state)
        else {
            return;
        };
        // Sent whole or as fragments: either gives IntAuth's header part.
        let sent = o.fragments.first().unwrap_or(&o.packet);
        st.inter.int_auth_i = chain(keys.prf, &keys.sk_pi, &st.inter.int_auth_i, sent, &payloads);
    }

    /// Initiator: the IKE_INTERMEDIATE response (authentic). Completes the
    /// key exchange, updates the keys and goes on.
    pub(crate) fn handle_intermediate_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        ke: Box<dyn ActiveKe>,
        inner: &[Payload],
        datagram: &[u8],
    ) {
        let State::AuthSent(st) = &self.state else {
            return;
        };
        let secret = find_ke(inner, ke.group()).map(|k| ke.complete(&k.data));
        let Some(Ok(secret)) = secret else {
            let e = super::child::error_notify(inner).map_or(
                Error::PeerMisbehaved(PeerMisbehaved::Invalid("IKE_INTERMEDIATE KE")),
                |n| Error::NotifyReceived(n.ty.0),
            );
            return self.die(ctx, e);
        };
        let Some(next) = next_keys(ctx.crypto, self, st, &secret) else {
            return self.die(ctx, Error::Unreachable("IKE_INTERMEDIATE key update"));
        };
        if let (Some(keys), State::AuthSent(st)) = (&self.keys, &mut self.state) {
            st.inter.int_auth_r =
                chain(keys.prf, &keys.sk_pr, &st.inter.int_auth_r, datagram, inner);
        }
        self.keys = Some(Box::new(next));
        self.continue_init(ctx, now);
    }

    /// Responder: an IKE_INTERMEDIATE request (authentic, message ID in
    /// order). Answers the next additional key exchange and updates the keys.
    pub(crate) fn handle_intermediate_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        inner: &[Payload],
        datagram: &[u8],
    ) {
        let State::InitDone(st) = &self.state else {
            let n = Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            return self.send_response(ctx, ExchangeType::IKE_INTERMEDIATE, msg_id, &[n]);
        };
        let group = st.inter.todo.front().copied();
        let answer = match group {
            None => Ok((Vec::new(), None)),
            Some(g) => find_ke(inner, g)
                .ok_or(())
                .and_then(|k| {
                    ctx.crypto
                        .ke(g)
                        .map_err(drop)?
                        .respond(&*ctx.crypto.random, &k.data)
                        .map_err(drop)
                })
                .map(|(data, s)| (vec![Payload::Ke(Ke { group: g, data })], Some(s))),
        };
        let Ok((payloads, secret)) = answer else {
            let n = Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            self.send_response(ctx, ExchangeType::IKE_INTERMEDIATE, msg_id, &[n]);
            return self.die(
                ctx,
                Error::PeerMisbehaved(PeerMisbehaved::Invalid("IKE_INTERMEDIATE KE")),
            );
        };
        let next = secret.and_then(|s| next_keys(ctx.crypto, self, st, &s));
        if group.is_some() && next.is_none() {
            return self.die(ctx, Error::Unreachable("IKE_INTERMEDIATE key update"));
        }
        self.send_response(ctx, ExchangeType::IKE_INTERMEDIATE, msg_id, &payloads);
        let (Some(keys), Some(sent), State::InitDone(st)) =
            (&self.keys, self.last_response.first(), &mut self.state)
        else {
            return;
        };
        let ia = &mut st.inter;
        ia.int_auth_i = chain(keys.prf, &keys.sk_pi, &ia.int_auth_i, datagram, inner);
        ia.int_auth_r = chain(keys.prf, &keys.sk_pr, &ia.int_auth_r, sent, &payloads);
        if let Some(next) = next {
            ia.todo.pop_front();
            ia.prev = self.keys.replace(Box::new(next));
        }
    }

    /// Whether `datagram` is an authentic request under the current keys or,
    /// right after an IKE_INTERMEDIATE key update, the previous ones (a
    /// retransmission of the request that caused it).
    pub(crate) fn authentic_request(&self, datagram: &[u8]) -> bool {
        let ok = |k: &SaKeys| matches!(k.unprotect(datagram), Ok(_) | Err(OpenError::Invalid(_)));
        let prev = match &self.state {
            State::InitDone(st) => st.inter.prev.as_deref(),
            _ => None,
        };
        self.keys.as_deref().is_some_and(ok) || prev.is_some_and(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::prf::PRF_HMAC_SHA2_256;
    use crate::wire::codec::Reader;
    use crate::wire::payload::read_chain;

    const VECTORS: &str = include_str!("../../tests/data/strongswan_pq_keys.txt");

    fn value(name: &str) -> Vec<u8> {
        let hex = VECTORS
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .expect("vector");
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// strongSwan 6.1's IntAuth of its IKE_INTERMEDIATE request (ML-KEM-768
    /// key share, sent as two fragments) and response: `chain` rebuilds A
    /// from the header and the inner payloads, and gives its IntAuth.
    #[test]
    fn intauth_matches_strongswan_for_request_and_response() {
        for (n, sk_p) in [(0, "ike.sk_pi_secret.0"), (1, "ike.sk_pr_secret.0")] {
            let ap = value(&format!("ike.intauth_a_p.{n}"));
            let (a, p) = ap.split_at(Header::LEN + 4);
            let first = PayloadType(a[Header::LEN]);
            let inner = read_chain(first, &mut Reader::new(p)).expect("inner payloads");
            assert!(matches!(inner.as_slice(), [Payload::Ke(_)]), "{inner:?}");
            // As sent whole (A) and as its first fragment (SKF header only).
            let mut skf = a[..Header::LEN].to_vec();
            skf[16] = PayloadType::SKF.0;
            skf.extend_from_slice(&[0, 0, 0, 8, 0, 1, 0, 2]);
            let want = value(&format!("ike.intauth_n_prf_sk_px_data.{n}"));
            for datagram in [a, &skf[..]] {
                let got = chain(&PRF_HMAC_SHA2_256, &value(sk_p), &[], datagram, &inner);
                assert_eq!(got, want, "IntAuth {n}");
            }
            // Another SK_p gives another IntAuth.
            let other = chain(&PRF_HMAC_SHA2_256, &[0; 32], &[], a, &inner);
            assert_ne!(other, want);
        }
    }
}
