//! IKE fragmentation (RFC 7383): oversized encrypted messages go out as SKF
//! fragments, and the peer's fragments are reassembled within bounds its
//! traffic cannot exceed.
//!
//! Every fragment is authenticated (ICV) before it is kept (RFC 7383 §2.6);
//! a set is bounded by `max_fragments`, by `max_packet` bytes in all and by
//! `fragment_timeout`; at most one set per direction (request, response)
//! exists per IKE SA, and it goes with the SA.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Ctx, IkeSa, Received};
use crate::config::{EndpointConfig, Fragmentation};
use crate::crypto::CryptoError;
use crate::crypto::sk::{Fragment, OpenError};
use crate::wire::payload::read_chain;
use crate::wire::{ExchangeType, Header, InvalidMessage, Message, Payload, PayloadType, Reader};

/// What fragmentation did on this endpoint, in all (for metrics and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FragStats {
    /// Messages sent as fragments.
    pub messages_sent: u64,
    /// Fragments sent (retransmissions not counted).
    pub fragments_sent: u64,
    /// Authentic fragments received and kept.
    pub fragments_received: u64,
    /// Messages reassembled from fragments.
    pub messages_reassembled: u64,
    /// Fragments dropped: failed ICV, unexpected message, duplicate, smaller
    /// Total Fragments, or over a bound.
    pub fragments_dropped: u64,
}

/// One message being reassembled (RFC 7383 §2.6).
struct Reassembly {
    msg_id: u32,
    exchange: ExchangeType,
    total: u16,
    first_inner: PayloadType,
    /// Decrypted content by Fragment Number - 1.
    pieces: Vec<Option<Vec<u8>>>,
    have: u16,
    bytes: usize,
    expires: Instant,
}

impl Reassembly {
    fn new(h: &Header, total: u16, expires: Instant) -> Self {
        Self {
            msg_id: h.message_id,
            exchange: h.exchange,
            total,
            first_inner: PayloadType::NONE,
            pieces: vec![None; usize::from(total)],
            have: 0,
            bytes: 0,
            expires,
        }
    }

    fn is_for(&self, h: &Header) -> bool {
        self.msg_id == h.message_id && self.exchange == h.exchange
    }

    fn has(&self, number: u16) -> bool {
        usize::from(number)
            .checked_sub(1)
            .and_then(|i| self.pieces.get(i))
            .is_some_and(Option::is_some)
    }

    fn heap_bytes(&self) -> usize {
        size_of::<Self>()
            + self.pieces.capacity() * size_of::<Option<Vec<u8>>>()
            + self
                .pieces
                .iter()
                .flatten()
                .map(Vec::capacity)
                .sum::<usize>()
    }

    /// The inner payloads of the complete message.
    fn payloads(self) -> Result<Vec<Payload>, InvalidMessage> {
        let mut data = Vec::with_capacity(self.bytes);
        for p in self.pieces.into_iter().flatten() {
            data.extend_from_slice(&p);
        }
        read_chain(self.first_inner, &mut Reader::new(&data))
    }
}

/// The IKE SA's sets in progress: one for requests, one for responses.
#[derive(Default)]
pub(crate) struct Defrag {
    slots: [Option<Box<Reassembly>>; 2],
    /// The message given up for its size, per direction: its further
    /// fragments are dropped before decryption.
    refused: [Option<(ExchangeType, u32)>; 2],
}

impl Defrag {
    /// Heap bytes held (for the memory accounting of the SA).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.iter().flatten().map(|r| r.heap_bytes()).sum()
    }

    /// When the oldest incomplete set expires.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|r| r.expires).min()
    }

    /// Frees the sets whose time is up.
    pub(crate) fn expire(&mut self, now: Instant) {
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|r| r.expires <= now) {
                *s = None;
            }
        }
    }
}

/// Largest IKE datagram (non-ESP marker excluded) for `fragment_size`:
/// strongSwan's accounting of 20/40 bytes of IP header, 8 of UDP and 4 of
/// marker on port 4500 (`message.c`, `fragment()`).
pub(crate) fn datagram_limit(fragment_size: usize, remote: SocketAddr, natt: bool) -> usize {
    let (ip, default) = if remote.is_ipv4() {
        (20, 576)
    } else {
        (40, 1280)
    };
    let size = if fragment_size == 0 {
        default
    } else {
        fragment_size
    };
    size.saturating_sub(ip + 8 + if natt { 4 } else { 0 })
}

