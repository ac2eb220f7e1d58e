//! Tests of the fuzz harnesses, crash regressions and the seed generator
//! (`cargo test -p ike-core -- --ignored write_fuzz_seeds` rewrites
//! `ike-core/fuzz/seeds/`).

use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};

use super::sequence::{self, Action, Sim};
use super::sk::{self, Record, Start};
use super::{PER_CPU_MAX, Peer};
use crate::crypto::{CryptoProvider, IkeSaCrypto, IkeSuite};
use crate::wire::natt::{NATT_PORT, strip_marker};
use crate::wire::payload::{encode_chain, read_chain};
use crate::wire::{EncrId, IntegId, KeId, PrfId};
use crate::wire::{ExchangeType, Payload, PayloadType, Reader};

/// Encodes actions the way `Vec<Action>::arbitrary_take_rest` reads them
/// (arbitrary 1.x: a `true` byte before each element, enums as a
/// little-endian u32 scaled by the variant count, integers little-endian).
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn variant(&mut self, index: u64, count: u64) {
        let v = u32::try_from((index << 32).div_ceil(count)).expect("index < count");
        self.0.extend(v.to_le_bytes());
    }
    fn peer(&mut self, p: Peer) {
        self.variant(p as u64, 2);
    }
    fn bool(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }
    fn opt(&mut self, v: Option<u8>) {
        self.bool(v.is_some());
        self.0.extend(v);
    }
    fn action(&mut self, a: &Action) {
        match *a {
            Action::Initiate(p) => {
                self.variant(0, 13);
                self.peer(p);
            }
            Action::Deliver(n) => {
                self.variant(1, 13);
                self.0.push(n);
            }
            Action::Drop(n) => {
                self.variant(2, 13);
                self.0.push(n);
            }
            Action::Duplicate(n) => {
                self.variant(3, 13);
                self.0.push(n);
            }
            Action::Corrupt { packet, at, xor } => {
                self.variant(4, 13);
                self.0.push(packet);
                self.0.extend(at.to_le_bytes());
                self.0.push(xor);
            }
            Action::Advance { secs } => {
                self.variant(5, 13);
                self.0.extend(secs.to_le_bytes());
            }
            Action::CreateChild { peer, plain, cpu } => {
                self.variant(6, 13);
                self.peer(peer);
                self.bool(plain);
                self.opt(cpu);
            }
            Action::Acquire {
                peer,
                plain,
                cpu,
                seq,
            } => {
                self.variant(7, 13);
                self.peer(peer);
                self.bool(plain);
                self.opt(cpu);
                self.0.push(seq);
            }
            Action::Expire { peer, child, hard } => {
                self.variant(8, 13);
                self.peer(peer);
                self.0.push(child);
                self.bool(hard);
            }
            Action::RekeyChild { peer, child } => {
                self.variant(9, 13);
                self.peer(peer);
                self.0.push(child);
            }
            Action::DeleteChild { peer, child } => {
                self.variant(10, 13);
                self.peer(peer);
                self.0.push(child);
            }
            Action::RekeyIke(p) => {
                self.variant(11, 13);
                self.peer(p);
            }
            Action::Close(p) => {
                self.variant(12, 13);
                self.peer(p);
            }
        }
    }
}

fn encode_actions(actions: &[Action]) -> Vec<u8> {
    let mut e = Enc::default();
    for a in actions {
        e.bool(true);
        e.action(a);
    }
    e.0
}

fn decode_actions(data: &[u8]) -> Vec<Action> {
    Vec::<Action>::arbitrary_take_rest(Unstructured::new(data)).expect("take_rest never fails")
}

/// Deliver whatever is in flight, oldest first, `n` times.
fn deliver(n: usize) -> impl Iterator<Item = Action> {
    std::iter::repeat_n(Action::Deliver(0), n)
}

fn connect() -> Vec<Action> {
    std::iter::once(Action::Initiate(Peer::A))
        .chain(deliver(4))
        .collect()
}

