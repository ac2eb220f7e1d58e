//! The offload ladder (`no | crypto | packet | auto`), like strongSwan's
//! `hw_offload`, but every NEWSA is read back with GETSA: the kernel silently
//! installs a software SA when crypto offload is impossible
//! (`net/xfrm/xfrm_device.c` `xfrm_dev_state_add` returns 0 without a device
//! or on -EOPNOTSUPP), so "requested" is never reported as "in effect".
//! `XFRMA_OFFLOAD_DEV` is present in the read-back only when `xso.dev` is set.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, OffloadError};
use crate::ethtool;
use crate::handle::Xfrm;
use crate::msg::policy::{PolicySpec, PolicyState};
use crate::msg::sa::{OffloadDev, SaSpec, SaState};

/// Offload wanted for an SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OffloadMode {
    /// Software crypto.
    #[default]
    No,
    /// NIC crypto offload; fail if not in effect.
    Crypto,
    /// NIC packet offload (policies must be offloaded too); fail if refused.
    Packet,
    /// Packet, else crypto, else software; report what is in effect.
    Auto,
}

impl FromStr for OffloadMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "no" => Ok(Self::No),
            "crypto" | "yes" => Ok(Self::Crypto),
            "packet" => Ok(Self::Packet),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "unknown offload mode {other:?} (no, crypto, packet, auto)"
            )),
        }
    }
}

impl fmt::Display for OffloadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::No => "no",
            Self::Crypto => "crypto",
            Self::Packet => "packet",
            Self::Auto => "auto",
        })
    }
}

/// Offload actually in effect, from the read-back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffloadInEffect {
    /// Software crypto.
    Software,
    /// Crypto offload on this ifindex.
    Crypto {
        /// Device.
        ifindex: u32,
    },
    /// Packet offload on this ifindex.
    Packet {
        /// Device.
        ifindex: u32,
    },
}

impl OffloadInEffect {
    /// From an SA read back with GETSA.
    pub fn of(state: &SaState) -> Self {
        match state.offload {
            None => Self::Software,
            Some(o) if o.packet => Self::Packet { ifindex: o.ifindex },
            Some(o) => Self::Crypto { ifindex: o.ifindex },
        }
    }
}

impl fmt::Display for OffloadInEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Software => f.write_str("software"),
            Self::Crypto { ifindex } => write!(f, "crypto offload (ifindex {ifindex})"),
            Self::Packet { ifindex } => write!(f, "packet offload (ifindex {ifindex})"),
        }
    }
}

/// An installed SA and the truth about its offload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The SA as read back.
    pub state: SaState,
    /// Offload in effect.
    pub offload: OffloadInEffect,
    /// Rungs of the ladder that failed, with the reason (auto mode).
    pub fell_back: Vec<(&'static str, String)>,
}

impl Installed {
    /// The ifindex policies must be offloaded to (packet offload only).
    pub fn policy_offload(&self) -> Option<u32> {
        match self.offload {
            OffloadInEffect::Packet { ifindex } => Some(ifindex),
            _ => None,
        }
    }
}

impl Xfrm {
    /// Installs (or with `update`, updates) an SA with the offload ladder and
    /// returns the mode in effect, read back with GETSA. `iface` is the
    /// device to offload to; without one, every mode but `No` is an error
    /// except `Auto`, which installs in software.
    pub async fn install_sa(
        &self,
        spec: &SaSpec,
        mode: OffloadMode,
        iface: Option<&str>,
        update: bool,
    ) -> Result<Installed, Error> {
        let mut fell_back = Vec::new();
        let target = match (mode, iface) {
            (OffloadMode::No, _) | (OffloadMode::Auto, None) => None,
            (_, None) => {
                return Err(OffloadError::NotCapable {
                    iface: "<none given>".into(),
                }
                .into());
            }
            (_, Some(name)) => Some((name, ethtool::ifindex(name)?)),
        };
        let installed = match (mode, target) {
            (_, None) => self.try_rung(spec, None, update).await?,
            (OffloadMode::Crypto, Some((name, ifindex))) => {
                let st = self
                    .try_rung(
                        spec,
                        Some(OffloadDev {
                            ifindex,
                            packet: false,
                        }),
                        update,
                    )
                    .await
                    .map_err(|e| refused(name, spec, "crypto", e))?;
                if st.offload.is_none() {
                    // Silent software fallback: remove it, the caller asked for crypto.
                    let _ = self.delete_sa(&spec.id()).await;
                    return Err(OffloadError::SilentFallback {
                        iface: name.to_owned(),
                        spi: spec.spi,
                    }
                    .into());
                }
                st
            }
            (OffloadMode::Packet, Some((name, ifindex))) => {
                let st = self
                    .try_rung(
                        spec,
                        Some(OffloadDev {
                            ifindex,
                            packet: true,
                        }),
                        update,
                    )
                    .await
                    .map_err(|e| refused(name, spec, "packet", e))?;
                if !st.offload.is_some_and(|o| o.packet) {
                    let _ = self.delete_sa(&spec.id()).await;
                    return Err(OffloadError::SilentFallback {
                        iface: name.to_owned(),
                        spi: spec.spi,
                    }
                    .into());
                }
                st
            }
            (_, Some((name, ifindex))) => {
                self.auto(spec, name, ifindex, update, &mut fell_back)
                    .await?
            }
        };
        let offload = OffloadInEffect::of(&installed);
        tracing::info!(spi = %spec.spi, reqid = %spec.reqid, requested = %mode, in_effect = %offload, "SA installed");
        Ok(Installed {
            state: installed,
            offload,
            fell_back,
        })
    }

