//! OCSP lookups a daemon runs off its event loop (RFC 6960 appendix A).
//!
//! When a peer's certificate chain needs OCSP answers the engine does not
//! have, its IKE_AUTH waits (the IKE SA keeps the message) and the endpoint
//! hands each missing lookup out once as an [`OcspQuery`] from
//! [`Endpoint::poll_ocsp_query`](crate::Endpoint::poll_ocsp_query). The
//! daemon fetches it (with a timeout) and gives the [`OcspStatus`] back to
//! [`Endpoint::handle_ocsp_status`](crate::Endpoint::handle_ocsp_status); the
//! answer is cached until its nextUpdate and every IKE SA waiting for it runs
//! its IKE_AUTH again. Other IKE SAs go on meanwhile.

use std::collections::{HashMap, VecDeque};

use crate::ids::IkeSaId;
use crate::pki::{OcspCache, OcspQuery, OcspStatus, UnixTime};

/// The endpoint's OCSP answers, lookups in flight and their waiters.
#[derive(Debug, Default)]
pub(crate) struct OcspJobs {
    pub(crate) cache: OcspCache,
    /// Request (CertID) → the IKE SAs waiting for its answer.
    in_flight: HashMap<Vec<u8>, Vec<IkeSaId>>,
    queries: VecDeque<OcspQuery>,
}

impl OcspJobs {
    /// `ike` waits for `queries`; each one not in flight yet is handed out.
    pub(crate) fn ask(&mut self, ike: IkeSaId, queries: Vec<OcspQuery>) {
        for q in queries {
            match self.in_flight.get_mut(q.request()) {
                Some(w) => {
                    if !w.contains(&ike) {
                        w.push(ike);
                    }
                }
                None => {
                    self.in_flight.insert(q.request().to_vec(), vec![ike]);
                    self.queries.push_back(q);
                }
            }
        }
    }

    /// The next lookup to fetch.
    pub(crate) fn next(&mut self) -> Option<OcspQuery> {
        self.queries.pop_front()
    }

    /// Keeps the answer to `request` and returns who waited for it.
    pub(crate) fn answer(
        &mut self,
        request: &[u8],
        status: OcspStatus,
        now: UnixTime,
    ) -> Vec<IkeSaId> {
        self.cache.insert(request.to_vec(), status, now);
        self.in_flight.remove(request).unwrap_or_default()
    }

    /// Lookups handed out and not answered yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