/// Named action lists: the `sequence` target's seeds.
fn sequence_seeds() -> Vec<(&'static str, Vec<Action>)> {
    let acquire = |peer, plain, cpu, seq| Action::Acquire {
        peer,
        plain,
        cpu,
        seq,
    };
    let mut children = connect();
    for (peer, cpu) in [(Peer::A, 0), (Peer::A, 1), (Peer::B, 2), (Peer::A, 3)] {
        children.push(acquire(peer, false, Some(cpu), cpu));
        children.extend(deliver(2));
    }
    children.push(Action::CreateChild {
        peer: Peer::B,
        plain: true,
        cpu: None,
    });
    children.extend(deliver(2));
    let mut rekeys = connect();
    rekeys.push(Action::RekeyChild {
        peer: Peer::A,
        child: 0,
    });
    rekeys.extend(deliver(4));
    rekeys.push(Action::RekeyIke(Peer::B));
    rekeys.extend(deliver(4));
    rekeys.push(Action::Close(Peer::A));
    rekeys.extend(deliver(2));
    let mut lossy = vec![
        Action::Initiate(Peer::A),
        Action::Drop(0),
        Action::Advance { secs: 5 },
    ];
    lossy.extend([
        Action::Duplicate(0),
        Action::Deliver(1),
        Action::Deliver(0),
        Action::Deliver(0),
    ]);
    lossy.extend([
        Action::Corrupt {
            packet: 0,
            at: 40,
            xor: 1,
        },
        Action::Deliver(0),
    ]);
    lossy.extend([
        Action::Advance { secs: 30 },
        Action::Deliver(0),
        Action::Deliver(0),
    ]);
    let mut both = vec![Action::Initiate(Peer::A), Action::Initiate(Peer::B)];
    both.extend(deliver(10));
    both.extend([Action::RekeyIke(Peer::A), Action::RekeyIke(Peer::B)]);
    both.extend(deliver(10));
    let mut expire = connect();
    expire.extend([
        Action::Expire {
            peer: Peer::A,
            child: 0,
            hard: false,
        },
        Action::Deliver(0),
    ]);
    expire.extend([
        Action::Expire {
            peer: Peer::B,
            child: 1,
            hard: true,
        },
        Action::Advance { secs: 4000 },
    ]);
    expire.push(Action::DeleteChild {
        peer: Peer::A,
        child: 0,
    });
    expire.extend(deliver(4));
    vec![
        ("connect", connect()),
        ("children", children),
        ("rekeys", rekeys),
        ("lossy", lossy),
        ("simultaneous", both),
        ("expire", expire),
    ]
}

fn record(h: &crate::wire::Header, first: PayloadType, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = h.flags;
    Record {
        exchange: h.exchange,
        flags,
        first,
        msg_id: 0,
        text,
    }
    .encode(&mut out);
    out
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let reqs = sk::real_requests();
    let mut after_auth = Vec::new();
    for (i, (h, first, text)) in reqs.iter().enumerate() {
        let r = record(h, *first, text);
        let (target, name) = match h.exchange {
            ExchangeType::IKE_AUTH => ("sk_ike_auth", "ike-auth"),
            ExchangeType::CREATE_CHILD_SA => ("sk_create_child", "create-child-sa"),
            _ => ("sk_informational", "informational"),
        };
        if h.exchange != ExchangeType::IKE_AUTH {
            after_auth.extend_from_slice(&r);
        }
        out.push((target, format!("{i:02}-{name}.bin"), r));
    }
    let dpd = Record {
        exchange: ExchangeType::INFORMATIONAL,
        flags: crate::wire::Flags::INITIATOR,
        first: PayloadType::NONE,
        msg_id: 0,
        text: &[],
    };
    let mut d = Vec::new();
    dpd.encode(&mut d);
    out.push(("sk_informational", "dpd.bin".into(), d));
    out.push(("sk_create_child", "session.bin".into(), after_auth.clone()));
    out.push(("sk_informational", "session.bin".into(), after_auth));
    for (name, actions) in sequence_seeds() {
        out.push(("sequence", format!("{name}.bin"), encode_actions(&actions)));
    }
    out.extend(datagram_seeds());
    out
}

