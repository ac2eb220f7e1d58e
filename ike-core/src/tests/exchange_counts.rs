//! [`crate::ExchangeStats`] through real exchanges: counted once per
//! exchange on each side, failures by the error notify or a timeout.

use std::time::Duration;

use super::util::{Pair, Side, configs};
use crate::exchange_stats::TIMEOUT;
use crate::wire::ExchangeType as X;
use crate::{ExchangeStats, Initiator};

fn stats(p: &mut Pair, s: Side) -> ExchangeStats {
    p.ep(s).exchange_stats().clone()
}

#[test]
fn initial_exchanges_and_a_refused_child_are_counted_on_both_sides() {
    let (a, mut b) = configs();
    b.connections[0].children[0].remote_ts = vec![super::util::ts("10.99.0.0/16")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let (sa, sb) = (stats(&mut p, Side::A), stats(&mut p, Side::B));
    for x in [X::IKE_SA_INIT, X::IKE_AUTH] {
        assert_eq!(sa.exchange_count(x, Initiator::Local), 1, "{x}: {sa:?}");
        assert_eq!(sa.exchange_count(x, Initiator::Peer), 0, "{x}: {sa:?}");
        assert_eq!(sb.exchange_count(x, Initiator::Peer), 1, "{x}: {sb:?}");
    }
    // The IKE_AUTH child was refused: a failure on both sides, by name.
    let ts = "TS_UNACCEPTABLE";
    assert_eq!(
        sa.failure_count(X::IKE_AUTH, Initiator::Local, ts),
        1,
        "{sa:?}"
    );
    assert_eq!(
        sb.failure_count(X::IKE_AUTH, Initiator::Peer, ts),
        1,
        "{sb:?}"
    );
    assert_eq!(sa.failures().count(), 1, "{sa:?}");
}

#[test]
fn an_unanswered_request_is_one_exchange_and_one_timeout() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    // B's answers are lost; A's Delete is retransmitted, then given up.
    p.filter = Some(Box::new(|from, _| from == Side::A));
    p.a.close(p.time, ike).expect("close");
    p.drive_for(Duration::from_secs(170));
    let sa = stats(&mut p, Side::A);
    assert_eq!(
        sa.exchange_count(X::INFORMATIONAL, Initiator::Local),
        1,
        "{sa:?}"
    );
    assert_eq!(
        sa.failure_count(X::INFORMATIONAL, Initiator::Local, TIMEOUT),
        1,
        "{sa:?}"
    );
    let sb = stats(&mut p, Side::B);
    assert_eq!(
        sb.exchange_count(X::INFORMATIONAL, Initiator::Peer),
        1,
        "B answered once: {sb:?}"
    );
}
