//! Key exchanges a daemon may run off its event loop.
//!
//! A responder's Diffie-Hellman for a new IKE_SA_INIT (RFC 7296 §1.2) is the
//! costliest thing an unauthenticated peer can ask for (MODP-3072 is
//! milliseconds). With [`EndpointConfig::defer_ke`](crate::EndpointConfig::defer_ke)
//! the endpoint hands it out as a [`KeJob`] from
//! [`Endpoint::poll_ke_job`](crate::Endpoint::poll_ke_job); the daemon runs
//! [`KeJob::run`] on a bounded pool of worker threads and gives the
//! [`KeResult`] back to [`Endpoint::handle_ke_result`](crate::Endpoint::handle_ke_result).
//! Meanwhile the IKE SA waits, counted as half-open, and expires like one.

use crate::crypto::CryptoProvider;
use crate::crypto::SecretBytes;
use crate::ids::IkeSaId;
use crate::wire::KeId;

/// One key exchange: our share for `group` (a key pair, or an ML-KEM
/// ciphertext), completed with the peer's share.
#[derive(Debug)]
pub struct KeJob {
    pub(crate) ike: IkeSaId,
    pub(crate) group: KeId,
    pub(crate) peer: Vec<u8>,
}

/// The outcome of a [`KeJob`]: our public value and the shared secret, or
/// the failure (an unusable group or a malformed peer share).
pub struct KeResult {
    pub(crate) ike: IkeSaId,
    pub(crate) outcome: Result<(Vec<u8>, SecretBytes), ()>,
}

impl core::fmt::Debug for KeResult {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeResult")
            .field("ike", &self.ike)
            .field("ok", &self.outcome.is_ok())
            .finish_non_exhaustive()
    }
}

impl KeJob {
    /// The IKE SA waiting for it.
    pub fn ike(&self) -> IkeSaId {
        self.ike
    }

    /// Computes it (CPU-bound; no other state is touched).
    pub fn run(self, crypto: &CryptoProvider) -> KeResult {
        let outcome = crypto
            .ke(self.group)
            .and_then(|g| g.respond(&*crypto.random, &self.peer))
            .map_err(|_| ());
        KeResult {
            ike: self.ike,
            outcome,
        }
    }
}
