//! The daemon's OCSP client (RFC 6960 appendix A.1: DER request by HTTP
//! POST, `application/ocsp-request`) with a cache: answers are kept until
//! their nextUpdate, failures for a minute.
//!
//! HTTP/1.0 over `std::net::TcpStream`, written here rather than taking
//! hyper: OCSP needs one unencrypted POST of a few hundred bytes (responses are
//! signed, RFC 6960 §4.2.1), and the engine asks synchronously. The engine runs
//! on the daemon's one thread, so a cache miss holds IKE processing for at most
//! [`TIMEOUT`] per responder, as charon's fetch holds its worker thread.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ike_core::pki::ocsp::{check_response, request};
use ike_core::pki::{Certificate, OcspSource, OcspStatus, UnixTime};

/// Connect, send and receive limit per responder.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Largest response read (an OCSP answer with a responder chain is a few KB).
const MAX_RESPONSE: u64 = 64 * 1024;
/// How long a failed lookup is remembered, so that peers cannot make every
/// IKE_AUTH wait for an unreachable responder.
const NEGATIVE_SECS: u64 = 60;
/// Cache entries kept at most.
const MAX_ENTRIES: usize = 4096;

/// The process-wide OCSP client every connection's trust store shares.
pub fn shared() -> Arc<dyn OcspSource> {
    static CLIENT: OnceLock<Arc<HttpOcsp>> = OnceLock::new();
    CLIENT.get_or_init(|| Arc::new(HttpOcsp::default())).clone()
}

/// OCSP over HTTP with a cache keyed by the request (its CertID).
#[derive(Debug, Default)]
pub struct HttpOcsp {
    cache: Mutex<HashMap<Vec<u8>, (OcspStatus, u64)>>,
}

impl OcspSource for HttpOcsp {
    fn status(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        uris: &[String],
        now: UnixTime,
    ) -> OcspStatus {
        // The DER request holds just the CertID: a stable key.
        let key = request(cert, issuer).unwrap_or_default();
        if let Some((s, until)) = self.cached(&key)
            && until >= now.0
        {
            return s;
        }
        let status = ask_all(cert, issuer, uris, now);
        let until = match &status {
            OcspStatus::Good { until } | OcspStatus::Revoked { until, .. } => {
                until.map_or(now.0, |u| u.0)
            }
            OcspStatus::Unknown(_) => now.0 + NEGATIVE_SECS,
        };
        self.remember(key, status.clone(), until, now);
        status
    }
}

impl HttpOcsp {
    fn cached(&self, key: &[u8]) -> Option<(OcspStatus, u64)> {
        self.cache.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: Vec<u8>, status: OcspStatus, until: u64, now: UnixTime) {
        let Ok(mut c) = self.cache.lock() else {
            return;
        };
        if c.len() >= MAX_ENTRIES {
            c.retain(|_, (_, u)| *u >= now.0);
        }
        if c.len() < MAX_ENTRIES {
            c.insert(key, (status, until));
        }
    }
}

/// Asks each responder in turn until one gives a verified answer.
fn ask_all(cert: &Certificate, issuer: &Certificate, uris: &[String], now: UnixTime) -> OcspStatus {
    let mut why = Vec::new();
    for uri in uris {
        match ask(cert, issuer, uri, now) {
            Ok(OcspStatus::Unknown(w)) => why.push(w),
            Ok(s) => {
                tracing::info!(%uri, status = ?s, "OCSP answer");
                return s;
            }
            Err(e) => {
                tracing::warn!(%uri, error = %format!("{e:#}"), "OCSP responder failed");
                why.push(format!("{uri}: {e:#}"));
            }
        }
    }
    OcspStatus::Unknown(why.join("; "))
}

fn ask(cert: &Certificate, issuer: &Certificate, uri: &str, now: UnixTime) -> Result<OcspStatus> {
    let body = request(cert, issuer)?;
    let der = post(uri, &body)?;
    Ok(check_response(&der, cert, issuer, uri, now)?)
}

