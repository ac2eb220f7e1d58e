//! The configuration file's keys as written, kept so a reload can tell which
//! keys changed (`daemon::reload`).

use std::fmt;

/// The parsed TOML table of the whole file. `Debug` shows no values: the
/// file may hold secrets.
#[derive(Clone, Default, PartialEq)]
pub struct RawKeys(pub toml::Table);

impl fmt::Debug for RawKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawKeys(<{} top-level keys>)", self.0.len())
    }
}
