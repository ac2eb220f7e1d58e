//! Prometheus metrics: `[daemon] metrics_listen` serves the OpenMetrics text
//! format (<https://prometheus.io/docs/specs/om/open_metrics_spec/>) on
//! `GET /metrics`.
//!
//! Two sources feed a scrape: [`Live`], counters the daemon bumps as events
//! happen (SA lifecycle, failures by reason, SA install latency), and a
//! [`StatusReport`](crate::control::StatusReport) taken at scrape time (SA
//! states, kernel counters read with XFRM_MSG_GETSA, XDP counters). The
//! report's series are rebuilt for every scrape, so the series of deleted SAs
//! disappear with them and labels stay bounded.

mod http;
mod render;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub use http::{Limits, serve, spawn};
pub use render::render;

/// One kind of SA lifecycle event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    /// `established`, `rekeyed`, `deleted`, `closed`, ...
    pub event: &'static str,
}

/// Why something failed, as a bounded class (see [`reason_class`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `timeout`, `peer_incompatible`, `kernel`, ...
    pub reason: &'static str,
}

/// The outcome of an operation: `ok` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `failed`.
    pub result: &'static str,
}

/// Counters the daemon bumps as things happen; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Live {
    pub(crate) ike_sa_events: Family<EventLabel, Counter>,
    pub(crate) ike_sa_failures: Family<ReasonLabel, Counter>,
    pub(crate) child_sa_events: Family<EventLabel, Counter>,
    pub(crate) child_sa_failures: Family<ReasonLabel, Counter>,
    pub(crate) sa_installs: Family<ResultLabel, Counter>,
    pub(crate) sa_install_seconds: Histogram,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            ike_sa_events: Family::default(),
            ike_sa_failures: Family::default(),
            child_sa_events: Family::default(),
            child_sa_failures: Family::default(),
            sa_installs: Family::default(),
            // 100 µs .. ~1.6 s: a pipelined NEWSA batch takes well under a
            // millisecond, an offload read-back a few.
            sa_install_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
        }
    }
}

impl Live {
    /// Counts an engine event.
    pub fn on_event(&self, ev: &ike_core::Event) {
        use ike_core::Event as E;
        match ev {
            E::IkeSaUp { .. } => self.ike_sa("established"),
            E::IkeSaDown { reason, .. } => {
                self.ike_sa("closed");
                self.ike_sa_failed(reason);
            }
            E::HalfOpenClosed { .. } => self.ike_sa("half_open_closed"),
            E::ChildSaReady(_) => self.child_sa("established"),
            E::ChildSaRekeyed { .. } => self.child_sa("rekeyed"),
            E::ChildSaDeleted { .. } => self.child_sa("deleted"),
            E::ChildSaFailed { reason, .. } => self.child_sa_failed(reason),
            _ => {}
        }
    }

    /// An IKE SA event (`established`, `closed`, `half_open_closed`).
    pub fn ike_sa(&self, event: &'static str) {
        self.ike_sa_events
            .get_or_create(&EventLabel { event })
            .inc();
    }

    /// An IKE SA that closed for a reason other than an orderly close or rekey.
    pub fn ike_sa_failed(&self, reason: &ike_core::Error) {
        if let Some(reason) = failure_class(reason) {
            self.ike_sa_failures
                .get_or_create(&ReasonLabel { reason })
                .inc();
        }
    }

    /// A Child SA event (`established`, `rekeyed`, `deleted`).
    pub fn child_sa(&self, event: &'static str) {
        self.child_sa_events
            .get_or_create(&EventLabel { event })
            .inc();
    }

    /// A Child SA the engine could not establish.
    pub fn child_sa_failed(&self, reason: &ike_core::Error) {
        let reason = reason_class(reason);
        self.child_sa_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// A batch of kernel SA installs that took `took`: `ok` succeeded, `failed` did not.
    pub fn sa_installs(&self, took: Duration, ok: usize, failed: usize) {
        for (result, n) in [("ok", ok), ("failed", failed)] {
            if n > 0 {
                let n = u64::try_from(n).unwrap_or(u64::MAX);
                self.sa_installs
                    .get_or_create(&ResultLabel { result })
                    .inc_by(n);
            }
        }
        if ok + failed > 0 {
            self.sa_install_seconds.observe(took.as_secs_f64());
        }
    }
}

/// A bounded label for an engine error (RFC 7296 §2.21 error classes).
pub fn reason_class(e: &ike_core::Error) -> &'static str {
    use ike_core::Error as E;
    match e {
        E::PeerMisbehaved(_) => "peer_misbehaved",
        E::PeerIncompatible(_) => "peer_incompatible",
        E::NotifyReceived(_) => "error_notify",
        E::Timeout => "timeout",
        E::DeletedByPeer => "deleted_by_peer",
        E::ClosedLocally => "closed_locally",
        E::Rekeyed => "rekeyed",
        E::InitialContact => "initial_contact",
        E::ChildSaLimit(_) => "child_sa_limit",
        E::Unreachable(_) => "internal",
        E::LocalLimit(_) => "local_limit",
        _ => "other",
    }
}

/// The class of a failure, or `None` for an orderly end (a close, a
/// rekey, a delete by the peer, a replacement after INITIAL_CONTACT).
pub fn failure_class(e: &ike_core::Error) -> Option<&'static str> {
    use ike_core::Error as E;
    match e {
        E::ClosedLocally | E::Rekeyed | E::DeletedByPeer | E::InitialContact => None,
        other => Some(reason_class(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderly_ends_are_not_failures() {
        assert_eq!(failure_class(&ike_core::Error::Rekeyed), None);
        assert_eq!(failure_class(&ike_core::Error::ClosedLocally), None);
        assert_eq!(failure_class(&ike_core::Error::Timeout), Some("timeout"));
        assert_eq!(
            failure_class(&ike_core::Error::NotifyReceived(14)),
            Some("error_notify")
        );
    }
}
