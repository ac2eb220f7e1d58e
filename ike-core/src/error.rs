//! Error taxonomy, grouped by who is at fault (rustls-style).

use crate::ids::{ConnId, IkeSaId};

/// Why an IKE SA went down, as reported in [`Event::IkeSaDown`](crate::Event::IkeSaDown).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The peer sent something we cannot accept.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The peer and we share no proposal / traffic selectors / auth method.
    #[error("peer incompatible: {0}")]
    PeerIncompatible(#[from] PeerIncompatible),
    /// The peer answered with an error notify (RFC 7296 §3.10.1); the value is the notify type.
    #[error("peer sent error notify {name} ({0})", name = crate::wire::NotifyType(*.0))]
    NotifyReceived(u16),
    /// The peer did not answer within the retransmission budget (RFC 7296 §2.4).
    #[error("peer did not respond (retransmits exhausted)")]
    Timeout,
    /// The peer deleted the IKE SA.
    #[error("deleted by peer")]
    DeletedByPeer,
    /// We closed the IKE SA locally.
    #[error("closed locally")]
    ClosedLocally,
    /// The IKE SA was replaced by a rekeyed one (RFC 7296 §2.8).
    #[error("replaced by rekeyed IKE SA")]
    Rekeyed,
    /// A newer IKE SA with INITIAL_CONTACT from the same peer replaced this one.
    #[error("replaced after INITIAL_CONTACT")]
    InitialContact,
    /// Creating a Child SA would exceed the connection's `max_child_sas`
    /// (RFC 7296 §1.3); the value is the cap.
    #[error("Child SA limit ({0}) of this IKE SA reached; raise max_child_sas")]
    ChildSaLimit(u32),
    /// An internal invariant broke; this is a bug.
    #[error("internal error: {0}")]
    Unreachable(&'static str),
    /// A local limit was reached; the text names it.
    #[error("local limit reached: {0}")]
    LocalLimit(&'static str),
}

/// Violations by the peer.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerMisbehaved {
    /// The peer's AUTH payload did not verify (RFC 7296 §2.15).
    #[error("AUTH payload did not verify (wrong PSK?)")]
    AuthenticationFailed,
    /// A required payload was missing from a message.
    #[error("missing {0} payload")]
    MissingPayload(&'static str),
    /// A payload or notify held a malformed value.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The peer's identity does not match the configured one.
    #[error("unexpected peer identity")]
    UnexpectedIdentity,
    /// The peer chose something we did not offer.
    #[error("peer selected a proposal we did not offer")]
    ProposalNotOffered,
    /// The peer's traffic selectors are not a subset of ours.
    #[error("peer narrowed traffic selectors outside our offer")]
    TsNotOffered,
    /// The peer's certificate or signature failed a check; the value names it.
    #[error("certificate authentication failed: {0}")]
    Certificate(crate::pki::CertError),
}

/// No overlap between our configuration and the peer's.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerIncompatible {
    /// No proposal in common (NO_PROPOSAL_CHOSEN).
    #[error("no common proposal")]
    NoProposalChosen,
    /// No traffic selectors in common (TS_UNACCEPTABLE).
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// No connection configured for this peer / identity.
    #[error("no matching connection")]
    NoMatchingConnection,
    /// The peer insists on a KE group we do not have.
    #[error("no acceptable key exchange group")]
    NoKeGroup,
    /// Our key cannot sign with what the peer accepts (RFC 7427 §4).
    #[error("cannot sign AUTH: {0}")]
    Signature(String),
    /// The negotiated traffic selectors need ports the kernel cannot match.
    #[error("traffic selectors not expressible in kernel policies: {0}")]
    TsInexpressible(#[from] crate::selector::PortsInexpressible),
    /// The negotiated traffic selectors need more kernel policies than the child allows.
    #[error(
        "traffic selectors need {needed} kernel policies per direction, more than max_policies = {cap}"
    )]
    TooManyPolicies {
        /// Policies (prefix/port blocks) the selectors decompose into.
        needed: u64,
        /// The child's `max_policies`.
        cap: u32,
    },
}

/// Errors of local API calls ([`Endpoint::initiate`](crate::Endpoint::initiate) etc.).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The named connection is not configured; check the connection names.
    #[error("no connection named {0:?} is configured")]
    UnknownConnection(String),
    /// The named child is not configured in that connection.
    #[error("no child named {0:?} is configured in this connection")]
    UnknownChild(String),
    /// No child config has this reqid.
    #[error("no child config has reqid {0}")]
    UnknownReqid(u32),
    /// The IKE SA handle is stale.
    #[error("IKE SA {0:?} does not exist (closed?)")]
    UnknownIkeSa(IkeSaId),
    /// The connection has no remote address to initiate to; set `remote`.
    #[error("connection {0:?} has no remote address; set one to initiate")]
    NoRemote(String),
    /// The configuration is unusable: the text says what to fix.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A connection of this name is already configured; names must be unique.
    #[error("a connection named {0:?} is already configured; pick another name")]
    DuplicateConnection(String),
    /// Another connection's child already uses this reqid; reqids must be unique.
    #[error("reqid {0} is already used by another connection's child")]
    DuplicateReqid(u32),
    /// The connection handle is stale (removed).
    #[error("connection {0:?} does not exist (removed?)")]
    UnknownConn(ConnId),
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn notify_errors_are_named() {
        assert_eq!(
            Error::NotifyReceived(24).to_string(),
            "peer sent error notify AUTHENTICATION_FAILED (24)"
        );
        assert_eq!(
            Error::NotifyReceived(40000).to_string(),
            "peer sent error notify NotifyType(0x9c40) (40000)"
        );
    }
}