/// Why a fragment was not kept.
#[derive(Debug, thiserror::Error)]
enum Dropped {
    #[error("not a message we wait for")]
    Unexpected,
    #[error("duplicate")]
    Duplicate,
    #[error("{0}")]
    Bounds(&'static str),
    #[error(transparent)]
    Open(OpenError),
}

impl IkeSa {
    /// Whether we send fragments (strongSwan's `generate_message_fragmented`):
    /// `yes` when the peer announced support, `force` always.
    fn fragments_out(&self) -> bool {
        match self.cfg.fragmentation {
            Fragmentation::Force => true,
            Fragmentation::Yes => self.frag_peer,
            Fragmentation::Accept | Fragmentation::No => false,
        }
    }

    /// Seals `payloads` as one datagram, or as RFC 7383 §2.5 fragments when
    /// that datagram would exceed the fragment size and we fragment.
    pub(crate) fn protect(
        &mut self,
        ctx: &mut Ctx<'_>,
        header: Header,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, CryptoError> {
        let limit = datagram_limit(ctx.cfg.fragment_size, self.remote, self.natt);
        let fragment = self.fragments_out();
        let keys = self
            .keys
            .as_mut()
            .ok_or(CryptoError::Malformed("no keys"))?;
        let whole = keys.protect(ctx.crypto, header, payloads)?;
        if !fragment || whole.len() <= limit {
            return Ok(vec![whole]);
        }
        let frags = match keys.protect_fragments(ctx.crypto, header, payloads, limit) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(ike = ?self.id, error = %e, "cannot fragment, sending the message whole");
                return Ok(vec![whole]);
            }
        };
        let stats = &mut ctx.out.frag;
        stats.messages_sent += 1;
        stats.fragments_sent += frags.len() as u64;
        tracing::info!(ike = ?self.id, exchange = ?header.exchange, response = header.flags.response(),
            size = whole.len(), fragments = frags.len(), limit, "IKE message sent in fragments");
        Ok(frags)
    }

    /// A datagram whose last payload is SKF: checked against the message ID
    /// window, authenticated, kept; once complete, the message is handled as
    /// if it had come in one SK payload.
    pub(super) fn handle_fragment(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        rx: &Received<'_>,
        msg: &Message,
    ) {
        let h = msg.header;
        match self.take_fragment(ctx, now, rx, msg) {
            Ok(Some(inner)) => {
                ctx.out.frag.messages_reassembled += 1;
                let fragments = match msg.payloads.last() {
                    Some(Payload::Skf(f)) => f.total,
                    _ => 0,
                };
                tracing::info!(ike = ?self.id, exchange = ?h.exchange, msg_id = h.message_id, fragments, "IKE message reassembled from fragments");
                let rx = Received {
                    plain: Some(inner.map_err(OpenError::Invalid)),
                    ..*rx
                };
                if h.flags.response() {
                    self.handle_protected_response(ctx, now, &rx, &h);
                } else {
                    self.handle_protected_request(ctx, now, &rx, &h);
                }
            }
            Ok(None) => {}
            Err(why) => {
                ctx.out.frag.fragments_dropped += 1;
                tracing::debug!(ike = ?self.id, msg_id = h.message_id, reason = %why, "IKE fragment dropped");
            }
        }
    }

