//! Daemon side of the control socket.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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
pub fn bind(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the socket directory {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
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
    let listener = UnixListener::bind(path)
        .with_context(|| format!("binding the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    Ok(listener)
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
