//! What happens to a connection after its IKE SA goes down: strongSwan's
//! `dpd_action`, `close_action` and `keyingtries`, as a pure scheduler.
//!
//! The daemon reports each IKE SA that comes up or goes down (with the
//! [`Error`] of [`Event::IkeSaDown`](crate::Event::IkeSaDown)) and asks, with
//! `now`, which connections to initiate again; it carries the actions out.
//!
//! - An established IKE SA whose peer stops answering (a liveness check or
//!   any other request, RFC 7296 §2.4) takes the `dpd_action`; one the peer
//!   deletes takes the `close_action`. `restart` initiates again at once.
//! - Each child has its own actions (swanctl.conf's per-child `dpd_action`,
//!   `close_action`): [`split`] says which children a new IKE SA brings
//!   back and which get trap policies; the connection restarts when any
//!   child restarts, with only those children.
//! - A failed initiation is tried again until `keyingtries` attempts in a row
//!   have failed (0: forever), waiting [`Backoff::delay`] between attempts;
//!   each attempt may go to the next peer address ([`Recovery::attempt`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::error::Error;

/// What a connection does when its IKE SA ends (strongSwan's `clear`/`none`,
/// `trap`, `restart`/`start`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Nothing: the tunnel stays down until traffic (a trap) or a command.
    #[default]
    None,
    /// Install trap policies, so the next packet negotiates again.
    Trap,
    /// Initiate a new IKE SA with its children at once.
    Restart,
}

/// Why an IKE SA ended, as far as recovery cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// An established SA's peer stopped answering.
    Dead,
    /// The peer deleted an established SA.
    ClosedByPeer,
    /// An initiation never reached ESTABLISHED.
    StartFailed,
    /// Closed or replaced on our side (down, rekey, INITIAL_CONTACT).
    Local,
}

impl Cause {
    /// Classifies `reason`; `was_up` says whether the SA was ever established.
    pub fn of(reason: &Error, was_up: bool) -> Self {
        match reason {
            Error::ClosedLocally | Error::Rekeyed | Error::InitialContact => Self::Local,
            _ if !was_up => Self::StartFailed,
            Error::Timeout => Self::Dead,
            Error::DeletedByPeer => Self::ClosedByPeer,
            _ => Self::Local,
        }
    }
}

/// Delay before attempt `n + 1` after `n` failed ones: `first · 2^(n-1)`,
/// at most `max` (strongSwan retries at once; a short pause keeps a peer that
/// refuses fast from being flooded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// After the first failure.
    pub first: Duration,
    /// Upper bound.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failed attempts in a row (≥ 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(20);
        self.first.saturating_mul(1 << shift).min(self.max)
    }
}

/// A connection's recovery settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Action when an established IKE SA's peer is dead (the strongest of its
    /// children's `dpd_action`).
    pub dpd_action: Action,
    /// Action when the peer deletes the IKE SA (its children's `close_action`).
    pub close_action: Action,
    /// Attempts in a row before giving up (strongSwan `keyingtries`, default 1; 0: forever).
    pub keyingtries: u32,
    /// Pause between failed attempts.
    pub backoff: Backoff,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            dpd_action: Action::None,
            close_action: Action::None,
            keyingtries: 1,
            backoff: Backoff::default(),
        }
    }
}

/// One child's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildActions {
    /// `dpd_action`.
    pub dpd: Action,
    /// `close_action`.
    pub close: Action,
}

/// The children (indexes into the connection's children) each action
/// applies to; the others are cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Initiated again on a new IKE SA.
    pub restart: Vec<u16>,
    /// Given trap policies.
    pub trap: Vec<u16>,
}

/// What happens to each child of an IKE SA that ended for `cause`, as
/// strongSwan decides per child (charon `ike_sa.c` `reestablish`: children
/// whose action is restart move to the new IKE SA, trap ones are routed).
pub fn split(cause: Cause, children: &[ChildActions]) -> Split {
    let mut out = Split::default();
    for (i, c) in children.iter().enumerate() {
        let action = match cause {
            Cause::Dead => c.dpd,
            Cause::ClosedByPeer => c.close,
            Cause::StartFailed | Cause::Local => Action::None,
        };
        let Ok(i) = u16::try_from(i) else { break };
        match action {
            Action::None => {}
            Action::Trap => out.trap.push(i),
            Action::Restart => out.restart.push(i),
        }
    }
    out
}