/// `http://host[:port][/path]` split into host, port and path.
pub fn split_uri(uri: &str) -> Result<(String, u16, String)> {
    let rest = uri
        .strip_prefix("http://")
        .with_context(|| format!("{uri}: only http:// OCSP URIs are supported"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.to_string(),
            p.parse().with_context(|| format!("{uri}: bad port"))?,
        ),
        _ => (authority.to_string(), 80),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    ensure!(!host.is_empty(), "{uri}: no host");
    let path = if path.is_empty() { "/" } else { path };
    Ok((host, port, path.to_string()))
}

/// One HTTP/1.0 POST; the body of a 200 answer.
fn post(uri: &str, body: &[u8]) -> Result<Vec<u8>> {
    let (host, port, path) = split_uri(uri)?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{host}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.take(MAX_RESPONSE).read_to_end(&mut resp)?;
    http_body(&resp)
}

/// The body of an HTTP response, if its status is 200.
pub fn http_body(resp: &[u8]) -> Result<Vec<u8>> {
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("HTTP response without end of headers")?;
    let head = String::from_utf8_lossy(&resp[..end]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("HTTP status {status:?}");
    }
    let body = &resp[end + 4..];
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    match len {
        Some(n) if n <= body.len() => Ok(body[..n].to_vec()),
        Some(n) => bail!("HTTP body cut short: {} of {n} bytes", body.len()),
        None => Ok(body.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_split_into_host_port_and_path() {
        assert_eq!(
            split_uri("http://ocsp.example:8080/x/y").unwrap(),
            ("ocsp.example".into(), 8080, "/x/y".into())
        );
        assert_eq!(
            split_uri("http://10.0.0.1").unwrap(),
            ("10.0.0.1".into(), 80, "/".into())
        );
        assert_eq!(
            split_uri("http://[fd00::1]:2560/").unwrap(),
            ("fd00::1".into(), 2560, "/".into())
        );
        let e = split_uri("https://ocsp.example/").unwrap_err().to_string();
        assert!(e.contains("only http://"), "{e}");
        assert!(split_uri("http://h:port/").is_err());
    }

    #[test]
    fn http_body_needs_200_and_honours_content_length() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\ncontent-length: 3\r\n\r\nabcdef";
        assert_eq!(http_body(ok).unwrap(), b"abc");
        let eof = b"HTTP/1.1 200 OK\r\n\r\nxyz";
        assert_eq!(http_body(eof).unwrap(), b"xyz");
        let e = http_body(b"HTTP/1.0 404 Not Found\r\n\r\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("404"), "{e}");
        let short = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(
            http_body(short)
                .unwrap_err()
                .to_string()
                .contains("cut short")
        );
        assert!(http_body(b"HTTP/1.0 200 OK\r\n").is_err());
    }

    /// An unreachable responder gives Unknown quickly and is remembered, so
    /// the second lookup does not wait again.
    #[test]
    fn unreachable_responder_is_unknown_and_cached() {
        let pem = include_bytes!("../../tests/data/pki/gw-a.pem");
        let ca = include_bytes!("../../tests/data/pki/ca.pem");
        let cert = ike_core::pki::chain::parse_cert(pem).expect("cert");
        let issuer = ike_core::pki::chain::parse_cert(ca).expect("ca");
        // A listener that is closed again: connection refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let uris = [format!("http://127.0.0.1:{port}/")];
        let c = HttpOcsp::default();
        let now = UnixTime(1_800_000_000);
        let s = c.status(&cert, &issuer, &uris, now);
        assert!(
            matches!(&s, OcspStatus::Unknown(w) if w.contains("127.0.0.1")),
            "{s:?}"
        );
        assert_eq!(c.cache.lock().unwrap().len(), 1);
        let until = c.cache.lock().unwrap().values().next().unwrap().1;
        assert_eq!(until, now.0 + NEGATIVE_SECS);
    }
}
