//! Pre-shared keys: kept in `Zeroizing` buffers, never printed.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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

    /// Reads a secret file with [`read_private`] and parses it as a key.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let raw = read_private(path, "secret_file", MAX_SECRET_FILE)?;
        let text = std::str::from_utf8(&raw).map_err(|_| {
            format!(
                "secret_file {} is not text; use 0x... for binary keys",
                path.display()
            )
        })?;
        Psk::parse(text.trim_end_matches(['\n', '\r']))
    }
}

/// Reads a private file the way ssh reads a private key: a symbolic link is
/// not followed (`O_NOFOLLOW`), and the file must be a regular file that
/// neither group nor others may access (mode 0600 or 0400). `what` names the
/// setting in errors.
pub(super) fn read_private(
    path: &Path,
    what: &str,
    max: u64,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let shown = path.display();
    // O_NONBLOCK: a FIFO planted at the path must not hang start-up.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| open_error(path, what, &e))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{what} {shown} is not a regular file; point it at the file holding the key"
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if let Some(who) = exposure(mode) {
        return Err(format!(
            "{what} {shown} is {who} (mode {mode:04o}); run `chmod 600 {shown}`"
        ));
    }
    if meta.len() > max {
        return Err(format!(
            "{what} {shown} is {} bytes, more than a key ({max} at most)",
            meta.len()
        ));
    }
    // Sized up front so the buffer holding the key never reallocates.
    let cap = usize::try_from(meta.len()).unwrap_or(0) + 1;
    let mut raw = Zeroizing::new(Vec::with_capacity(cap));
    file.read_to_end(&mut raw)
        .map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    Ok(raw)
}

/// Largest accepted `secret_file`.
const MAX_SECRET_FILE: u64 = 64 * 1024;

fn open_error(path: &Path, what: &str, e: &std::io::Error) -> String {
    let shown = path.display();
    if e.raw_os_error() == Some(libc::ELOOP) {
        let target = std::fs::read_link(path)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return format!(
            "{what} {shown} is a symbolic link{target}, which lanes does not follow for keys; \
             set {what} to the real file"
        );
    }
    format!("cannot read {what} {shown}: {e}")
}

/// Who besides the owner may use a file of this mode, worded for an error;
/// `None` when only the owner may (ssh's rule for private keys).
pub(super) fn exposure(mode: u32) -> Option<&'static str> {
    match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (true, true) => Some("readable by its group and others"),
        (true, false) => Some("readable by its group"),
        (false, true) => Some("readable by others"),
        (false, false) if mode & 0o077 != 0 => Some("accessible by other users"),
        (false, false) => None,
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

    fn secret_at(dir: &crate::testutil::TempDir, mode: u32) -> std::path::PathBuf {
        let path = dir.path().join("k.psk");
        std::fs::write(&path, "s3cret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn world_readable_file_is_rejected() {
        let dir = crate::testutil::TempDir::new("psk");
        let path = secret_at(&dir, 0o644);
        let err = Psk::from_file(&path).expect_err("world-readable");
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(Psk::from_file(&path).expect("0600").expose(), b"s3cret");
    }

    #[test]
    fn group_bits_are_rejected_and_0400_accepted() {
        let dir = crate::testutil::TempDir::new("psk-group");
        for mode in [0o640, 0o660, 0o620, 0o610] {
            let path = secret_at(&dir, mode);
            let err = Psk::from_file(&path).expect_err("group access");
            assert!(err.contains(&format!("mode {mode:04o}")), "{err}");
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
        }
        let path = secret_at(&dir, 0o400);
        assert_eq!(Psk::from_file(&path).expect("0400").expose(), b"s3cret");
    }

    #[test]
    fn symlink_is_not_followed() {
        let dir = crate::testutil::TempDir::new("psk-link");
        let real = secret_at(&dir, 0o600);
        let link = dir.path().join("link.psk");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let err = Psk::from_file(&link).expect_err("symlink");
        assert!(err.contains("symbolic link"), "{err}");
        assert!(err.contains(&real.display().to_string()), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn fifo_and_directory_are_refused_without_blocking() {
        let dir = crate::testutil::TempDir::new("psk-fifo");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("cstr");
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let err = Psk::from_file(&fifo).expect_err("fifo");
        assert!(err.contains("not a regular file"), "{err}");
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let err = Psk::from_file(&sub).expect_err("directory");
        assert!(err.contains("not a regular file"), "{err}");
    }
}
