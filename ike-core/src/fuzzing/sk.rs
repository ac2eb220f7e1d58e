//! SK harness: the fuzzer supplies plaintext payload chains, the harness
//! seals them with the keys of a real IKE SA (RFC 7296 §3.14) and feeds them
//! to a responder [`Endpoint`], so the code behind the ICV check runs.
//!
//! A real IKE_SA_INIT + IKE_AUTH between [`Peer::A`] and [`Peer::B`] is run
//! once; A's SK keys and datagrams are kept. Each input then replays A's
//! datagrams into a fresh, identically seeded B (which therefore derives the
//! same keys) up to the [`Start`] state and delivers the input's records.
//!
//! Input: records of `[exchange][flags][first payload][msg id][len u16 BE]`
//! followed by `len` bytes of plaintext chain (the last record takes what is
//! left). Flags get the I bit (A is the original initiator). Msg id 0 means
//! the next request id, 1 the previous one, n > 1 the next id + n - 1.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{NET_REQID, Peer, endpoint};
use crate::crypto::SeededRandom;
use crate::crypto::sk::{self, seal_plaintext};
use crate::endpoint::{Endpoint, KernelEvent};
use crate::event::Transmit;
use crate::ike_sa::keys::SaKeys;
use crate::wire::natt::{NATT_PORT, add_marker, strip_marker};
use crate::wire::payload::encode_chain;
use crate::wire::{ExchangeType, Flags, Header, Message, PayloadType};

/// Where B is when the input's records arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// IKE_SA_INIT answered, IKE_AUTH not yet received (next id 1).
    HalfOpen,
    /// IKE_AUTH completed with the first Child SA (next id 2).
    Established,
}

/// Bytes before each record's plaintext.
pub const RECORD_HEADER: usize = 6;
/// Records after this many are ignored (bounds the time per input).
pub const MAX_RECORDS: usize = 16;

/// One decoded input record.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Header flags (the I bit is added).
    pub flags: Flags,
    /// Type of the first payload in `text`.
    pub first: PayloadType,
    /// Message ID selector (see the module docs).
    pub msg_id: u8,
    /// The plaintext payload chain.
    pub text: &'a [u8],
}

impl Record<'_> {
    /// Appends the record in the input format.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.text.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&[self.exchange.0, self.flags.0, self.first.0, self.msg_id]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.text[..usize::from(len)]);
    }
}

/// Splits an input into records.
pub fn records(mut data: &[u8]) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    while data.len() >= RECORD_HEADER && out.len() < MAX_RECORDS {
        let len = usize::from(u16::from_be_bytes([data[4], data[5]]));
        let rest = &data[RECORD_HEADER..];
        let (text, tail) = rest.split_at(len.min(rest.len()));
        out.push(Record {
            exchange: ExchangeType(data[0]),
            flags: Flags(data[1]),
            first: PayloadType(data[2]),
            msg_id: data[3],
            text,
        });
        data = tail;
    }
    out
}

/// A's half of the handshake, recorded once.
struct Recording {
    now: Instant,
    init: Transmit,
    auth: Transmit,
    spi_i: u64,
    spi_r: u64,
    /// A's keys: `out` seals A → B, `inb` opens B → A.
    keys: Box<SaKeys>,
    rng: SeededRandom,
}

fn recording() -> &'static Mutex<Recording> {
    static REC: OnceLock<Mutex<Recording>> = OnceLock::new();
    REC.get_or_init(|| Mutex::new(record()))
}

fn record() -> Recording {
    let now = Instant::now();
    let (mut a, mut b) = (endpoint(Peer::A), endpoint(Peer::B));
    let ike = a
        .initiate(now, "net")
        .expect("A initiates its own connection");
    let sent = ping_pong(&mut a, &mut b, now);
    let mut sent = sent.into_iter();
    let (Some(init), Some(auth)) = (sent.next(), sent.next()) else {
        panic!("A sent no IKE_SA_INIT and IKE_AUTH requests");
    };
    assert_eq!(
        b.established().len(),
        1,
        "the recorded handshake establishes B"
    );
    let sa = a.take_sa(ike).expect("A's IKE SA");
    Recording {
        now,
        init,
        auth,
        spi_i: sa.spi_i.0,
        spi_r: sa.spi_r.0,
        keys: sa.keys.expect("established SA has keys"),
        rng: SeededRandom::new(3),
    }
}

/// Moves datagrams between `a` and `b` until both are quiet; returns what A sent.
pub(crate) fn ping_pong(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> Vec<Transmit> {
    let mut sent = Vec::new();
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now) {
            b.handle_datagram(now, t.local, t.remote, &t.data);
            sent.push(t);
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            a.handle_datagram(now, t.local, t.remote, &t.data);
            moved = true;
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
        if !moved {
            return sent;
        }
    }
}

fn deliver(b: &mut Endpoint, now: Instant, t: &Transmit) {
    b.handle_datagram(now, t.local, t.remote, &t.data);
}

/// Runs one input against a fresh B in state `start`.
pub fn run(start: Start, data: &[u8]) {
    run_with(start, data, drop);
}

