//! Pacing of the IKE SAs the daemon initiates on its own (`start_action =
//! "start"` at start-up and reload): at most `limit` are in flight at once,
//! the rest wait in order (strongSwan's `charon.init_limit_half_open`).
//!
//! Without it, a gateway with a thousand `start` connections sends a thousand
//! IKE_SA_INITs at once; the peer falls more than 30 s behind, drops the
//! half-open SAs whose IKE_AUTH it reaches too late (RFC 7296 §2.4 leaves
//! that to the responder) and those connections fail after the retransmission
//! budget.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use ike_core::IkeSaId;

/// An in-flight entry counts for at most this long (an unanswered IKE SA is
/// given up after ~165 s of retransmissions, RFC 7296 §2.4).
pub const IN_FLIGHT_MAX: Duration = Duration::from_secs(180);

/// The start queue.
#[derive(Debug, Default)]
pub struct Pacer {
    limit: usize,
    queue: VecDeque<String>,
    in_flight: HashMap<(String, IkeSaId), Instant>,
}

impl Pacer {
    /// A pacer allowing `limit` IKE SAs in flight (0: no limit).
    pub fn new(limit: u32) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            ..Self::default()
        }
    }

    /// Changes the limit (reload).
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = usize::try_from(limit).unwrap_or(usize::MAX);
    }

    /// Queues `conn` for initiation (once).
    pub fn push(&mut self, conn: &str) {
        if !self.queue.iter().any(|c| c == conn) {
            self.queue.push_back(conn.to_string());
        }
    }

    /// Drops `conn` from the queue (removed or brought up by hand).
    pub fn forget(&mut self, conn: &str) {
        self.queue.retain(|c| c != conn);
        self.in_flight.retain(|(c, _), _| c != conn);
    }

    /// The next connection to initiate now, if the limit allows.
    pub fn next_ready(&mut self) -> Option<String> {
        if self.limit != 0 && self.in_flight.len() >= self.limit {
            return None;
        }
        self.queue.pop_front()
    }

    /// `conn` started IKE SA `ike` (from [`Pacer::next_ready`]).
    pub fn started(&mut self, conn: &str, ike: IkeSaId, now: Instant) {
        self.in_flight.insert((conn.to_string(), ike), now);
    }

    /// IKE SA `ike` of `conn` is up or gone; true if it was in flight.
    pub fn done(&mut self, conn: &str, ike: IkeSaId) -> bool {
        self.in_flight.remove(&(conn.to_string(), ike)).is_some()
    }

    /// Stops counting entries older than [`IN_FLIGHT_MAX`].
    pub fn expire(&mut self, now: Instant) {
        self.in_flight
            .retain(|_, t| now.saturating_duration_since(*t) < IN_FLIGHT_MAX);
    }

    /// When [`Pacer::expire`] has something to do, while connections wait.
    pub fn deadline(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        self.in_flight.values().min().map(|t| *t + IN_FLIGHT_MAX)
    }

    /// Connections waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut Pacer, now: Instant, next_id: &mut u64) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(c) = p.next_ready() {
            p.started(&c, IkeSaId(*next_id), now);
            *next_id += 1;
            v.push(c);
        }
        v
    }

    #[test]
    fn limits_in_flight_and_keeps_order() {
        let now = Instant::now();
        let mut p = Pacer::new(2);
        for c in ["c1", "c2", "c3", "c4", "c2"] {
            p.push(c);
        }
        assert_eq!(p.queued(), 4, "a queued connection is not queued twice");
        let mut id = 1;
        assert_eq!(drain(&mut p, now, &mut id), ["c1", "c2"]);
        assert!(p.next_ready().is_none());
        assert!(p.done("c1", IkeSaId(1)));
        assert!(!p.done("c1", IkeSaId(1)), "done twice counts once");
        assert_eq!(drain(&mut p, now, &mut id), ["c3"]);
        assert!(p.done("c2", IkeSaId(2)));
        assert!(p.done("c3", IkeSaId(3)));
        assert_eq!(drain(&mut p, now, &mut id), ["c4"]);
        assert_eq!(p.queued(), 0);
    }

    #[test]
    fn zero_is_unlimited() {
        let mut p = Pacer::new(0);
        for i in 0..100 {
            p.push(&format!("c{i}"));
        }
        let mut id = 0;
        assert_eq!(drain(&mut p, Instant::now(), &mut id).len(), 100);
    }

    #[test]
    fn stale_entries_stop_counting() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1);
        p.push("a");
        p.push("b");
        let mut id = 0;
        assert_eq!(drain(&mut p, t0, &mut id), ["a"]);
        assert_eq!(p.deadline(), Some(t0 + IN_FLIGHT_MAX));
        p.expire(t0 + Duration::from_secs(10));
        assert!(p.next_ready().is_none());
        p.expire(t0 + IN_FLIGHT_MAX);
        assert_eq!(drain(&mut p, t0 + IN_FLIGHT_MAX, &mut id), ["b"]);
        assert_eq!(p.deadline(), None, "nothing waits");
    }

    #[test]
    fn forget_drops_queue_and_in_flight() {
        let mut p = Pacer::new(1);
        p.push("a");
        p.push("b");
        p.push("c");
        let mut id = 0;
        assert_eq!(drain(&mut p, Instant::now(), &mut id), ["a"]);
        p.forget("a");
        p.forget("b");
        assert_eq!(drain(&mut p, Instant::now(), &mut id), ["c"]);
    }
}
