//! [`SaBackend`] over XFRM netlink (xfrm-offload).

use anyhow::{Context, Result};
use tokio::sync::mpsc;
use xfrm_offload::{
    Error as XfrmError, Event, Groups, Monitor, OffloadInEffect, OffloadMode, PolicyId, PolicySpec,
    SaId, SaSpec, Xfrm,
};

use super::backend::{Caps, Counters, KernelEvent, OffloadState, SaBackend};

/// The real kernel.
#[derive(Debug)]
pub struct XfrmBackend {
    xfrm: Xfrm,
}

impl XfrmBackend {
    /// Opens the XFRM netlink socket (needs CAP_NET_ADMIN for changes).
    pub fn new() -> Result<Self> {
        Ok(XfrmBackend {
            xfrm: Xfrm::new().context("opening the XFRM netlink socket")?,
        })
    }
}

/// ENOENT/ESRCH on delete: already gone.
fn gone(e: &XfrmError) -> bool {
    matches!(e.errno(), Some(libc::ENOENT | libc::ESRCH))
}

impl SaBackend for XfrmBackend {
    async fn caps(&mut self) -> Caps {
        match xfrm_offload::probe::capabilities(&self.xfrm).await {
            Ok(c) => Caps {
                esp: c.esp,
                sa_dir: c.sa_dir,
                per_cpu: c.per_cpu_sa,
            },
            Err(e) => {
                tracing::warn!("probing kernel XFRM capabilities failed: {e}");
                Caps::default()
            }
        }
    }

    async fn add_sa(
        &mut self,
        spec: &SaSpec,
        offload: OffloadMode,
        iface: Option<&str>,
    ) -> Result<OffloadState> {
        let inst = self.xfrm.install_sa(spec, offload, iface, false).await?;
        for (rung, why) in &inst.fell_back {
            tracing::info!(spi = %spec.spi, "offload {rung} not used: {why}");
        }
        let mode = match inst.offload {
            OffloadInEffect::Software => "none",
            OffloadInEffect::Crypto { .. } => "crypto",
            OffloadInEffect::Packet { .. } => "packet",
        };
        Ok(OffloadState {
            mode: mode.into(),
            packet_ifindex: inst.policy_offload(),
        })
    }

    async fn add_sas(&mut self, specs: &[SaSpec]) -> Result<Vec<Result<()>>> {
        let rs = self.xfrm.add_sas(specs, false).await?;
        Ok(rs.into_iter().map(|r| r.map_err(Into::into)).collect())
    }

    async fn delete_sa(&mut self, id: &SaId) -> Result<()> {
        match self.xfrm.delete_sa(id).await {
            Err(e) if !gone(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn rebind_sa(
        &mut self,
        id: &SaId,
        dir: xfrm_offload::SaDir,
        remote: std::net::SocketAddr,
    ) -> Result<SaId> {
        Ok(self.xfrm.rebind_sa(id, dir, remote).await?)
    }

    async fn counters(&mut self, id: &SaId) -> Result<Counters> {
        let st = self.xfrm.get_sa(id).await?;
        Ok(Counters {
            bytes: st.cur_bytes,
            packets: st.cur_packets,
            replay_failures: st.replay_failures,
            integrity_failures: st.integrity_failures,
        })
    }

    async fn update_policies(&mut self, specs: &[PolicySpec]) -> Result<Vec<Result<()>>> {
        let rs = self.xfrm.update_policies(specs).await?;
        Ok(rs.into_iter().map(|r| r.map_err(Into::into)).collect())
    }

    async fn delete_policy(&mut self, id: &PolicyId) -> Result<()> {
        match self.xfrm.delete_policy(id).await {
            Err(e) if !gone(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn flush_ours(&mut self) -> Result<(usize, usize)> {
        let f = self.xfrm.flush_ours().await?;
        for e in &f.errors {
            tracing::warn!("removing leftover kernel state: {e}");
        }
        Ok((f.sas, f.policies))
    }

    fn events(&mut self) -> Result<mpsc::UnboundedReceiver<KernelEvent>> {
        let mut mon = Monitor::new(self.xfrm.clone(), Groups::default())
            .context("joining XFRM multicast groups")?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let ev = match mon.next().await {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::warn!("XFRM monitor: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let out = match ev {
                    Event::Acquire(a) => KernelEvent::Acquire {
                        reqid: a
                            .reqid
                            .map_or_else(|| a.templates.first().map_or(0, |t| t.reqid.0), |r| r.0),
                        cpu: a.cpu.map(|c| c.0),
                        seq: a.seq,
                        src: a.templates.first().map_or(a.src, |t| t.src),
                        dst: a.templates.first().map_or(a.dst, |t| t.dst),
                    },
                    Event::Expire(x)
                        if super::kernel::is_fallback_demotion(
                            &x.sa.lifetimes,
                            x.sa.pcpu,
                            x.sa.dir,
                            x.hard,
                        ) =>
                    {
                        tracing::debug!(
                            spi = format_args!("{:08x}", x.sa.spi.0),
                            "per-CPU fallback SA demoted"
                        );
                        continue;
                    }
                    Event::Expire(x) => KernelEvent::Expire {
                        spi: x.sa.spi.0,
                        dst: x.sa.dst,
                        reqid: x.sa.reqid.0,
                        hard: x.hard,
                    },
                    // An inbound SA that accepts any source port (a per-CPU
                    // group's, see kernel::child_sas) reports every packet.
                    Event::Mapping(m) if m.old.port() == 0 => continue,
                    Event::Mapping(m) => KernelEvent::Mapping {
                        spi: m.spi.0,
                        reqid: m.reqid.0,
                        old: m.old,
                        new: m.new,
                    },
                    Event::Resynced { .. } => KernelEvent::Overrun,
                    _ => continue,
                };
                if tx.send(out).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