fn run_with(start: Start, data: &[u8], done: impl FnOnce(Endpoint)) {
    let mut rec = recording().lock().unwrap_or_else(PoisonError::into_inner);
    let rec = &mut *rec;
    let mut b = endpoint(Peer::B);
    deliver(&mut b, rec.now, &rec.init);
    check_output(&mut b, rec);
    let mut next = 1u32;
    if start == Start::Established {
        deliver(&mut b, rec.now, &rec.auth);
        check_output(&mut b, rec);
        assert_eq!(b.established().len(), 1, "replayed IKE_AUTH establishes B");
        next = 2;
    }
    let mut now = rec.now;
    for r in records(data) {
        let id = match r.msg_id {
            0 => next,
            1 => next.wrapping_sub(1),
            n => next.wrapping_add(u32::from(n) - 1),
        };
        let flags = Flags(r.flags.0 | Flags::INITIATOR.0);
        if r.msg_id == 0 && !flags.response() {
            next = next.wrapping_add(1);
        }
        let h = Header::new(rec.spi_i, rec.spi_r, r.exchange, flags, id);
        let mut d = Vec::new();
        if seal_plaintext(&h, r.first, r.text, &mut *rec.keys.out, &rec.rng, &mut d).is_err() {
            continue;
        }
        if rec.auth.remote.port() == NATT_PORT {
            add_marker(&mut d);
        }
        now += Duration::from_secs(1);
        b.handle_datagram(now, rec.auth.local, rec.auth.remote, &d);
        check_output(&mut b, rec);
    }
    let later = now + Duration::from_secs(7200);
    b.handle_timeout(later);
    check_output(&mut b, rec);
    done(b);
}

/// Drains B. Everything B sends must decode, and everything it protects on
/// the recorded IKE SA must open with A's keys.
fn check_output(b: &mut Endpoint, rec: &Recording) {
    while let Some(t) = b.poll_transmit(rec.now) {
        check_transmit(&t, rec);
    }
    while b.poll_event().is_some() {}
}

fn check_transmit(t: &Transmit, rec: &Recording) {
    let data = if t.local.port() == NATT_PORT {
        strip_marker(&t.data).expect("B's 4500 datagrams carry the non-ESP marker")
    } else {
        &t.data[..]
    };
    let msg = Message::decode(data).expect("B sends only well-formed messages");
    let h = msg.header;
    if (h.spi_i, h.spi_r) != (rec.spi_i, rec.spi_r) {
        return;
    }
    match h.next_payload {
        PayloadType::SK => {
            sk::open(data, &*rec.keys.inb).expect("B's SK messages open with the IKE SA keys");
        }
        PayloadType::SKF => {
            sk::open_fragment(data, &*rec.keys.inb).expect("B's SKF fragments open");
        }
        _ => {}
    }
}

/// B after `data` was delivered in state `start` (for tests: [`run`] drops it).
#[cfg(test)]
pub(crate) fn run_keep(start: Start, data: &[u8]) -> Endpoint {
    let mut out = None;
    run_with(start, data, |b| out = Some(b));
    out.expect("run_with hands B over")
}

/// Every datagram A sends in a real session with B: IKE_SA_INIT, IKE_AUTH,
/// plain and per-CPU CREATE_CHILD_SA, a Child SA rekey and its Delete, a
/// Child SA Delete, an IKE SA rekey and the old IKE SA's Delete.
pub fn real_session() -> Vec<Transmit> {
    let now = recording()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .now;
    let (mut a, mut b) = (endpoint(Peer::A), endpoint(Peer::B));
    let ike = a
        .initiate(now, "net")
        .expect("A initiates its own connection");
    let mut sent = ping_pong(&mut a, &mut b, now);
    let acquire = KernelEvent::Acquire {
        reqid: NET_REQID,
        cpu: Some(0),
        seq: 1,
        ike: None,
    };
    a.handle_kernel(now, acquire);
    sent.extend(ping_pong(&mut a, &mut b, now));
    let children = a.child_sas(ike);
    let first = children.first().expect("IKE_AUTH child").0;
    let other = children.last().expect("second child").0;
    a.rekey_child(now, first).expect("rekey");
    sent.extend(ping_pong(&mut a, &mut b, now));
    a.delete_child(now, other).expect("delete");
    sent.extend(ping_pong(&mut a, &mut b, now));
    a.rekey_ike(now, ike).expect("IKE rekey");
    sent.extend(ping_pong(&mut a, &mut b, now));
    sent
}

/// The requests of [`real_session`] on the recorded IKE SA, decrypted:
/// (header, first inner payload type, plaintext chain).
pub fn real_requests() -> Vec<(Header, PayloadType, Vec<u8>)> {
    let sent = real_session();
    let rec = recording().lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::new();
    for t in &sent {
        let data = strip_marker(&t.data).unwrap_or(&t.data);
        let Ok(m) = sk::open(data, &*rec.keys.out) else {
            continue;
        };
        if m.header.flags.response() || (m.header.spi_i, m.header.spi_r) != (rec.spi_i, rec.spi_r) {
            continue;
        }
        let mut text = Vec::new();
        let first = encode_chain(&m.payloads, &mut text);
        out.push((m.header, first, text));
    }
    out
}
