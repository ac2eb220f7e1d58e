//! Read access to /proc and /sys under a root directory, so tests can point the
//! checks at a fake tree.

use std::io;
use std::path::{Path, PathBuf};

/// Where system facts come from.
#[derive(Clone, Debug)]
pub struct Sys {
    root: PathBuf,
    live: bool,
    fake_root_user: bool,
}

impl Sys {
    /// The running system.
    pub fn host() -> Self {
        Sys {
            root: PathBuf::from("/"),
            live: true,
            fake_root_user: false,
        }
    }

    /// A fake tree (tests): paths like `/proc/...` resolve under `root`; ioctls are off.
    pub fn fake(root: impl Into<PathBuf>, as_root: bool) -> Self {
        Sys {
            root: root.into(),
            live: false,
            fake_root_user: as_root,
        }
    }

    /// Whether ioctls/sockets against the running kernel may be used.
    pub fn live(&self) -> bool {
        self.live
    }

    fn at(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// A file's contents, trimmed; `None` if unreadable.
    pub fn read(&self, path: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.at(path.as_ref()))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Whether the path exists.
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.at(path.as_ref()).exists()
    }

    /// Sorted entry names of a directory (empty if unreadable).
    pub fn list(&self, path: impl AsRef<Path>) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.at(path.as_ref()))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Writes a value (for `--apply`).
    pub fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        std::fs::write(self.at(path), format!("{value}\n"))
    }

    /// Whether we run with root privileges.
    pub fn is_root(&self) -> bool {
        if self.live {
            // SAFETY: geteuid has no preconditions and cannot fail.
            unsafe { libc::geteuid() == 0 }
        } else {
            self.fake_root_user
        }
    }

    /// Network interfaces except `lo`.
    pub fn interfaces(&self) -> Vec<String> {
        self.list("/sys/class/net")
            .into_iter()
            .filter(|n| n != "lo")
            .collect()
    }
}

impl Sys {
    /// The last component of a symlink's target (e.g. a device's driver name).
    pub fn link_name(&self, path: impl AsRef<Path>) -> Option<String> {
        std::fs::read_link(self.at(path.as_ref()))
            .ok()?
            .file_name()?
            .to_str()
            .map(str::to_string)
    }
}