/// Seeds of the datagram targets from A's side of a real session: `decode`
/// (each datagram), `responder` and `endpoint` (all of them as
/// `[port][u16 length][datagram]` records), `sk_open` (real requests sealed
/// with that target's fixed keys, whole and as SKF fragments).
fn datagram_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut records = Vec::new();
    for (i, t) in sk::real_session().iter().enumerate() {
        let port = t.remote.port();
        let msg = strip_marker(&t.data)
            .filter(|_| port == NATT_PORT)
            .unwrap_or(&t.data);
        out.push(("decode", format!("lanes-{i:02}-{port}.bin"), msg.to_vec()));
        records.push(u8::from(port == NATT_PORT));
        let len = u16::try_from(t.data.len()).expect("datagram fits a record");
        records.extend(len.to_be_bytes());
        records.extend(&t.data);
    }
    out.push(("responder", "lanes-session.bin".into(), records.clone()));
    out.push(("endpoint", "lanes-session.bin".into(), records));
    let frags = session_records(&fragmented_session());
    out.push((
        "responder",
        "lanes-session-fragments.bin".into(),
        frags.clone(),
    ));
    out.push(("endpoint", "lanes-session-fragments.bin".into(), frags));
    let p = CryptoProvider::seeded(0);
    let suites = [
        ("gcm", EncrId::AES_GCM_16, IntegId::NONE),
        ("cbc", EncrId::AES_CBC, IntegId::HMAC_SHA2_256_128),
    ];
    for (name, encr, integ) in suites {
        let suite = IkeSuite {
            encr,
            encr_key_bits: Some(128),
            prf: PrfId::HMAC_SHA2_256,
            integ,
            ke: KeId::CURVE25519,
        };
        let mut k = IkeSaCrypto::derive(&p, suite, &[1; 32], &[2; 32], &[3; 32], 1, 2, true)
            .expect("fixed keys");
        for (i, (h, first, text)) in sk::real_requests().iter().enumerate() {
            let inner = read_chain(*first, &mut Reader::new(text)).expect("real chain decodes");
            let mut msg = Vec::new();
            k.seal(&p, h, &inner, &mut msg).expect("seal");
            out.push(("sk_open", format!("{name}-{i:02}.bin"), msg));
            if i == 0 {
                let frags = k.seal_fragments(&p, h, &inner, 160).expect("fragments");
                for (j, f) in frags.into_iter().enumerate() {
                    out.push(("sk_open", format!("{name}-{i:02}-fragment-{j}.bin"), f));
                }
            }
        }
    }
    out
}

/// A's datagrams of an IKE_SA_INIT and an IKE_AUTH sent as RFC 7383 SKF
/// fragments (A forces fragmentation at 256 bytes), so the datagram targets
/// start inside reassembly. B is the harness's own B, which reassembles
/// whatever its setting.
fn fragmented_session() -> Vec<crate::event::Transmit> {
    let mut cfg = super::config(Peer::A);
    cfg.fragment_size = 256;
    cfg.connections[0].fragmentation = crate::config::Fragmentation::Force;
    let mut a = crate::endpoint::Endpoint::new(cfg, CryptoProvider::seeded(1));
    let mut b = super::endpoint(Peer::B);
    let now = std::time::Instant::now();
    a.initiate(now, "net")
        .expect("A initiates its own connection");
    let sent = sk::ping_pong(&mut a, &mut b, now);
    assert!(a.frag_stats().messages_sent > 0 && b.frag_stats().messages_reassembled > 0);
    assert!(
        !a.established().is_empty(),
        "the fragmented IKE_AUTH completes"
    );
    sent
}

/// Datagrams as `[port is 4500][u16 length][datagram]` records.
fn session_records(sent: &[crate::event::Transmit]) -> Vec<u8> {
    let mut records = Vec::new();
    for t in sent {
        records.push(u8::from(t.remote.port() == NATT_PORT));
        let len = u16::try_from(t.data.len()).expect("datagram fits a record");
        records.extend(len.to_be_bytes());
        records.extend(&t.data);
    }
    records
}

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

#[test]
#[ignore = "writes ike-core/fuzz/seeds; run after changing what the engine sends"]
fn write_fuzz_seeds() {
    for (target, name, bytes) in seeds() {
        let dir = seeds_dir().join(target);
        std::fs::create_dir_all(&dir).expect("create seeds dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
}

#[test]
fn committed_seeds_are_current() {
    for (target, name, bytes) in seeds() {
        let path = seeds_dir().join(target).join(&name);
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} is stale; run `cargo test -p ike-core -- --ignored write_fuzz_seeds`",
            path.display()
        );
    }
}

