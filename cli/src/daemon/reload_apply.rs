//! Applies a reload's [`Decision`](super::reload::Decision) to the running
//! daemon: `[daemon]` keys live where possible, then each connection.

use anyhow::Result;

use super::backend::SaBackend;
use super::driver::{Daemon, endpoint_config};
use super::plan::{self, ConnPlan};
use super::reload::{self, Decision, Verdict};
use super::steering::Steer;
use crate::config::{self, Config};

/// Keeps the `[daemon]` settings only a restart applies (sockets, steering)
/// at their running values.
fn keep_restart_settings(running: &config::Daemon, new: &mut config::Daemon) {
    new.listen.clone_from(&running.listen);
    new.ike_port = running.ike_port;
    new.nat_port = running.nat_port;
    new.steer_interfaces.clone_from(&running.steer_interfaces);
    new.steer_mode = running.steer_mode;
}

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// Re-reads the config file; with `dry_run` only tells what a reload
    /// would do. Established SAs of a connection that changed in place are
    /// kept (see [`super::reload`]).
    pub async fn reload_with(&mut self, dry_run: bool) -> Result<String> {
        let mut new = Config::load(&self.config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
        keep_restart_settings(&self.config.daemon, &mut new.daemon);
        let per_cpu_ok = self.per_cpu_ok();
        let mut plans = plan::all(&new, &mut self.reqids, self.opts.cpus, per_cpu_ok)?;
        let psk_changed = |name: &str| {
            let old = self.conns.get(name).map(|c| &c.plan.connection.psk.0);
            let new = plans.get(name).map(|p| &p.connection.psk.0);
            old.zip(new).is_some_and(|(a, b)| a != b)
        };
        let decision = reload::decide(&self.config.raw.0, &new.raw.0, psk_changed);
        if dry_run {
            return Ok(format!(
                "{}dry run: {} (nothing changed)",
                decision.render(),
                decision.summary()
            ));
        }
        self.apply_daemon(&new, &decision);
        for (name, verdict) in &decision.conns {
            match verdict {
                Verdict::Removed => self.remove_conn(name).await,
                Verdict::Replaced(why) => {
                    tracing::warn!(connection = %name, "reload replaces the connection: {why}");
                    self.remove_conn(name).await;
                }
                _ => {}
            }
        }
        self.config = new;
        for (name, verdict) in &decision.conns {
            let Some(p) = plans.remove(name) else {
                continue;
            };
            match verdict {
                Verdict::Added | Verdict::Replaced(_) => self.add_conn(p).await,
                Verdict::Updated(keys) => self.update_conn(p, keys).await,
                Verdict::Removed | Verdict::Unchanged => {}
            }
        }
        Ok(format!("reloaded: {}", decision.summary()))
    }

    /// Applies the live `[daemon]` keys and logs those that need a restart.
    fn apply_daemon(&mut self, new: &Config, d: &Decision) {
        if !d.daemon_live.is_empty() {
            self.pacer.set_limit(new.daemon.max_initiating);
            let e = endpoint_config(new, self.opts.cpus);
            self.ep.set_limits(e.cookie_threshold, e.dos);
            tracing::info!(keys = %d.daemon_live.join(", "), "[daemon] changes applied");
        }
        if !d.daemon_restart.is_empty() {
            tracing::warn!(
                keys = %d.daemon_restart.join(", "),
                "[daemon] changes need a restart of lanes; the running values stay"
            );
        }
    }

    /// A connection changed in place: its IKE SAs and Child SAs stay; the
    /// engine and the planner use the new settings from the next rekey.
    async fn update_conn(&mut self, p: ConnPlan, keys: &[String]) {
        let Some(id) = self.conns.get(&p.name).map(|c| c.id) else {
            return;
        };
        if let Err(e) = self.ep.update_connection(id, p.connection.clone()) {
            tracing::warn!(connection = %p.name, "cannot update in place ({e}); replacing it");
            self.remove_conn(&p.name).await;
            self.add_conn(p).await;
            return;
        }
        tracing::info!(connection = %p.name, keys = %keys.join(", "), "updated in place; SAs kept, new settings from their next rekey");
        super::driver::warn_legacy(&p);
        self.planner.load(&p.name, &p.children);
        if let Some(c) = self.conns.get_mut(&p.name) {
            c.plan = p;
        }
        self.run_planner().await;
    }
}
