//! Daemon side of the control socket.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::protocol::{PROTOCOL_VERSION, Request, Response};

/// Longest accepted request line; longer lines are answered with an error.
pub const MAX_LINE: usize = 64 * 1024;

/// A parsed request handed to the daemon loop, with the channel for its answer.
#[derive(Debug)]
pub struct ControlRequest {
    /// The request.
    pub request: Request,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Response>,
}

/// Binds the control socket with mode 0600, creating its directory (0700) if
/// needed and replacing a stale socket file; refuses if a daemon still answers there.
///
/// The socket is bound and chmod-ed inside a fresh 0700 directory beside
/// `path`, then renamed onto `path`: whatever the umask, it never exists at
/// `path` with a wider mode, and no other process can reach it before.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the socket directory {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another lanes daemon is listening on {}; stop it or pass a different --socket",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = Staged::bind(path)?.publish(path)?;
    listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(listener)?)
}

/// A socket bound in a private directory beside its final path; dropping it
/// removes that directory (and the socket, unless published).
#[derive(Debug)]
struct Staged {
    listener: std::os::unix::net::UnixListener,
    dir: PathBuf,
}

impl Staged {
    /// Binds in a new 0700 directory next to `path` and sets the socket's mode to 0600.
    fn bind(path: &Path) -> Result<Staged> {
        static N: AtomicU32 = AtomicU32::new(0);
        let parent = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = parent.join(format!(
            ".lanes.{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        // Not recursive: an existing directory (maybe someone else's) is an error.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating the private directory {}", dir.display()))?;
        let bound = std::os::unix::net::UnixListener::bind(dir.join("s"));
        let staged = match bound {
            Ok(listener) => Staged { listener, dir },
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e)
                    .with_context(|| format!("binding the control socket {}", path.display()));
            }
        };
        std::fs::set_permissions(staged.socket(), std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting mode 0600 on {}", staged.socket().display()))?;
        Ok(staged)
    }

    /// Where the socket is until published.
    fn socket(&self) -> PathBuf {
        self.dir.join("s")
    }

    /// Moves the socket onto `path` with renameat2(RENAME_NOREPLACE): atomic,
    /// and a daemon that bound `path` since the stale check is not displaced.
    /// Dropping `self` then removes the private directory.
    fn publish(self, path: &Path) -> Result<std::os::unix::net::UnixListener> {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
        let (from, to) = (c(&self.socket())?, c(path)?);
        // SAFETY: both are valid NUL-terminated paths relative to the cwd.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).with_context(|| {
                format!(
                    "moving the control socket to {} (another daemon may have bound it)",
                    path.display()
                )
            });
        }
        Ok(self.listener.try_clone()?)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Accepts clients until `tx`'s receiver is dropped; each client may send any
/// number of requests, one per line.
pub async fn serve(listener: UnixListener, tx: mpsc::Sender<ControlRequest>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = client(stream, tx).await {
                            tracing::debug!("control client: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            () = tx.closed() => return,
        }
    }
}

async fn client(stream: UnixStream, tx: mpsc::Sender<ControlRequest>) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut rd)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let too_long = line.len() > MAX_LINE;
        let resp = if too_long {
            tracing::warn!("control request over {MAX_LINE} bytes dropped");
            Response::error(format!("request longer than {MAX_LINE} bytes"))
        } else if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            handle_line(&line, &tx).await
        };
        let mut out = serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec());
        out.push(b'\n');
        wr.write_all(&out).await?;
        if too_long {
            return Ok(()); // the rest of the line cannot be framed
        }
    }
}