#[test]
fn real_session_yields_every_exchange() {
    let reqs = sk::real_requests();
    let count = |x| reqs.iter().filter(|(h, _, _)| h.exchange == x).count();
    assert_eq!(count(ExchangeType::IKE_AUTH), 1);
    // The plain child A creates after IKE_AUTH, a per-CPU child, a Child SA
    // rekey and an IKE SA rekey.
    assert_eq!(count(ExchangeType::CREATE_CHILD_SA), 4);
    // Deletes of the rekeyed Child SA, of another Child SA, of the old IKE SA.
    assert_eq!(count(ExchangeType::INFORMATIONAL), 3);
}

#[test]
fn action_encoding_matches_arbitrary() {
    for (name, actions) in sequence_seeds() {
        assert_eq!(
            decode_actions(&encode_actions(&actions)),
            actions,
            "seed {name}"
        );
    }
}

fn auth_seed() -> Vec<u8> {
    let reqs = sk::real_requests();
    let (h, first, text) = reqs.first().expect("IKE_AUTH request");
    record(h, *first, text)
}

#[test]
fn sealed_ike_auth_plaintext_gets_past_the_icv() {
    let b = sk::run_keep(Start::HalfOpen, &auth_seed());
    assert_eq!(b.established().len(), 1, "B accepted the sealed IKE_AUTH");
}

#[test]
fn tampered_ike_auth_plaintext_reaches_auth_verification() {
    let reqs = sk::real_requests();
    let (h, first, text) = &reqs[0];
    let mut payloads = read_chain(*first, &mut Reader::new(text)).expect("real chain decodes");
    let mut tampered = 0;
    for p in &mut payloads {
        if let Payload::Auth(a) = p {
            a.data[0] ^= 0xff;
            tampered += 1;
        }
    }
    assert_eq!(tampered, 1, "IKE_AUTH carries one AUTH payload");
    let mut chain = Vec::new();
    let first = encode_chain(&payloads, &mut chain);
    let b = sk::run_keep(Start::HalfOpen, &record(h, first, &chain));
    assert!(
        b.established().is_empty(),
        "a wrong AUTH must not establish"
    );
}

#[test]
fn create_child_seed_adds_a_child_sa() {
    let reqs = sk::real_requests();
    let (h, first, text) = &reqs[1];
    assert_eq!(h.exchange, ExchangeType::CREATE_CHILD_SA);
    let b = sk::run_keep(Start::Established, &record(h, *first, text));
    let ike = b.established()[0];
    assert_eq!(b.child_sas(ike).len(), 2, "IKE_AUTH child plus the new one");
}

#[test]
fn delete_ike_seed_closes_the_sa() {
    let reqs = sk::real_requests();
    let (h, first, text) = reqs.last().expect("IKE SA Delete");
    assert_eq!(h.exchange, ExchangeType::INFORMATIONAL);
    let b = sk::run_keep(Start::Established, &record(h, *first, text));
    assert!(b.established().is_empty(), "Delete of the IKE SA closes it");
}

#[test]
fn sequence_seeds_establish_and_keep_invariants() {
    for (name, actions) in sequence_seeds() {
        let mut sim = Sim::new();
        for a in &actions {
            sim.apply(a);
            sim.check();
        }
        assert!(sim.settle(), "seed {name} settles");
        sim.check();
        let pairs = sim.check_settled();
        if name == "children" {
            assert_eq!(pairs, 1, "seed {name}: one established pair compared");
            // IKE_AUTH's fallback, one "web" SA (B's second request for
            // the plain child finds it up), per-CPU SAs up to the cap (four
            // were acquired, two at once from both sides).
            let live = sim.live_children(Peer::A);
            assert_eq!(
                live,
                2 + PER_CPU_MAX as usize,
                "seed {name}: live Child SAs"
            );
        }
        sequence::run(&actions);
    }
}

/// Replays a fuzzer artifact outside libFuzzer, printing the decoded
/// actions: `FUZZ_TARGET=sequence FUZZ_INPUT=path cargo test -p ike-core
/// -- --ignored --nocapture replay_fuzz_input`.
#[test]
#[ignore = "needs FUZZ_TARGET and FUZZ_INPUT"]
fn replay_fuzz_input() {
    let (Ok(target), Ok(input)) = (std::env::var("FUZZ_TARGET"), std::env::var("FUZZ_INPUT"))
    else {
        println!("set FUZZ_TARGET and FUZZ_INPUT to replay an input");
        return;
    };
    let data = std::fs::read(input).expect("FUZZ_INPUT is readable");
    run_target(&target, &data, true);
}

