//! Client side: one request, one response.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::protocol::{Request, RequestKind, Response};
use super::status::StatusReport;

/// Sends `req` to the daemon at `socket` and waits for its answer.
pub fn request(socket: &Path, req: &Request) -> Result<Response> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot reach the lanes daemon at {} (is `lanes daemon` running? are you root?)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .context("reading the daemon's answer")?;
    if answer.is_empty() {
        bail!("the daemon closed the connection without answering");
    }
    serde_json::from_str(&answer).context("the daemon's answer is not valid JSON")
}

/// Asks the daemon at `socket` for its status report.
pub fn status(socket: &Path) -> Result<StatusReport> {
    let resp = request(socket, &Request::new(RequestKind::Status))?;
    match resp.status.filter(|_| resp.ok) {
        Some(report) => Ok(report),
        None => bail!(
            "{}",
            resp.error
                .unwrap_or_else(|| "the daemon sent no status".into())
        ),
    }
}
