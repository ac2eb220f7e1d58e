//! The executor of the kernel planner: runs its ops on the [`SaBackend`] and
//! [`Steer`], reports the results back, and hands its outputs to the engine.

use std::time::Instant;

use anyhow::Result;
use ike_core::ChildSaId;
use xfrm_offload::{OffloadMode, PolicySpec, SaSpec};

use super::backend::SaBackend;
use super::driver::Daemon;
use super::netif::iface_for;
use super::planner::{Done, Op, OpResult, Output};
use super::steering::Steer;

fn results(batch: Result<Vec<Result<()>>>, n: usize) -> Vec<OpResult> {
    match batch {
        Ok(rs) => rs
            .into_iter()
            .map(|r| r.map(|()| Done::Ok).map_err(|e| format!("{e:#}")))
            .collect(),
        Err(e) => (0..n).map(|_| Err(format!("{e:#}"))).collect(),
    }
}

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// Runs the planner's batches until it is idle, then asks the engine to
    /// delete the Child SAs that could not be installed.
    pub(super) async fn run_planner(&mut self) {
        while let Some(batch) = self.planner.poll_batch() {
            if tracing::enabled!(tracing::Level::DEBUG) {
                for (i, op) in batch.ops.iter().enumerate() {
                    tracing::debug!(batch = batch.id, op = i, "kernel: {op}");
                }
            }
            let results = self.execute(batch.ops).await;
            for (i, r) in results.iter().enumerate() {
                if let Err(e) = r {
                    tracing::debug!(batch = batch.id, op = i, "kernel op failed: {e}");
                }
            }
            self.planner.handle_results(batch.id, results);
        }
        while let Some(out) = self.planner.poll_output() {
            match out {
                Output::DeleteChild { child, .. } => {
                    let _ = self.ep.delete_child(Instant::now(), child);
                }
            }
        }
    }

    /// Runs ops in order, one result each: consecutive SAs without offload
    /// go in one pipelined batch (no read-back), as do consecutive policies.
    async fn execute(&mut self, ops: Vec<Op>) -> Vec<OpResult> {
        let mut out = Vec::with_capacity(ops.len());
        let mut ops = ops.into_iter().peekable();
        while let Some(op) = ops.next() {
            match op {
                Op::AddSa {
                    spec,
                    offload: OffloadMode::No,
                    ..
                } => {
                    let mut specs: Vec<SaSpec> = vec![*spec];
                    while let Some(Op::AddSa {
                        offload: OffloadMode::No,
                        ..
                    }) = ops.peek()
                    {
                        if let Some(Op::AddSa { spec, .. }) = ops.next() {
                            specs.push(*spec);
                        }
                    }
                    let t = Instant::now();
                    let r = self.backend.add_sas(&specs).await;
                    let ok = r
                        .as_ref()
                        .map_or(0, |rs| rs.iter().filter(|r| r.is_ok()).count());
                    let took = t.elapsed();
                    tracing::trace!(
                        sas = specs.len(),
                        ok,
                        us = took.as_micros(),
                        "SAs installed"
                    );
                    self.metrics.sa_installs(took, ok, specs.len() - ok);
                    out.extend(
                        results(r, specs.len())
                            .into_iter()
                            .map(|r| r.map(|_| Done::Sa(super::backend::OffloadState::none()))),
                    );
                }
                Op::AddPolicy(p) => {
                    let mut specs: Vec<PolicySpec> = vec![p];
                    while let Some(Op::AddPolicy(_)) = ops.peek() {
                        if let Some(Op::AddPolicy(p)) = ops.next() {
                            specs.push(p);
                        }
                    }
                    let r = self.backend.update_policies(&specs).await;
                    out.extend(results(r, specs.len()));
                }
                other => out.push(self.execute_one(other).await),
            }
        }
        out
    }

    async fn execute_one(&mut self, op: Op) -> OpResult {
        let r = match op {
            Op::AddSa {
                spec,
                offload,
                local,
            } => {
                let iface = iface_for(local);
                let t = Instant::now();
                let r = self.backend.add_sa(&spec, offload, iface.as_deref()).await;
                let ok = usize::from(r.is_ok());
                self.metrics.sa_installs(t.elapsed(), ok, 1 - ok);
                return r
                    .map(Done::Sa)
                    .map_err(|e| format!("SA {:08x}: {e:#}", spec.spi.0));
            }
            Op::DeleteSa(id) => self.backend.delete_sa(&id).await,
            Op::RebindSa { id, dir, remote } => {
                return self
                    .backend
                    .rebind_sa(&id, dir, remote)
                    .await
                    .map(Done::Rebound)
                    .map_err(|e| format!("moving SA {:08x}: {e:#}", id.spi.0));
            }
            Op::DeletePolicy(id) => self.backend.delete_policy(&id).await,
            Op::Bind { spi, cpu } => self.steer.bind(spi, cpu),
            Op::Unbind { spi } => self.steer.unbind(spi),
            Op::AddPolicy(p) => {
                return results(self.backend.update_policies(&[p]).await, 1)
                    .pop()
                    .unwrap_or_else(|| Err("no result".into()));
            }
        };
        r.map(|()| Done::Ok).map_err(|e| format!("{e:#}"))
    }

    /// Closes the connection's IKE SAs (Delete to the peer) and removes its
    /// Child SAs and trap policies from the kernel; `unload` also forgets it
    /// in the planner. Returns (IKE SAs, Child SAs).
    pub(super) async fn teardown_conn(&mut self, conn: &str, unload: bool) -> (usize, usize) {
        let now = Instant::now();
        let mut ikes = 0;
        if let Some(id) = self.conns.get(conn).map(|c| c.id) {
            for ike in self.ep.ike_sas_of(id) {
                if self.ep.close(now, ike).is_ok() {
                    ikes += 1;
                }
            }
        }
        self.drain().await; // sends the Deletes; their answers are not awaited
        let children: Vec<ChildSaId> = self
            .planner
            .children()
            .filter(|(_, r)| *r.conn == *conn)
            .map(|(id, _)| *id)
            .collect();
        if unload {
            self.planner.unload(conn);
        } else {
            self.planner.down(conn);
        }
        self.run_planner().await;
        (ikes, children.len())
    }
}