/// Runs `data` through the harness of `target` (one of the four targets
/// built on this module).
fn run_target(target: &str, data: &[u8], print: bool) {
    match target {
        "sequence" => {
            let actions = decode_actions(data);
            if print {
                println!("{actions:#?}");
            }
            sequence::run(&actions);
        }
        _ => {
            if print {
                println!("{:#?}", sk::records(data));
            }
            let start = if target == "sk_ike_auth" {
                Start::HalfOpen
            } else {
                Start::Established
            };
            sk::run(start, data);
        }
    }
}

/// Every committed input of the harness targets (seeds, and crash inputs
/// added there) runs clean.
#[test]
fn committed_seeds_run_clean() {
    const TARGETS: [&str; 4] = [
        "sk_ike_auth",
        "sk_create_child",
        "sk_informational",
        "sequence",
    ];
    let generated = seeds().iter().filter(|s| TARGETS.contains(&s.0)).count();
    let mut ran = 0;
    for target in TARGETS {
        for entry in std::fs::read_dir(seeds_dir().join(target)).expect("seeds dir") {
            let data = std::fs::read(entry.expect("entry").path()).expect("seed");
            run_target(target, &data, false);
            ran += 1;
        }
    }
    assert!(ran >= generated, "only {ran} of {generated} seeds found");
}

/// Found by the `sequence` target: both sides initiate; B answers A's
/// IKE_AUTH (the response is lost), hard-expires the new Child SA and sends
/// its Delete, which reached A before A's IKE_AUTH completed. A answered it
/// without knowing the Child SA, then installed it from the retransmitted
/// IKE_AUTH response: A kept a Child SA that B had deleted. A now ignores
/// requests other than IKE_AUTH until it is established (RFC 7296 §1.4).
#[test]
fn regression_delete_before_ike_auth_response() {
    let expire = Action::Expire {
        peer: Peer::B,
        child: 167,
        hard: true,
    };
    let mut actions = vec![Action::Initiate(Peer::A), Action::Initiate(Peer::B)];
    actions.extend([Action::Deliver(0), Action::Deliver(0), Action::Deliver(167)]);
    actions.extend([
        expire.clone(),
        expire.clone(),
        Action::Deliver(0),
        Action::Deliver(167),
    ]);
    actions.extend(std::iter::repeat_n(expire, 4));
    actions.push(Action::Drop(208));
    sequence::run(&actions);
}

/// Found by the `sequence` target: A's CREATE_CHILD_SA created a Child SA on
/// B, B hard-expired it and sent its Delete before A had the response. A
/// found nothing to delete and answered, then installed the SA from the
/// response: only A kept it. A now notes Deletes of unknown SPIs while its
/// CREATE_CHILD_SA is outstanding and removes the new SA if it is one.
#[test]
fn regression_delete_before_create_child_response() {
    let mut actions = connect();
    actions.extend([
        Action::Expire {
            peer: Peer::A,
            child: 0,
            hard: false,
        },
        Action::Deliver(0),
    ]);
    actions.extend([
        Action::Expire {
            peer: Peer::B,
            child: 1,
            hard: true,
        },
        Action::Advance { secs: 4000 },
    ]);
    actions.extend([
        Action::DeleteChild {
            peer: Peer::A,
            child: 0,
        },
        Action::Deliver(1),
    ]);
    actions.extend(deliver(3));
    sequence::run(&actions);
}

/// Found by the `sequence` target: both sides rekeyed the IKE SA at once
/// and B, having resolved the collision first, rekeyed B's winning successor
/// again. A's copy of that successor did not own the Child SAs yet (A had
/// not resolved the collision) and accepted the rekey, so the Child SAs A
/// later handed to it died with it. The successor of an unresolved collision
/// now answers CREATE_CHILD_SA with TEMPORARY_FAILURE (RFC 7296 §2.25).
#[test]
fn regression_rekey_of_unresolved_collision_successor() {
    let mut actions = vec![Action::Initiate(Peer::A)];
    actions.extend(deliver(6));
    actions.push(Action::Acquire {
        peer: Peer::B,
        plain: true,
        cpu: Some(223),
        seq: 223,
    });
    actions.extend(std::iter::repeat_n(Action::RekeyIke(Peer::B), 4));
    actions.extend([Action::RekeyIke(Peer::A), Action::Deliver(0)]);
    actions.extend([
        Action::Expire {
            peer: Peer::B,
            child: 167,
            hard: true,
        },
        Action::Deliver(59),
    ]);
    actions.extend([Action::RekeyIke(Peer::A), Action::Deliver(167)]);
    actions.extend([
        Action::Expire {
            peer: Peer::A,
            child: 128,
            hard: true,
        },
        Action::Deliver(0),
    ]);
    sequence::run(&actions);
}