impl Policy {
    /// A connection's policy from its children's actions: it restarts (or
    /// traps) when any child does.
    pub fn of_children(children: &[ChildActions], keyingtries: u32) -> Self {
        Self {
            dpd_action: children.iter().map(|c| c.dpd).max().unwrap_or_default(),
            close_action: children.iter().map(|c| c.close).max().unwrap_or_default(),
            keyingtries,
            backoff: Backoff::default(),
        }
    }
}

/// What the daemon should do about a connection whose IKE SA went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing.
    Nothing,
    /// Install its trap policies.
    Trap,
    /// It will be due for initiation at `at` ([`Recovery::poll_due`]).
    Restart {
        /// When.
        at: Instant,
    },
    /// `keyingtries` attempts failed in a row: stop.
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Failed attempts in a row.
    failures: u32,
    /// Attempts started since the last success (selects the peer address).
    attempts: u32,
    /// Next initiation, if one is scheduled.
    due: Option<Instant>,
}

/// Recovery state of every connection, keyed by `K` (a name or id).
#[derive(Debug)]
pub struct Recovery<K> {
    entries: BTreeMap<K, Entry>,
}

impl<K> Default for Recovery<K> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Recovery<K> {
    /// An IKE SA of `key` is established: failures are forgotten.
    pub fn on_up(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// An IKE SA of `key` went down for `cause`.
    pub fn on_down(&mut self, key: &K, now: Instant, cause: Cause, policy: &Policy) -> Decision {
        let action = match cause {
            Cause::Local => {
                self.entries.remove(key);
                return Decision::Nothing;
            }
            Cause::Dead => policy.dpd_action,
            Cause::ClosedByPeer => policy.close_action,
            Cause::StartFailed => return self.failed(key, now, policy),
        };
        match action {
            Action::None => Decision::Nothing,
            Action::Trap => Decision::Trap,
            Action::Restart => self.schedule(key, now),
        }
    }

    fn failed(&mut self, key: &K, now: Instant, policy: &Policy) -> Decision {
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            attempts: 1,
            due: None,
        });
        e.failures = e.failures.saturating_add(1);
        if policy.keyingtries != 0 && e.failures >= policy.keyingtries {
            let attempts = e.failures;
            self.entries.remove(key);
            return Decision::GaveUp { attempts };
        }
        let at = now + policy.backoff.delay(e.failures);
        e.due = Some(at);
        Decision::Restart { at }
    }

    fn schedule(&mut self, key: &K, now: Instant) -> Decision {
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            attempts: 0,
            due: None,
        });
        e.due = Some(now);
        Decision::Restart { at: now }
    }

    /// Stops everything scheduled for `key` (down by hand, removed).
    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// The earliest scheduled initiation.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.due).min()
    }

    /// A connection due for initiation at `now`; call until `None`. Its
    /// attempt counter moves on (see [`Recovery::attempt`]).
    pub fn poll_due(&mut self, now: Instant) -> Option<K> {
        let (k, e) = self
            .entries
            .iter_mut()
            .find(|(_, e)| e.due.is_some_and(|t| t <= now))?;
        e.due = None;
        e.attempts = e.attempts.saturating_add(1);
        Some(k.clone())
    }

    /// Attempts since the last success, counting the current one (0 before
    /// any): attempt `n` goes to peer address `(n - 1) % addresses`.
    pub fn attempt(&self, key: &K) -> u32 {
        self.entries.get(key).map_or(0, |e| e.attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dpd: Action, close: Action, tries: u32) -> Policy {
        Policy {
            dpd_action: dpd,
            close_action: close,
            keyingtries: tries,
            backoff: Backoff::default(),
        }
    }

    #[test]
    fn causes_follow_the_reason_and_whether_it_was_up() {
        assert_eq!(Cause::of(&Error::Timeout, true), Cause::Dead);
        assert_eq!(Cause::of(&Error::Timeout, false), Cause::StartFailed);
        assert_eq!(Cause::of(&Error::DeletedByPeer, true), Cause::ClosedByPeer);
        assert_eq!(
            Cause::of(&Error::NotifyReceived(24), false),
            Cause::StartFailed
        );
        assert_eq!(Cause::of(&Error::ClosedLocally, true), Cause::Local);
        assert_eq!(Cause::of(&Error::ClosedLocally, false), Cause::Local);
        assert_eq!(Cause::of(&Error::Rekeyed, true), Cause::Local);
        assert_eq!(Cause::of(&Error::InitialContact, true), Cause::Local);
    }

    #[test]
    fn dpd_restart_initiates_at_once_and_counts_attempts() {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let p = policy(Action::Restart, Action::None, 1);
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(
            r.on_down(&"a", t0, Cause::Dead, &p),
            Decision::Restart { at: t0 }
        );
        assert_eq!(r.poll_timeout(), Some(t0));
        assert_eq!(r.poll_due(t0), Some("a"));
        assert_eq!(r.poll_due(t0), None, "due once");
        assert_eq!(r.attempt(&"a"), 1);
        r.on_up(&"a");
        assert_eq!(r.attempt(&"a"), 0);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn each_action_for_each_cause() {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let clear = policy(Action::None, Action::None, 1);
        assert_eq!(r.on_down(&1, t0, Cause::Dead, &clear), Decision::Nothing);
        assert_eq!(
            r.on_down(&1, t0, Cause::ClosedByPeer, &clear),
            Decision::Nothing
        );
        let trap = policy(Action::Trap, Action::Trap, 1);
        assert_eq!(r.on_down(&1, t0, Cause::Dead, &trap), Decision::Trap);
        assert_eq!(
            r.on_down(&1, t0, Cause::ClosedByPeer, &trap),
            Decision::Trap
        );
        let start = policy(Action::None, Action::Restart, 1);
        assert_eq!(r.on_down(&1, t0, Cause::Dead, &start), Decision::Nothing);
        assert_eq!(
            r.on_down(&1, t0, Cause::ClosedByPeer, &start),
            Decision::Restart { at: t0 }
        );
        assert_eq!(r.on_down(&1, t0, Cause::Local, &start), Decision::Nothing);
        assert_eq!(r.poll_due(t0), None, "a local close cancels the restart");
    }

    #[test]
    fn keyingtries_with_backoff_then_give_up() {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let p = policy(Action::Restart, Action::None, 3);
        let s = Duration::from_secs;
        assert_eq!(
            r.on_down(&"a", t0, Cause::StartFailed, &p),
            Decision::Restart { at: t0 + s(1) }
        );
        assert_eq!(r.poll_due(t0), None, "not before the backoff");
        assert_eq!(r.poll_due(t0 + s(1)), Some("a"));
        assert_eq!(r.attempt(&"a"), 2, "the failed first attempt counts");
        assert_eq!(
            r.on_down(&"a", t0 + s(5), Cause::StartFailed, &p),
            Decision::Restart { at: t0 + s(7) }
        );
        assert_eq!(r.poll_due(t0 + s(7)), Some("a"));
        assert_eq!(
            r.on_down(&"a", t0 + s(9), Cause::StartFailed, &p),
            Decision::GaveUp { attempts: 3 }
        );
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn zero_keyingtries_retry_forever_with_capped_backoff() {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let p = policy(Action::Restart, Action::None, 0);
        let mut last = Decision::Nothing;
        for _ in 0..50 {
            last = r.on_down(&"a", t0, Cause::StartFailed, &p);
            assert!(matches!(last, Decision::Restart { .. }), "{last:?}");
        }
        assert_eq!(
            last,
            Decision::Restart {
                at: t0 + Duration::from_secs(60)
            }
        );
        r.forget(&"a");
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn each_child_takes_its_own_action() {
        let kids = [
            ChildActions {
                dpd: Action::Restart,
                close: Action::None,
            },
            ChildActions {
                dpd: Action::Trap,
                close: Action::Restart,
            },
            ChildActions::default(),
        ];
        let dead = split(Cause::Dead, &kids);
        assert_eq!((dead.restart, dead.trap), (vec![0], vec![1]));
        let closed = split(Cause::ClosedByPeer, &kids);
        assert_eq!((closed.restart, closed.trap), (vec![1], vec![]));
        assert_eq!(split(Cause::Local, &kids), Split::default());
        assert_eq!(split(Cause::StartFailed, &kids), Split::default());
        let p = Policy::of_children(&kids, 0);
        assert_eq!(
            (p.dpd_action, p.close_action, p.keyingtries),
            (Action::Restart, Action::Restart, 0)
        );
        assert_eq!(Policy::of_children(&[], 1), Policy::default());
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let b = Backoff::default();
        let d: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }
}
