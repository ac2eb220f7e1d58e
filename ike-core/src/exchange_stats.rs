//! IKE exchanges and their failures, counted by the engine for metrics.
//!
//! An exchange is a request and its response (RFC 7296 §1): counted once
//! when its request is first sent (ours) or first answered (the peer's);
//! retransmissions and fragments (RFC 7383) are not counted again. A failure
//! is an error notify (RFC 7296 §3.10.1, types below 16384) in the response,
//! or a request of ours given up after its retransmissions (§2.1). Every key
//! is a registered exchange type or notify name, so the set stays bounded.

use std::collections::BTreeMap;

use crate::wire::{ExchangeType, NotifyType, Payload};

/// Who sent an exchange's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Initiator {
    /// We sent the request.
    Local,
    /// The peer sent it and we answered.
    Peer,
}

impl Initiator {
    /// `local` or `peer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Peer => "peer",
        }
    }
}

/// The reason of an exchange given up after every retransmission.
pub const TIMEOUT: &str = "timeout";
/// The reason of an error notify type without a registered name.
pub const UNKNOWN_ERROR: &str = "unknown_error_notify";

/// Exchanges by type and initiator, failures also by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    exchanges: BTreeMap<(ExchangeType, Initiator), u64>,
    failures: BTreeMap<(ExchangeType, Initiator, &'static str), u64>,
}

impl ExchangeStats {
    /// `(exchange, initiator, count)` for every pair seen.
    pub fn exchanges(&self) -> impl Iterator<Item = (ExchangeType, Initiator, u64)> + '_ {
        self.exchanges.iter().map(|((e, i), n)| (*e, *i, *n))
    }

    /// `(exchange, initiator, reason, count)`: `reason` is the notify's
    /// registered name (`NO_PROPOSAL_CHOSEN`, ...), [`TIMEOUT`] or
    /// [`UNKNOWN_ERROR`].
    pub fn failures(
        &self,
    ) -> impl Iterator<Item = (ExchangeType, Initiator, &'static str, u64)> + '_ {
        self.failures.iter().map(|((e, i, r), n)| (*e, *i, *r, *n))
    }

    /// The count of `exchange` initiated by `who`.
    pub fn exchange_count(&self, exchange: ExchangeType, who: Initiator) -> u64 {
        self.exchanges.get(&(exchange, who)).copied().unwrap_or(0)
    }

    /// The count of `exchange` by `who` that failed for `reason`.
    pub fn failure_count(&self, exchange: ExchangeType, who: Initiator, reason: &str) -> u64 {
        self.failures
            .iter()
            .filter(|((e, i, r), _)| *e == exchange && *i == who && *r == reason)
            .map(|(_, n)| *n)
            .sum()
    }

    /// A request of ours sent for the first time.
    pub(crate) fn request_sent(&mut self, exchange: ExchangeType) {
        *self
            .exchanges
            .entry((exchange, Initiator::Local))
            .or_default() += 1;
    }

    /// Our first answer to a request of the peer's, with its payloads: an
    /// error notify among them fails the exchange.
    pub(crate) fn response_sent(&mut self, exchange: ExchangeType, payloads: &[Payload]) {
        *self
            .exchanges
            .entry((exchange, Initiator::Peer))
            .or_default() += 1;
        if let Some(ty) = first_error(payloads) {
            self.failed(exchange, Initiator::Peer, notify_reason(ty));
        }
    }

    /// The peer's response to our `exchange`: an error notify fails it.
    pub(crate) fn response_received(&mut self, exchange: ExchangeType, payloads: &[Payload]) {
        if let Some(ty) = first_error(payloads) {
            self.failed(exchange, Initiator::Local, notify_reason(ty));
        }
    }

    /// Our `exchange` given up after every retransmission.
    pub(crate) fn timed_out(&mut self, exchange: ExchangeType) {
        self.failed(exchange, Initiator::Local, TIMEOUT);
    }

    fn failed(&mut self, exchange: ExchangeType, who: Initiator, reason: &'static str) {
        *self.failures.entry((exchange, who, reason)).or_default() += 1;
    }
}

/// The registered name of an exchange type, or `other`.
pub fn exchange_name(e: ExchangeType) -> &'static str {
    e.name().unwrap_or("other")
}

fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty.is_error() => Some(n.ty),
        _ => None,
    })
}

fn notify_reason(ty: NotifyType) -> &'static str {
    ty.name().unwrap_or(UNKNOWN_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Notify;

    fn notify(ty: NotifyType) -> Payload {
        Payload::Notify(Notify::new(ty, Vec::new()))
    }

    #[test]
    fn counts_by_exchange_initiator_and_reason() {
        let mut s = ExchangeStats::default();
        s.request_sent(ExchangeType::CREATE_CHILD_SA);
        s.request_sent(ExchangeType::CREATE_CHILD_SA);
        s.response_received(
            ExchangeType::CREATE_CHILD_SA,
            &[notify(NotifyType::NO_PROPOSAL_CHOSEN)],
        );
        s.response_sent(ExchangeType::INFORMATIONAL, &[notify(NotifyType::REKEY_SA)]);
        s.response_sent(ExchangeType::IKE_AUTH, &[notify(NotifyType(8000))]);
        s.timed_out(ExchangeType::INFORMATIONAL);
        let local = Initiator::Local;
        assert_eq!(s.exchange_count(ExchangeType::CREATE_CHILD_SA, local), 2);
        assert_eq!(
            s.exchange_count(ExchangeType::INFORMATIONAL, Initiator::Peer),
            1
        );
        assert_eq!(
            s.failure_count(ExchangeType::CREATE_CHILD_SA, local, "NO_PROPOSAL_CHOSEN"),
            1
        );
        assert_eq!(
            s.failure_count(ExchangeType::INFORMATIONAL, local, TIMEOUT),
            1
        );
        assert_eq!(
            s.failure_count(ExchangeType::IKE_AUTH, Initiator::Peer, UNKNOWN_ERROR),
            1,
            "an unregistered error type gets one bounded reason"
        );
        // A status notify (REKEY_SA, 16393) is no failure.
        assert_eq!(s.failures().count(), 3);
        assert_eq!(exchange_name(ExchangeType(200)), "other");
        assert_eq!(
            exchange_name(ExchangeType::IKE_FOLLOWUP_KE),
            "IKE_FOLLOWUP_KE"
        );
    }
}
