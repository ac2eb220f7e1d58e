//! Steering of inbound ESP to the CPU that owns its SA: the [`Steer`] trait,
//! [`NoSteer`] (no XDP), and a recording implementation for tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

/// Keeps the SPI → CPU map of the XDP program in step with the SAs.
pub trait Steer {
    /// Steer packets with inbound `spi` to `cpu`.
    fn bind(&mut self, spi: u32, cpu: u32) -> Result<()>;
    /// Stop steering `spi`.
    fn unbind(&mut self, spi: u32) -> Result<()>;
    /// Detach from every interface (daemon exit).
    fn detach(&mut self) -> Result<()>;
    /// Whether steering is attached anywhere (else bindings are not attempted).
    fn active(&self) -> bool;
    /// The XDP program's per-CPU packet counters, if there is one.
    fn stats(&self) -> Option<ebpf_steer::Stats> {
        None
    }
    /// Packets the XDP program steered per bound inbound SPI, if there is one.
    fn binding_packets(&self) -> Option<BTreeMap<u32, u64>> {
        None
    }
}

/// No steering: packets follow RSS.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSteer;

impl Steer for NoSteer {
    fn bind(&mut self, _spi: u32, _cpu: u32) -> Result<()> {
        Ok(())
    }
    fn unbind(&mut self, _spi: u32) -> Result<()> {
        Ok(())
    }
    fn detach(&mut self) -> Result<()> {
        Ok(())
    }
    fn active(&self) -> bool {
        false
    }
}

/// Records bindings in a shared map (tests).
#[derive(Clone, Debug, Default)]
pub struct RecordingSteer(pub Arc<Mutex<BTreeMap<u32, u32>>>);

impl RecordingSteer {
    /// The current SPI → CPU map.
    pub fn map(&self) -> BTreeMap<u32, u32> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Steer for RecordingSteer {
    fn bind(&mut self, spi: u32, cpu: u32) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.insert(spi, cpu);
        }
        Ok(())
    }
    fn unbind(&mut self, spi: u32) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&spi);
        }
        Ok(())
    }
    fn detach(&mut self) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
        Ok(())
    }
    fn active(&self) -> bool {
        true
    }
}

impl Steer for Box<dyn Steer> {
    fn bind(&mut self, spi: u32, cpu: u32) -> Result<()> {
        (**self).bind(spi, cpu)
    }
    fn unbind(&mut self, spi: u32) -> Result<()> {
        (**self).unbind(spi)
    }
    fn detach(&mut self) -> Result<()> {
        (**self).detach()
    }
    fn active(&self) -> bool {
        (**self).active()
    }
    fn stats(&self) -> Option<ebpf_steer::Stats> {
        (**self).stats()
    }
    fn binding_packets(&self) -> Option<BTreeMap<u32, u64>> {
        (**self).binding_packets()
    }
}

/// The XDP program of `ebpf-steer`, attached to the configured interfaces.
pub struct XdpSteer {
    steering: ebpf_steer::Steering,
    ifaces: Vec<String>,
    root: ebpf_steer::PinRoot,
}

impl std::fmt::Debug for XdpSteer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpSteer")
            .field("ifaces", &self.ifaces)
            .finish_non_exhaustive()
    }
}

impl Steer for XdpSteer {
    fn bind(&mut self, spi: u32, cpu: u32) -> Result<()> {
        Ok(self.steering.bind(ebpf_steer::Binding {
            spi,
            dst: None,
            cpu,
        })?)
    }
    fn unbind(&mut self, spi: u32) -> Result<()> {
        self.steering.unbind(spi, None)?;
        Ok(())
    }
    fn detach(&mut self) -> Result<()> {
        for iface in &self.ifaces {
            ebpf_steer::Steering::detach(&self.root, iface)?;
        }
        Ok(())
    }
    fn active(&self) -> bool {
        true
    }
    fn stats(&self) -> Option<ebpf_steer::Stats> {
        self.steering
            .stats()
            .map_err(|e| tracing::debug!("reading the steering counters: {e}"))
            .ok()
    }
    fn binding_packets(&self) -> Option<BTreeMap<u32, u64>> {
        let all = self
            .steering
            .binding_packets()
            .map_err(|e| tracing::debug!("reading the binding counters: {e}"))
            .ok()?;
        // The daemon binds any destination only (`dst: None`).
        Some(
            all.into_iter()
                .filter(|(b, _)| b.dst.is_none())
                .map(|(b, n)| (b.spi, n))
                .collect(),
        )
    }
}

/// Attaches steering to `[daemon] steer_interfaces`; with none configured, or if
/// attaching fails (logged with the reason), the daemon runs without it.
pub fn attach(config: &crate::config::Config) -> Result<Box<dyn Steer>> {
    let d = &config.daemon;
    if d.steer_interfaces.is_empty() {
        return Ok(Box::new(NoSteer));
    }
    let opts = ebpf_steer::AttachOptions {
        mode: match d.steer_mode {
            crate::config::SteerMode::Native => ebpf_steer::Mode::Native,
            crate::config::SteerMode::Skb => ebpf_steer::Mode::Skb,
        },
        ..ebpf_steer::AttachOptions::default()
    };
    let mut last = None;
    let mut ifaces = Vec::new();
    for iface in &d.steer_interfaces {
        match ebpf_steer::Steering::attach(iface, &opts) {
            Ok((s, a)) => {
                if let Some(why) = &a.fallback {
                    tracing::warn!(%iface, "native XDP refused ({why}); using skb mode");
                }
                tracing::info!(%iface, mode = a.mode.as_str(), "XDP steering attached");
                ifaces.push(iface.clone());
                last = Some(s);
            }
            Err(e) => {
                tracing::error!(%iface, "XDP steering not attached: {e}; inbound ESP follows RSS")
            }
        }
    }
    Ok(match last {
        Some(steering) => Box::new(XdpSteer {
            steering,
            ifaces,
            root: opts.pin_root,
        }),
        None => Box::new(NoSteer),
    })
}
