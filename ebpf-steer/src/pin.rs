//! Where the program's link and maps are pinned on bpffs.
//!
//! ```text
//! <root>/maps/LANES_SPI_SLOTS, LANES_SLOT_PACKETS,
//!             LANES_SPI_CPU, LANES_CPUS, LANES_FLAGS,
//!             LANES_STATS                              shared by all interfaces
//! <root>/links/<iface>/native | skb                    one XDP link per interface
//! ```
//! The link's file name records its mode. A second process (`lanes steer
//! bind`) opens the maps; a restarted daemon finds the link and replaces its
//! program atomically (`BPF_LINK_UPDATE`) instead of stacking a second one.

use crate::{Error, Mode};
use std::path::{Path, PathBuf};

/// The default pin root.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/lanes";

/// Where systemd mounts bpffs.
const BPF_MOUNT: &str = "/sys/fs/bpf";

/// `BPF_FS_MAGIC` from `include/uapi/linux/magic.h`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// A pin root and the paths under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinRoot(PathBuf);

impl Default for PinRoot {
    fn default() -> Self {
        Self(PathBuf::from(DEFAULT_PIN_ROOT))
    }
}

impl PinRoot {
    /// A pin root at `path` (must be on bpffs).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    /// The root folder as this process reaches it. Under `ip netns exec`
    /// (a private mount namespace whose fresh /sys has no bpffs) that is the
    /// parent's (or init's) bpffs through `/proc/PID/root`, so every process
    /// shares one set of pins.
    pub fn path(&self) -> PathBuf {
        let bpf = Path::new(BPF_MOUNT);
        if self.0.starts_with(bpf) && !on_bpffs(bpf) {
            let rel = self.0.strip_prefix("/").unwrap_or(&self.0);
            for pid in [std::os::unix::process::parent_id(), 1] {
                let host = PathBuf::from(format!("/proc/{pid}/root"));
                if on_bpffs(&host.join("sys/fs/bpf")) {
                    return host.join(rel);
                }
            }
        }
        self.0.clone()
    }

    pub(crate) fn maps_dir(&self) -> PathBuf {
        self.path().join("maps")
    }

    pub(crate) fn map(&self, name: &str) -> PathBuf {
        self.maps_dir().join(name)
    }

    pub(crate) fn links_dir(&self) -> PathBuf {
        self.path().join("links")
    }

    pub(crate) fn iface_dir(&self, iface: &str) -> PathBuf {
        self.links_dir().join(iface)
    }

    pub(crate) fn link(&self, iface: &str, mode: Mode) -> PathBuf {
        self.iface_dir(iface).join(mode.as_str())
    }

    /// The pinned link of `iface` and its mode, if any.
    pub(crate) fn find_link(&self, iface: &str) -> Option<(PathBuf, Mode)> {
        [Mode::Native, Mode::Skb].into_iter().find_map(|m| {
            let p = self.link(iface, m);
            p.exists().then_some((p, m))
        })
    }

    /// Creates the folders, checking they are on bpffs.
    pub(crate) fn create(&self) -> Result<(), Error> {
        let base = self.path();
        let existing = base
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(Path::new("/"));
        if !on_bpffs(existing) {
            // What systemd does at boot; some machines skip it.
            // Not in a private mount namespace (`ip netns exec`): a bpffs
            // mounted there would vanish with this process, pins and all.
            let bpf = Path::new(BPF_MOUNT);
            if !base.starts_with(bpf) || !parent_mount_ns() || !mount_bpffs(bpf) {
                return Err(Error::NoBpffs(self.0.clone()));
            }
            tracing::info!("mounted bpffs on /sys/fs/bpf");
        }
        for d in [self.maps_dir(), self.links_dir()] {
            std::fs::create_dir_all(&d).map_err(|e| Error::pin(&d, e))?;
        }
        Ok(())
    }
}

/// Whether `path` lives on a BPF filesystem.
fn on_bpffs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `statfs` only writes into the zeroed struct we pass.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` is writable.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type's width differs between libcs"
    )]
    let magic = st.f_type as i64;
    rc == 0 && magic == BPF_FS_MAGIC
}

/// `mount -t bpf -o mode=0700 bpf <at>` as bpftool does it (`mount_bpffs`
/// in tools/bpf/bpftool/common.c): the mount point is made private first
/// (bind-mounted onto itself if it is no mount point yet), so the new bpffs
/// does not propagate into other mount namespaces. True on success.
fn mount_bpffs(at: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(target) = std::ffi::CString::new(at.as_os_str().as_bytes()) else {
        return false;
    };
    let mount = |src: &std::ffi::CStr, fstype: &std::ffi::CStr, flags, data: &std::ffi::CStr| {
        // SAFETY: NUL-terminated strings that outlive the call.
        unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                flags,
                data.as_ptr().cast(),
            )
        }
    };
    let private = libc::MS_PRIVATE | libc::MS_REC;
    if mount(c"", c"none", private, c"") != 0 {
        // EINVAL: not a mount point yet.
        if mount(&target, c"none", libc::MS_BIND, c"") != 0
            || mount(c"", c"none", private, c"") != 0
        {
            return false;
        }
    }
    mount(c"bpf", c"bpf", 0, c"mode=0700") == 0 && on_bpffs(at)
}

/// Whether this process shares its parent's mount namespace (not so
/// right after `ip netns exec`).
fn parent_mount_ns() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let parent = format!("/proc/{}/ns/mnt", std::os::unix::process::parent_id());
    match (
        std::fs::metadata("/proc/self/ns/mnt"),
        std::fs::metadata(parent),
    ) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}
