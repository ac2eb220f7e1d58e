//! Pre-shared keys: kept in `Zeroizing` buffers, never printed.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A pre-shared key. `Debug` redacts the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(Zeroizing<Vec<u8>>);

impl Psk {
    /// The key bytes, for handing to the IKE engine.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Parses a swanctl-style secret: `0x<hex>` is hex, anything else is the UTF-8 bytes.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bytes = if let Some(hex) = s.strip_prefix("0x") {
            decode_hex(hex.trim())?
        } else {
            Zeroizing::new(s.as_bytes().to_vec())
        };
        if bytes.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Psk(bytes))
    }

    /// Reads a secret file, refusing files that other users can read or write.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read secret_file {}: {e}", path.display()))?;
        let mode = meta.permissions().mode();
        if mode & 0o007 != 0 {
            return Err(format!(
                "secret_file {} is accessible by all users (mode {:o}); fix with: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
        let raw = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read secret_file {}: {e}", path.display()))?,
        );
        Psk::parse(raw.trim_end_matches(['\n', '\r']))
    }
}

fn decode_hex(s: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("a 0x secret needs an even number of hex digits".into());
    }
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 2));
    for pair in s.as_bytes().chunks(2) {
        let hi = hex_val(pair[0]);
        let lo = hex_val(pair[1]);
        match (hi, lo) {
            (Some(h), Some(l)) => out.push(h << 4 | l),
            _ => return Err("a 0x secret may contain only hex digits".into()),
        }
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psk(<redacted {} bytes>)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for Psk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        Psk::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let p = Psk::parse("hunter2-very-secret").expect("parse");
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn hex_and_text() {
        assert_eq!(Psk::parse("0x0aFf").expect("hex").expose(), &[0x0a, 0xff]);
        assert_eq!(Psk::parse("abc").expect("text").expose(), b"abc");
        assert!(Psk::parse("0xabc").is_err());
        assert!(Psk::parse("0xzz").is_err());
        assert!(Psk::parse("").is_err());
    }

    #[test]
    fn world_readable_file_is_rejected() {
        let dir = crate::testutil::TempDir::new("psk");
        let path = dir.path().join("k.psk");
        std::fs::write(&path, "s3cret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Psk::from_file(&path).expect_err("world-readable");
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(Psk::from_file(&path).expect("0600").expose(), b"s3cret");
    }
}
