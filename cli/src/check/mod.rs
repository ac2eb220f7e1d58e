//! `lanes check` for certificates: every certificate and key loads, each key
//! matches its certificate, our chain is valid for our `id` and reaches a CA
//! the configuration names (a warning otherwise: the peer may trust another
//! CA), and any certificate ending within 30 days is a warning.

use ike_core::pki::chain::{identity_text, subject};
use ike_core::pki::{CertError, Certificate, TrustStore, UnixTime};

use crate::config::{self, Config, Connection};
use crate::daemon::plan::identity;

/// Certificates closer than this to their end are reported.
const EXPIRY_WARNING_SECS: u64 = 30 * 86_400;

/// The wall clock as ike-core wants it.
pub fn unix_now() -> UnixTime {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime(d.as_secs())
}

/// What `lanes check` prints and the errors that make it fail.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per certificate, and warnings.
    pub lines: Vec<String>,
    /// Problems that stop the connection from working.
    pub errors: Vec<String>,
}

/// Checks the certificates of every connection at time `now`.
pub fn certificates(cfg: &Config, now: UnixTime) -> Report {
    let mut r = Report::default();
    // Every CA the configuration names, for our own chains.
    let mut named = TrustStore::default();
    for c in cfg.connections.values() {
        if let Ok(Some(s)) = config::pki::trust_store(&c.remote) {
            named.cas.extend(s.cas);
        }
    }
    for (name, c) in &cfg.connections {
        connection(&mut r, name, c, &named, now);
    }
    r
}

fn connection(r: &mut Report, name: &str, c: &Connection, named: &TrustStore, now: UnixTime) {
    let local = match config::pki::local_cert(&c.local) {
        Ok(l) => l,
        Err(e) => return r.errors.push(format!("connection {name}: local: {e}")),
    };
    let store = match config::pki::trust_store(&c.remote) {
        Ok(s) => s,
        Err(e) => return r.errors.push(format!("connection {name}: remote: {e}")),
    };
    if let Some(s) = &store {
        for ca in &s.cas {
            expiry(r, name, "CA", ca, now);
        }
    }
    let Some(l) = local else {
        return;
    };
    expiry(r, name, "certificate", &l.chain.ee, now);
    for i in &l.chain.intermediates {
        expiry(r, name, "intermediate", i, now);
    }
    let id = identity(&c.local_id());
    // Our chain against the configured CAs, without CRLs (those are the peers').
    let s = TrustStore {
        cas: named.cas.clone(),
        crls: Vec::new(),
        ..TrustStore::default()
    };
    match s.verify(&l.chain, &id, now) {
        Ok(v) => r.lines.push(format!(
            "connection {name}: {} key matches {:?} (id {}), chain reaches CA {:?}",
            v.key.kind(),
            v.subject,
            identity_text(&id),
            v.ca
        )),
        Err(e @ CertError::UnknownCa { .. }) => r.lines.push(format!(
            "warning: connection {name}: our chain reaches no CA of any remote.cacerts ({e}); the peer must trust its CA"
        )),
        Err(e) => r.errors.push(format!("connection {name}: our own certificate fails: {e}")),
    }
}

fn expiry(r: &mut Report, name: &str, what: &str, c: &Certificate, now: UnixTime) {
    let end = c.tbs_certificate.validity.not_after;
    let left = end.to_unix_duration().as_secs().saturating_sub(now.0);
    if left == 0 {
        r.errors.push(format!(
            "connection {name}: {what} {:?} expired at {end}",
            subject(c)
        ));
    } else if left < EXPIRY_WARNING_SECS {
        r.lines.push(format!(
            "warning: connection {name}: {what} {:?} expires in {} days ({end}); renew it",
            subject(c),
            left / 86_400
        ));
    }
}

#[cfg(test)]
mod tests;