/// Found by the `sequence` target: after crossing IKE rekeys and a hard
/// expire, A rekeyed a Child SA that B no longer had. B answered
/// CHILD_SA_NOT_FOUND and A retried the rekey every 30 s forever, keeping an
/// SA only it had. A now deletes it and creates a new one (RFC 7296 §2.25).
#[test]
fn regression_rekey_answered_child_sa_not_found() {
    let expire = Action::Expire {
        peer: Peer::B,
        child: 157,
        hard: true,
    };
    let mut actions = vec![Action::Initiate(Peer::A), Action::Initiate(Peer::B)];
    actions.extend(deliver(4));
    actions.extend([
        Action::Deliver(59),
        Action::Deliver(157),
        Action::Advance { secs: 40349 },
    ]);
    actions.extend([
        expire.clone(),
        Action::RekeyChild {
            peer: Peer::B,
            child: 157,
        },
        expire,
    ]);
    actions.extend(std::iter::repeat_n(Action::Deliver(59), 6));
    actions.extend([Action::Deliver(0), Action::Deliver(59), Action::Deliver(59)]);
    actions.extend(deliver(3));
    actions.push(Action::Deliver(116));
    sequence::run(&actions);
}

/// Found by the `sequence` target once CHILD_SA_NOT_FOUND deleted SAs: B
/// rekeyed a Child SA that A was creating (B's response to A's
/// CREATE_CHILD_SA still in flight); A answered CHILD_SA_NOT_FOUND, B
/// deleted the SA, and A then installed it from the late response. A now
/// answers TEMPORARY_FAILURE while its own CREATE_CHILD_SA is outstanding.
#[test]
fn regression_rekey_of_child_sa_still_being_created() {
    let mut actions = vec![
        Action::Initiate(Peer::A),
        Action::Close(Peer::B),
        Action::Close(Peer::B),
    ];
    actions.extend([
        Action::Deliver(35),
        Action::Deliver(35),
        Action::Deliver(97),
    ]);
    actions.extend([
        Action::Deliver(35),
        Action::Deliver(35),
        Action::Advance { secs: 12915 },
    ]);
    actions.extend(std::iter::repeat_n(Action::Deliver(35), 5));
    actions.extend(std::iter::repeat_n(Action::Deliver(59), 3));
    actions.push(Action::RekeyIke(Peer::B));
    sequence::run(&actions);
}

/// The memoized X25519 draws the same bytes and gives the same results and
/// errors as the real group, on a first and on a repeated computation.
#[test]
fn memoized_x25519_matches_the_real_group() {
    use super::ke::MEMO_X25519;
    use crate::crypto::ke::X25519;
    use crate::crypto::{KeGroup, SecureRandom, SeededRandom};

    for seed in 11..15 {
        let (ra, rb) = (SeededRandom::new(seed), SeededRandom::new(seed));
        let real = X25519.start(&ra).expect("real key pair");
        let memo = MEMO_X25519.start(&rb).expect("memoized key pair");
        assert_eq!(real.public(), memo.public(), "seed {seed}: public value");
        let (mut next_a, mut next_b) = ([0u8; 8], [0u8; 8]);
        ra.fill(&mut next_a).expect("draw");
        rb.fill(&mut next_b).expect("draw");
        assert_eq!(next_a, next_b, "seed {seed}: both drew 32 bytes");
        let peer = X25519
            .start(&SeededRandom::new(seed + 100))
            .expect("peer key pair");
        let low_order = [0u8; 32];
        for value in [peer.public(), &low_order[..], &peer.public()[..31]] {
            let want = real.complete(value);
            for round in 0..2 {
                let got = memo.complete(value);
                assert_eq!(got, want, "seed {seed}, round {round}");
            }
        }
        assert!(
            memo.complete(&low_order).is_err(),
            "a low-order point stays refused"
        );
    }
}

