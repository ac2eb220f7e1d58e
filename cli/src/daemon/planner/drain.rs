//! A rekeyed Child SA's inbound SA outlives the rekey (RFC 7296 §2.8): the
//! peer may still send on the old SA until it has switched to the new one,
//! and packets already in flight must decrypt. strongSwan keeps the old
//! inbound SA past the Delete (`delete_rekeyed_delay`,
//! src/libcharon/sa/ikev2/tasks/child_delete.c).
//!
//! Once the new SA is installed, the old one's outbound SA and its policy
//! holds go; its inbound SA and steering bind stay ("draining") until the
//! engine reports the old Child SA deleted, which happens only after the
//! Delete exchange (that the peer starts after switching, or answers after
//! switching).

use ike_core::ChildSaId;

use super::install::holder_of;
use super::{Op, Planner};

impl Planner {
    /// The SA replacing `old` is installed: `old` keeps only its inbound half.
    pub(super) fn retire_ops(&mut self, old: ChildSaId) -> Vec<Op> {
        let Some(mut rec) = self.children.remove(&old) else {
            return Vec::new();
        };
        let holder = holder_of(old, &rec);
        for p in &rec.policies {
            self.policies.release(p, &holder);
        }
        let pols = std::mem::take(&mut rec.policies);
        let mut ops = self.policies.sync(&pols, &self.paused);
        if self.sas.contains(&rec.sa_out) {
            ops.push(Op::DeleteSa(rec.sa_out));
        }
        tracing::info!(connection = %rec.conn, child = %rec.name, spi_in = format_args!("{:08x}", rec.sa_in.spi.0), "rekeyed Child SA: outbound SA removed, inbound SA kept until the Delete");
        self.draining.insert(old, rec);
        ops
    }

    /// A draining Child SA is deleted: its inbound SA and bind go.
    pub(super) fn drained_ops(&mut self, id: ChildSaId) -> Vec<Op> {
        let Some(rec) = self.draining.remove(&id) else {
            return Vec::new();
        };
        self.reqids.release(rec.reqid, id);
        let mut ops = Vec::new();
        if self.binds.contains_key(&rec.sa_in.spi.0) {
            ops.push(Op::Unbind {
                spi: rec.sa_in.spi.0,
            });
        }
        if self.sas.contains(&rec.sa_in) {
            ops.push(Op::DeleteSa(rec.sa_in));
        }
        tracing::info!(connection = %rec.conn, child = %rec.name, spi_in = format_args!("{:08x}", rec.sa_in.spi.0), "rekeyed Child SA removed");
        ops
    }

    /// The draining Child SAs of `conn`.
    pub(super) fn draining_of(&self, conn: &str) -> Vec<ChildSaId> {
        let mut ids: Vec<ChildSaId> = self
            .draining
            .iter()
            .filter(|(_, r)| *r.conn == *conn)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}