    async fn auto(
        &self,
        spec: &SaSpec,
        name: &str,
        ifindex: u32,
        update: bool,
        fell_back: &mut Vec<(&'static str, String)>,
    ) -> Result<SaState, Error> {
        match ethtool::esp_hw_offload(name) {
            Ok(true) => {}
            Ok(false) => {
                fell_back.push(("offload", format!("{name} has no esp-hw-offload")));
                return self.try_rung(spec, None, update).await;
            }
            Err(e) => {
                fell_back.push(("offload", format!("ethtool query on {name} failed: {e}")));
                return self.try_rung(spec, None, update).await;
            }
        }
        for packet in [true, false] {
            let rung = if packet { "packet" } else { "crypto" };
            match self
                .try_rung(spec, Some(OffloadDev { ifindex, packet }), update)
                .await
            {
                Ok(st) => return Ok(st),
                Err(e) => {
                    tracing::info!(spi = %spec.spi, "{rung} offload on {name} failed ({e}), trying the next mode");
                    fell_back.push((rung, e.to_string()));
                }
            }
        }
        self.try_rung(spec, None, update).await
    }

    /// NEWSA/UPDSA then GETSA.
    async fn try_rung(
        &self,
        spec: &SaSpec,
        offload: Option<OffloadDev>,
        update: bool,
    ) -> Result<SaState, Error> {
        self.add_sa_with(spec, offload, update).await?;
        self.get_sa(&spec.id()).await
    }
}

/// A policy installed with the offload ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledPolicy {
    /// The policy as read back.
    pub state: PolicyState,
    /// Packet-offloaded to this ifindex, per the read-back.
    pub offload: Option<u32>,
    /// Why offload was not used (auto mode).
    pub fell_back: Option<String>,
}

impl Xfrm {
    /// Adds or updates a policy with packet offload per `mode` (only packet
    /// offload exists for policies; `xfrm_dev_policy_add`). `Packet` fails
    /// when the device refuses; `Auto` retries without the attribute, like
    /// strongSwan; `No` and `Crypto` install it in software. Packet-offloaded
    /// SAs ([`Installed::policy_offload`]) need their policies offloaded too.
    pub async fn install_policy(
        &self,
        spec: &PolicySpec,
        mode: OffloadMode,
        iface: Option<&str>,
    ) -> Result<InstalledPolicy, Error> {
        let mut spec = spec.clone();
        let mut fell_back = None;
        spec.offload = None;
        if let (OffloadMode::Packet | OffloadMode::Auto, Some(name)) = (mode, iface) {
            spec.offload = Some(ethtool::ifindex(name)?);
            match self.update_policy(&spec).await {
                Ok(()) => {}
                Err(Error::Kernel(k)) if mode == OffloadMode::Auto => {
                    tracing::info!(
                        "policy packet offload on {name} failed ({k}), installing without"
                    );
                    fell_back = Some(k.to_string());
                    spec.offload = None;
                    self.update_policy(&spec).await?;
                }
                Err(Error::Kernel(k)) => {
                    return Err(OffloadError::PolicyRefused {
                        iface: name.to_owned(),
                        reason: k.to_string(),
                    }
                    .into());
                }
                Err(e) => return Err(e),
            }
        } else if mode == OffloadMode::Packet {
            return Err(OffloadError::NotCapable {
                iface: "<none given>".into(),
            }
            .into());
        } else {
            self.update_policy(&spec).await?;
        }
        let state = self.get_policy(&spec.id()).await?;
        if spec.offload.is_some() && state.offload.is_none() {
            // Accepted but not offloaded: a kernel without CONFIG_XFRM_OFFLOAD
            // stubs xfrm_dev_policy_add out and returns 0.
            let why = "kernel accepted the policy without offload (CONFIG_XFRM_OFFLOAD off?)";
            if mode == OffloadMode::Packet {
                let _ = self.delete_policy(&spec.id()).await;
                return Err(OffloadError::PolicyRefused {
                    iface: iface.unwrap_or_default().to_owned(),
                    reason: why.into(),
                }
                .into());
            }
            fell_back = Some(why.into());
        }
        Ok(InstalledPolicy {
            offload: state.offload,
            state,
            fell_back,
        })
    }
}

fn refused(iface: &str, spec: &SaSpec, mode: &'static str, e: Error) -> Error {
    match e {
        Error::Kernel(k) => OffloadError::Refused {
            iface: iface.to_owned(),
            spi: spec.spi,
            mode,
            reason: k.to_string(),
        }
        .into(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("auto".parse::<OffloadMode>(), Ok(OffloadMode::Auto));
        assert_eq!("yes".parse::<OffloadMode>(), Ok(OffloadMode::Crypto));
        assert!("fast".parse::<OffloadMode>().is_err());
        assert_eq!(OffloadMode::Packet.to_string(), "packet");
    }
}