    /// Keeps an authentic fragment; returns the inner payloads once the set
    /// is complete. Changes nothing for a fragment it drops, except a set it
    /// must give up (over `max_packet`, or superseded by a larger Total
    /// Fragments, RFC 7383 §2.6).
    fn take_fragment(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        rx: &Received<'_>,
        msg: &Message,
    ) -> Result<Option<Result<Vec<Payload>, InvalidMessage>>, Dropped> {
        let h = msg.header;
        let Some(Payload::Skf(skf)) = msg.payloads.last() else {
            return Err(Dropped::Unexpected);
        };
        let (number, total) = (skf.number, skf.total);
        if !self.fragment_expected(ctx, rx, &h, number)? {
            return Ok(None);
        }
        if total > ctx.cfg.dos.max_fragments {
            return Err(Dropped::Bounds("Total Fragments over max_fragments"));
        }
        let dir = usize::from(h.flags.response());
        if self.defrag.refused[dir] == Some((h.exchange, h.message_id)) {
            return Err(Dropped::Bounds("message already refused for its size"));
        }
        let slot = &mut self.defrag.slots[dir];
        if slot.as_ref().is_some_and(|r| r.expires <= now) {
            *slot = None;
        }
        if let Some(r) = slot.as_deref().filter(|r| r.is_for(&h)) {
            // RFC 7383 §2.6: a smaller Total Fragments is discarded.
            if total < r.total {
                return Err(Dropped::Bounds("smaller Total Fragments"));
            }
            if total == r.total && r.has(number) {
                return Err(Dropped::Duplicate);
            }
        }
        let keys = self.keys.as_ref().ok_or(Dropped::Unexpected)?;
        let frag = keys.open_fragment(rx.datagram).map_err(Dropped::Open)?;
        ctx.out.frag.fragments_received += 1;
        let expires = now + ctx.cfg.dos.fragment_timeout;
        let r = match slot {
            // Another message's set, or a larger Total Fragments, starts over
            // (RFC 7383 §2.6).
            Some(r) if r.is_for(&h) && r.total == total => r,
            _ => slot.insert(Box::new(Reassembly::new(&h, total, expires))),
        };
        match keep(r, frag, ctx.cfg) {
            Ok(false) => Ok(None),
            Ok(true) => Ok(slot.take().map(|r| r.payloads())),
            Err(e) => {
                *slot = None;
                self.defrag.refused[dir] = Some((h.exchange, h.message_id));
                Err(e)
            }
        }
    }

    /// Whether a fragment's message is the one we wait for. An authentic
    /// fragment 1 of the request we last answered resends every datagram of
    /// the answer (RFC 7383 §2.6.1); its other fragments are ignored, so a
    /// retransmitted set gets one answer.
    fn fragment_expected(
        &mut self,
        ctx: &mut Ctx<'_>,
        rx: &Received<'_>,
        h: &Header,
        number: u16,
    ) -> Result<bool, Dropped> {
        if h.flags.response() {
            return match &self.outstanding {
                Some(o) if o.msg_id == h.message_id && o.exchange == h.exchange => Ok(true),
                _ => Err(Dropped::Unexpected),
            };
        }
        // Before IKE_AUTH completes only IKE_AUTH (and RFC 9242's
        // IKE_INTERMEDIATE) requests may come.
        let initial = matches!(
            h.exchange,
            ExchangeType::IKE_AUTH | ExchangeType::IKE_INTERMEDIATE
        );
        if !initial && !self.is_established() && !self.is_closing() {
            return Err(Dropped::Unexpected);
        }
        if h.message_id == self.expect_msg_id {
            return Ok(true);
        }
        if h.message_id != self.expect_msg_id.wrapping_sub(1) || self.expect_msg_id == 0 {
            return Err(Dropped::Unexpected);
        }
        if number != 1 {
            return Err(Dropped::Duplicate);
        }
        let keys = self.keys.as_ref().ok_or(Dropped::Unexpected)?;
        keys.open_fragment(rx.datagram).map_err(Dropped::Open)?;
        let answer = self.last_response.clone();
        self.send_all(ctx, &answer);
        Ok(false)
    }
}

/// Stores `frag` in `r`; true when the set is complete.
fn keep(r: &mut Reassembly, frag: Fragment, cfg: &EndpointConfig) -> Result<bool, Dropped> {
    let bytes = r.bytes + frag.data.len();
    if Header::LEN + bytes > cfg.dos.max_packet {
        tracing::warn!(
            msg_id = r.msg_id,
            bytes,
            max_packet = cfg.dos.max_packet,
            "fragmented IKE message larger than max_packet, dropped"
        );
        return Err(Dropped::Bounds("reassembled message over max_packet"));
    }
    let i = usize::from(frag.number).checked_sub(1);
    let Some(slot) = i.and_then(|i| r.pieces.get_mut(i)) else {
        return Err(Dropped::Bounds(
            "Fragment Number not in 1..=Total Fragments",
        ));
    };
    if slot.is_some() {
        return Err(Dropped::Duplicate);
    }
    if frag.number == 1 {
        r.first_inner = frag.first_inner;
    }
    *slot = Some(frag.data);
    r.bytes = bytes;
    r.have += 1;
    Ok(r.have == r.total)
}
