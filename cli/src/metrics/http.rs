//! A minimal HTTP/1.1 server for `GET /metrics` (RFC 9112): one request per
//! connection, then close. Bounded in connections, request size and time, so
//! a slow or hostile client cannot hold the daemon's runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::Live;
use crate::control::{ControlRequest, Request, RequestKind};

/// The OpenMetrics text format's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bounds of the metrics server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Bytes of request line and headers.
    pub max_request: usize,
    /// Time for one whole request and response.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 8,
            max_request: 8192,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Binds `addr` and serves metrics on the current tokio runtime; returns the
/// bound address (port 0 picks one).
pub async fn spawn(
    addr: SocketAddr,
    ctl: mpsc::Sender<ControlRequest>,
    live: Live,
    limits: Limits,
) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("binding metrics_listen {addr} (in use? pick another [daemon] metrics_listen)")
    })?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, ctl, live, limits));
    tracing::info!(listen = %local, "metrics served at http://{local}/metrics");
    Ok(local)
}

/// Accepts connections until the daemon's control channel closes.
pub async fn serve(
    listener: TcpListener,
    ctl: mpsc::Sender<ControlRequest>,
    live: Live,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    while !ctl.is_closed() {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "metrics: too many connections; closed");
            continue;
        };
        let (ctl, live) = (ctl.clone(), live.clone());
        tokio::spawn(async move {
            let served = tokio::time::timeout(limits.timeout, handle(conn, &ctl, &live, limits));
            if served.await.is_err() {
                tracing::debug!(%peer, "metrics: request timed out");
            }
            drop(slot);
        });
    }
}

async fn handle(mut conn: TcpStream, ctl: &mpsc::Sender<ControlRequest>, live: &Live, l: Limits) {
    let (status, body) = match read_head(&mut conn, l.max_request).await {
        Err(status) => (status, String::new()),
        Ok(head) => match parse_request(&head) {
            Err(status) => (status, String::new()),
            Ok(()) => match scrape(ctl, live).await {
                Some(text) => (200, text),
                None => (503, "the daemon did not answer\n".into()),
            },
        },
    };
    let _ = conn.write_all(&response(status, &body)).await;
    let _ = conn.shutdown().await;
}

/// Reads up to the blank line that ends the headers.
async fn read_head(conn: &mut TcpStream, max: usize) -> Result<Vec<u8>, u16> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > max {
            return Err(431);
        }
    }
}

/// Checks the request line: `GET /metrics` (a query is ignored) over HTTP/1.x.
pub(crate) fn parse_request(head: &[u8]) -> Result<(), u16> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| 400u16)?.trim_end();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(505);
    }
    if method != "GET" {
        return Err(405);
    }
    match target.split('?').next() {
        Some("/metrics") => Ok(()),
        _ => Err(404),
    }
}

/// Asks the daemon loop for a status report and renders it.
async fn scrape(ctl: &mpsc::Sender<ControlRequest>, live: &Live) -> Option<String> {
    let (reply, rx) = oneshot::channel();
    let request = Request::new(RequestKind::Status);
    ctl.send(ControlRequest { request, reply }).await.ok()?;
    let report = rx.await.ok()?.status?;
    Some(super::render(&report, live))
}

fn response(status: u16, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Service Unavailable",
    };
    let (ctype, body) = if status == 200 {
        (CONTENT_TYPE, body.to_string())
    } else if body.is_empty() {
        ("text/plain", format!("{reason}; try GET /metrics\n"))
    } else {
        ("text/plain", body.to_string())
    };
    let allow = if status == 405 { "Allow: GET\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_checks() {
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(())
        );
        assert_eq!(parse_request(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Ok(()));
        assert_eq!(parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Err(404));
        assert_eq!(parse_request(b"GET /metrics HTTP/2\r\n\r\n"), Err(505));
        assert_eq!(parse_request(b"garbage\r\n\r\n"), Err(400));
        assert_eq!(
            parse_request(b"\xff\xfe /metrics HTTP/1.1\r\n\r\n"),
            Err(400)
        );
    }

    #[test]
    fn responses_carry_length_and_close() {
        let r = String::from_utf8(response(405, "")).expect("utf8");
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
        assert!(r.contains("Allow: GET\r\n") && r.contains("Connection: close\r\n"));
        let body = r.split("\r\n\r\n").nth(1).expect("body");
        assert!(r.contains(&format!("Content-Length: {}\r\n", body.len())));
        let ok = String::from_utf8(response(200, "# EOF\n")).expect("utf8");
        assert!(ok.contains(CONTENT_TYPE), "{ok}");
    }
}
