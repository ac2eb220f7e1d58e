//! The lanes daemon: ike-core driven by tokio, with the kernel behind
//! [`backend::SaBackend`] and steering behind [`steering::Steer`] so the loop
//! runs in tests without root.

pub mod backend;
pub mod driver;
mod exchange_status;
mod exec;
pub mod fake;
mod feed;
pub mod ke_pool;
pub mod kernel;
pub mod netif;
pub mod ocsp;
pub mod pacing;
#[cfg(test)]
mod pacing_tests;
pub mod plan;
pub mod planner;
pub mod privs;
pub mod reload;
mod reload_apply;
pub mod revive;
pub mod route;
mod status;
pub mod steering;
pub mod udp;
pub mod xfrm_backend;

use std::path::Path;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

pub use backend::{Caps, KernelEvent, SaBackend};
pub use driver::{Daemon, Inputs, Options};
pub use fake::FakeKernel;
pub use steering::{NoSteer, RecordingSteer, Steer};

use crate::config::Config;
use crate::control;

/// `lanes daemon`: runs in the foreground until SIGTERM/SIGINT; SIGHUP reloads.
pub fn run(config_path: &Path, socket: &Path, keep_kernel_state: bool) -> Result<()> {
    let config = Config::load(config_path)?;
    let metrics_listen = config.daemon.metrics_listen;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = control::bind(socket)?;
        let backend = xfrm_backend::XfrmBackend::new()?;
        let steer = steering::attach(&config)?;
        let cpus = crate::doctor::online_cpus_host();
        let opts = Options {
            keep_kernel_state,
            cpus,
        };
        let mut daemon = Daemon::new(config_path.to_path_buf(), config, backend, steer, opts)?;
        daemon.start().await?;
        // Sockets bound, steering attached, kernel subscribed: the rest needs
        // only XFRM and the steering maps.
        match privs::drop_unneeded() {
            Ok(privs::Dropped::Done(kept)) => tracing::info!(
                kept = format_args!("{kept:#x}"),
                "capabilities dropped to CAP_NET_ADMIN, CAP_BPF and CAP_DAC_READ_SEARCH"
            ),
            Ok(privs::Dropped::Skipped(why)) => {
                tracing::warn!("capabilities kept: {why}")
            }
            Err(e) => tracing::warn!("capabilities kept: {e}"),
        }

        let (ctl_tx, ctl_rx) = mpsc::channel(32);
        if let Some(addr) = metrics_listen {
            let limits = crate::metrics::Limits::default();
            crate::metrics::spawn(addr, ctl_tx.clone(), daemon.metrics(), limits).await?;
        }
        tokio::spawn(control::serve(listener, ctl_tx));
        let (reload_tx, reload_rx) = mpsc::channel(4);
        let (stop_tx, stop_rx) = oneshot::channel();
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            let mut stop_tx = Some(stop_tx);
            loop {
                tokio::select! {
                    _ = hup.recv() => { let _ = reload_tx.try_send(()); }
                    _ = term.recv() => { if let Some(t) = stop_tx.take() { let _ = t.send(()); } }
                    _ = int.recv() => { if let Some(t) = stop_tx.take() { let _ = t.send(()); } }
                }
            }
        });
        tracing::info!(socket = %socket.display(), "lanes daemon running");
        let r = daemon
            .run(Inputs {
                control: ctl_rx,
                reload: reload_rx,
                shutdown: stop_rx,
            })
            .await;
        let _ = std::fs::remove_file(socket);
        r
    })
}
