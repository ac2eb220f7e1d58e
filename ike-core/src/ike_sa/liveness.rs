//! The end of a liveness check (RFC 7296 §2.4): an empty INFORMATIONAL that
//! stays unanswered for the connection's `dpd_timeout` declares the peer dead,
//! even when the retransmission budget would wait longer.

use std::time::Instant;

use super::{IkeSa, Pending};

impl IkeSa {
    /// Caps the liveness check just sent at `dpd_timeout` (zero: the
    /// retransmission budget alone decides, as strongSwan does for IKEv2).
    pub(super) fn limit_dpd(&mut self, now: Instant) {
        let timeout = self.cfg.dpd_timeout;
        if timeout.is_zero() {
            return;
        }
        if let Some(o) = self.outstanding.as_mut()
            && matches!(o.pending, Pending::Dpd)
        {
            o.rt = o.rt.with_give_up(now + timeout);
        }
    }
}