async fn handle_line(line: &[u8], tx: &mpsc::Sender<ControlRequest>) -> Response {
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("bad control request: {e}");
            return Response::error(format!("bad request: {e}"));
        }
    };
    if request.version != PROTOCOL_VERSION {
        tracing::warn!(
            version = request.version,
            "control request with unsupported version"
        );
        return Response::error(format!(
            "unsupported protocol version {} (this daemon speaks {PROTOCOL_VERSION}); use the lanes binary of the same release",
            request.version
        ));
    }
    let (reply, rx) = oneshot::channel();
    if tx.send(ControlRequest { request, reply }).await.is_err() {
        return Response::error("the daemon is shutting down");
    }
    rx.await
        .unwrap_or_else(|_| Response::error("the daemon dropped the request"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileTypeExt;

    use super::*;
    use crate::testutil::TempDir;

    /// (name, mask) of each inotify event queued on `fd`.
    fn events(fd: libc::c_int) -> Vec<(String, u32)> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else {
                return out;
            };
            if n == 0 {
                return out;
            }
            // struct inotify_event: wd, mask, cookie, len (4 bytes each), name[len].
            let mut off = 0;
            while off + 16 <= n {
                let word = |at: usize| {
                    u32::from_ne_bytes(buf[off + at..off + at + 4].try_into().expect("4 bytes"))
                };
                let (mask, len) = (word(4), word(12) as usize);
                let name = &buf[off + 16..off + 16 + len];
                let name = name.split(|&b| b == 0).next().unwrap_or_default();
                out.push((String::from_utf8_lossy(name).into_owned(), mask));
                off += 16 + len;
            }
        }
    }

    fn bind_in_runtime(path: &Path) -> Result<UnixListener> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let _guard = rt.enter();
        bind(path)
    }

    #[test]
    fn socket_appears_by_rename_already_0600() {
        let dir = TempDir::new("ctl-inotify");
        let path = dir.path().join("lanes.sock");
        // SAFETY: plain syscalls on a fresh descriptor and a NUL-terminated path.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1");
        let c = std::ffi::CString::new(dir.path().as_os_str().as_bytes()).expect("cstr");
        // SAFETY: as above.
        let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_ALL_EVENTS) };
        assert!(wd >= 0, "inotify_add_watch");
        let listener = bind_in_runtime(&path).expect("bind");
        let seen = events(fd);
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
        let at_path: Vec<u32> = seen
            .iter()
            .filter(|(name, _)| name == "lanes.sock")
            .map(|(_, mask)| *mask)
            .collect();
        // Created, then chmod-ed, at `path` would show IN_CREATE and IN_ATTRIB here.
        assert_eq!(at_path, vec![libc::IN_MOVED_TO], "{seen:?}");
        let meta = std::fs::symlink_metadata(&path).expect("socket");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("lanes.sock")]);
        std::os::unix::net::UnixStream::connect(&path).expect("the renamed socket answers");
        drop(listener);
    }

    #[test]
    fn publish_does_not_replace_a_socket_bound_meanwhile() {
        let dir = TempDir::new("ctl-race");
        let path = dir.path().join("lanes.sock");
        let staged = Staged::bind(&path).expect("stage");
        let other = std::os::unix::net::UnixListener::bind(&path).expect("other daemon");
        let e = staged.publish(&path).expect_err("must not replace");
        assert!(format!("{e:#}").contains("another daemon"), "{e:#}");
        std::os::unix::net::UnixStream::connect(&path).expect("the other socket still answers");
        let left = std::fs::read_dir(dir.path()).expect("read_dir").count();
        assert_eq!(left, 1, "the private directory was left behind");
        drop(other);
    }

    #[test]
    fn new_socket_directory_is_0700() {
        let dir = TempDir::new("ctl-dir");
        let path = dir.path().join("run/lanes/lanes.sock");
        let _listener = bind_in_runtime(&path).expect("bind");
        let parent = std::fs::metadata(path.parent().expect("parent")).expect("dir");
        assert_eq!(parent.permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn failed_bind_leaves_no_private_directory() {
        let dir = TempDir::new("ctl-long");
        let parent = dir.path().join("d".repeat(120));
        std::fs::create_dir(&parent).expect("mkdir");
        let e = bind_in_runtime(&parent.join("lanes.sock")).expect_err("path too long");
        assert!(
            format!("{e:#}").contains("binding the control socket"),
            "{e:#}"
        );
        assert_eq!(std::fs::read_dir(&parent).expect("read_dir").count(), 0);
    }
}
