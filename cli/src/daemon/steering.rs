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

/// The steering the config asks for. Until the XDP loader is wired in, a config
/// with `steer_interfaces` runs without steering and says so.
pub fn attach(config: &crate::config::Config) -> Result<NoSteer> {
    if !config.daemon.steer_interfaces.is_empty() {
        tracing::warn!(
            interfaces = ?config.daemon.steer_interfaces,
            "XDP steering is not available in this build; inbound ESP follows RSS"
        );
    }
    Ok(NoSteer)
}