#[test]
fn harness_provider_memoizes_only_x25519() {
    let real = CryptoProvider::seeded(1);
    let fuzz = super::ke::provider(1);
    assert_eq!(fuzz.ke_groups.len(), real.ke_groups.len());
    let x = fuzz.ke(KeId::CURVE25519).expect("X25519 offered");
    assert_eq!(format!("{x:?}"), "MemoX25519");
    for (f, r) in fuzz.ke_groups.iter().zip(&real.ke_groups) {
        assert_eq!(f.id(), r.id());
        if f.id() != KeId::CURVE25519 {
            assert_eq!(format!("{f:?}"), format!("{r:?}"));
        }
    }
}

/// Both sides of the cheap stand-in agree, it refuses what X25519 refuses
/// for length and the all-zero value, and draws as many bytes as X25519.
#[test]
fn cheap_x25519_agrees_and_refuses_bad_values() {
    use super::cheap_ke::CHEAP_X25519;
    use crate::crypto::ke::X25519;
    use crate::crypto::{CryptoError, KeGroup, SecureRandom, SeededRandom};

    let (ra, rb) = (SeededRandom::new(21), SeededRandom::new(22));
    let a = CHEAP_X25519.start(&ra).expect("a");
    let b = CHEAP_X25519.start(&rb).expect("b");
    assert_eq!(a.public().len(), 32);
    assert_ne!(a.public(), b.public());
    let ab = a.complete(b.public()).expect("a completes");
    let ba = b.complete(a.public()).expect("b completes");
    assert_eq!(ab, ba, "both sides derive the same secret");
    let c = CHEAP_X25519.start(&SeededRandom::new(23)).expect("c");
    assert_ne!(ab, a.complete(c.public()).expect("a with c"));
    for bad in [&[0u8; 32][..], &b.public()[..31], &[]] {
        let err = a.complete(bad).expect_err("refused");
        assert!(
            matches!(err, CryptoError::InvalidPublicValue { group, .. } if group == KeId::CURVE25519),
            "{err:?}"
        );
    }
    let (rc, rd) = (SeededRandom::new(5), SeededRandom::new(5));
    CHEAP_X25519.start(&rc).expect("cheap");
    X25519.start(&rd).expect("real");
    let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
    rc.fill(&mut x).expect("draw");
    rd.fill(&mut y).expect("draw");
    assert_eq!(x, y, "same random draws as X25519");
}

/// Found by the `sequence` target in the long run (also with the real
/// X25519): B's IKE rekey was refused with TEMPORARY_FAILURE (RFC 7296
/// §2.25) while B answered A's crossing one, so only A's rekey happened; B
/// kept its successor bare (§2.8.2) and answered every CREATE_CHILD_SA with
/// TEMPORARY_FAILURE once the old IKE SA was gone, and A retried for ever.
#[test]
fn regression_create_child_retried_forever() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/sequence/livelock-create-child-retried-forever.bin");
    let data = std::fs::read(path).expect("committed crash input");
    run_target("sequence", &data, false);
}

/// Found by the `sequence` target: both sides rekeyed the IKE SA; A answered
/// B's rekey while its own was in flight, so A's successor stayed bare
/// (RFC 7296 §2.8.2) while B's took the Child SAs at once. B hard-expired
/// one and deleted it on its successor: A's bare successor found nothing to
/// delete, and the Child SA moved to it later. A now notes those SPIs and
/// removes the Child SAs when they move (§1.4.1).
#[test]
fn regression_child_sa_on_one_side_only() {
    let mut actions = vec![Action::Initiate(Peer::A)];
    actions.extend(deliver(5));
    actions.extend([Action::Deliver(148), Action::Deliver(0)]);
    actions.extend([Action::RekeyIke(Peer::A), Action::Deliver(0)]);
    actions.extend([Action::RekeyIke(Peer::A), Action::RekeyIke(Peer::B)]);
    actions.extend(deliver(2));
    actions.push(Action::Expire {
        peer: Peer::B,
        child: 1,
        hard: true,
    });
    actions.extend(std::iter::repeat_n(Action::Deliver(59), 4));
    actions.push(Action::Acquire {
        peer: Peer::B,
        plain: true,
        cpu: None,
        seq: 137,
    });
    sequence::run(&actions);
}
