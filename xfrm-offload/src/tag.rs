//! How lanes recognises its own kernel state: by **reqid**.
//!
//! * Every SA lanes installs has a reqid in `REQID_BASE ..= REQID_BASE +
//!   0xfffe` (`0x6c6e0000..=0x6c6efffe`, "ln" in the top half; one per
//!   Child SA config, [`reqid`]) or in `SET_REQID_BASE ..` (`0x6d000000 ..=
//!   0x6dffffff`; one per negotiated selector set that differs from its
//!   config's, [`set_reqid`]).
//! * Every policy lanes installs carries at least one template with such a
//!   reqid. Lanes installs no template-less (bypass/block) policies, so a
//!   policy without a lanes reqid is never lanes'.
//! * `REQID_BASE + 0xffff` ([`PROBE_REQID`]) marks throw-away probe SAs.
//!
//! Marks and if_ids are left to the operator (routing, XFRM interfaces) and
//! are not used for ownership. strongSwan allocates reqids from 1 upwards
//! and libreswan from 16384 in steps of 4, so the ranges do not meet.
//!
//! After a restart the daemon lists its state with [`Xfrm::list_ours`]
//! (to adopt it) or removes it with [`Xfrm::flush_ours`]; SAs and policies of
//! other daemons are never touched (no XFRM_MSG_FLUSHSA / FLUSHPOLICY).

use crate::error::{Error, SpecError};
use crate::handle::Xfrm;
use crate::msg::policy::PolicyState;
use crate::msg::sa::SaState;
use crate::types::Reqid;

/// First reqid of lanes' range.
pub const REQID_BASE: u32 = 0x6c6e_0000;
/// Number of reqids in lanes' range, the probe reqid included.
pub const REQID_COUNT: u32 = 0x1_0000;
/// Reqid of capability-probe SAs.
pub const PROBE_REQID: Reqid = Reqid(REQID_BASE + REQID_COUNT - 1);
/// First reqid of lanes' per-selector-set range.
pub const SET_REQID_BASE: u32 = 0x6d00_0000;
/// Number of reqids in the per-selector-set range.
pub const SET_REQID_COUNT: u32 = 0x0100_0000;

/// The `n`-th lanes reqid (`n < 0xffff`).
pub fn reqid(n: u16) -> Result<Reqid, SpecError> {
    let r = REQID_BASE + u32::from(n);
    if r == PROBE_REQID.0 {
        return Err(SpecError::ForeignReqid(r));
    }
    Ok(Reqid(r))
}

/// The `n`-th reqid of the per-selector-set range (`n < SET_REQID_COUNT`).
pub fn set_reqid(n: u32) -> Result<Reqid, SpecError> {
    if n >= SET_REQID_COUNT {
        return Err(SpecError::ForeignReqid(SET_REQID_BASE.wrapping_add(n)));
    }
    Ok(Reqid(SET_REQID_BASE + n))
}

/// True for reqids in lanes' ranges (probe included).
pub fn is_ours(r: Reqid) -> bool {
    r.0.wrapping_sub(REQID_BASE) < REQID_COUNT || is_set_reqid(r)
}

/// True for a reqid of the per-selector-set range.
pub fn is_set_reqid(r: Reqid) -> bool {
    r.0.wrapping_sub(SET_REQID_BASE) < SET_REQID_COUNT
}

/// True for an SA lanes installed.
pub fn sa_is_ours(s: &SaState) -> bool {
    is_ours(s.reqid)
}

/// True for a policy lanes installed.
pub fn policy_is_ours(p: &PolicyState) -> bool {
    p.templates.iter().any(|t| is_ours(t.reqid))
}

/// Lanes' SAs and policies found in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// SAs (keys dropped).
    pub sas: Vec<SaState>,
    /// Policies.
    pub policies: Vec<PolicyState>,
}

/// What [`Xfrm::flush_ours`] removed.
#[derive(Debug, Default)]
pub struct Flushed {
    /// SAs deleted.
    pub sas: usize,
    /// Policies deleted.
    pub policies: usize,
    /// Deletions that failed (already gone is not a failure).
    pub errors: Vec<Error>,
}

impl Xfrm {
    /// Lists the SAs and policies tagged as lanes'.
    pub async fn list_ours(&self) -> Result<Owned, Error> {
        let sas = self
            .dump_sas()
            .await?
            .into_iter()
            .filter(sa_is_ours)
            .collect();
        let policies = self
            .dump_policies()
            .await?
            .into_iter()
            .filter(policy_is_ours)
            .collect();
        Ok(Owned { sas, policies })
    }

    /// Deletes lanes' policies, then lanes' SAs; leaves everything else.
    pub async fn flush_ours(&self) -> Result<Flushed, Error> {
        let owned = self.list_ours().await?;
        let mut out = Flushed::default();
        let pol_ids: Vec<_> = owned.policies.iter().filter_map(|p| p.id()).collect();
        for r in self.delete_policies(&pol_ids).await? {
            match r {
                Ok(()) => out.policies += 1,
                Err(e) if gone(&e) => {}
                Err(e) => out.errors.push(e),
            }
        }
        let sa_ids: Vec<_> = owned.sas.iter().map(|s| s.id()).collect();
        for r in self.delete_sas(&sa_ids).await? {
            match r {
                Ok(()) => out.sas += 1,
                Err(e) if gone(&e) => {}
                Err(e) => out.errors.push(e),
            }
        }
        Ok(out)
    }
}

fn gone(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::ESRCH | libc::ENOENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds() {
        assert!(is_ours(Reqid(REQID_BASE)));
        assert!(is_ours(PROBE_REQID));
        assert!(!is_ours(Reqid(REQID_BASE - 1)));
        assert!(!is_ours(Reqid(REQID_BASE + REQID_COUNT)));
        assert!(!is_ours(Reqid(1)));
        assert_eq!(reqid(5), Ok(Reqid(0x6c6e_0005)));
        assert!(reqid(0xffff).is_err());
        assert_eq!(set_reqid(0), Ok(Reqid(SET_REQID_BASE)));
        assert!(is_ours(Reqid(0x6dff_ffff)) && is_set_reqid(Reqid(0x6dff_ffff)));
        assert!(!is_ours(Reqid(0x6e00_0000)) && !is_set_reqid(Reqid(REQID_BASE)));
        assert!(set_reqid(SET_REQID_COUNT).is_err());
    }
}
