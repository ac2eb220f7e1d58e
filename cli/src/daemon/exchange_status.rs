//! The engine's exchange counters as `lanes status --json` and the metrics
//! carry them.

use ike_core::ExchangeStats;
use ike_core::exchange_stats::exchange_name;

use crate::control::{ExchangeCount, ExchangeFailure};

/// Exchanges by type and initiator.
pub(super) fn exchanges(s: &ExchangeStats) -> Vec<ExchangeCount> {
    s.exchanges()
        .map(|(x, who, count)| ExchangeCount {
            exchange: exchange_name(x).to_string(),
            initiator: who.as_str().to_string(),
            count,
        })
        .collect()
}

/// Failed exchanges by type, initiator and reason.
pub(super) fn failures(s: &ExchangeStats) -> Vec<ExchangeFailure> {
    s.failures()
        .map(|(x, who, reason, count)| ExchangeFailure {
            exchange: exchange_name(x).to_string(),
            initiator: who.as_str().to_string(),
            reason: reason.to_string(),
            count,
        })
        .collect()
}
