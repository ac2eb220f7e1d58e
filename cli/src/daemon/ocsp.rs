//! The daemon's OCSP client (RFC 6960 appendix A.1: DER request by HTTP
//! POST, `application/ocsp-request`). The engine hands out the lookups an
//! IKE_AUTH waits for ([`ike_core::Endpoint::poll_ocsp_query`]); each runs
//! here as a tokio task with a [`TIMEOUT`] per responder, so the daemon loop
//! goes on with other IKE SAs meanwhile, and its answer goes back to the
//! engine, which caches it until nextUpdate.
//!
//! HTTP/1.0 over a tokio `TcpStream`, written here rather than taking hyper:
//! OCSP needs one unencrypted POST of a few hundred bytes (responses are
//! signed, RFC 6960 §4.2.1).

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ike_core::pki::{OcspQuery, OcspStatus, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Limit for connecting, sending and receiving, per responder.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Largest response read (an OCSP answer with a responder chain is a few KB).
const MAX_RESPONSE: u64 = 64 * 1024;

/// Asks each responder of `q` in turn until one gives a verified answer;
/// every failure is in the [`OcspStatus::Unknown`] text.
pub async fn fetch(q: &OcspQuery, now: impl Fn() -> UnixTime) -> OcspStatus {
    let mut why = Vec::new();
    for uri in &q.uris {
        let answer = tokio::time::timeout(TIMEOUT, post(uri, q.request()))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {}s", TIMEOUT.as_secs())))
            .and_then(|der| Ok(q.check(&der, uri, now())?));
        match answer {
            Ok(OcspStatus::Unknown(w)) => why.push(w),
            Ok(s) => {
                tracing::info!(%uri, certificate = %q.subject(), status = ?s, "OCSP answer");
                return s;
            }
            Err(e) => {
                tracing::warn!(%uri, certificate = %q.subject(), error = %format!("{e:#}"), "OCSP responder failed");
                why.push(format!("{uri}: {e:#}"));
            }
        }
    }
    OcspStatus::Unknown(why.join("; "))
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
async fn post(uri: &str, body: &[u8]) -> Result<Vec<u8>> {
    let (host, port, path) = split_uri(uri)?;
    let mut s = TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("connecting to {host} port {port}"))?;
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut resp = Vec::new();
    s.take(MAX_RESPONSE).read_to_end(&mut resp).await?;
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

    /// Every responder is tried; an unreachable one gives Unknown naming it.
    #[tokio::test]
    async fn unreachable_responders_are_unknown() {
        let pem = include_bytes!("../../tests/data/pki/gw-a.pem");
        let ca = include_bytes!("../../tests/data/pki/ca.pem");
        let cert = ike_core::pki::chain::parse_cert(pem).expect("cert");
        let issuer = ike_core::pki::chain::parse_cert(ca).expect("ca");
        // Listeners that are closed again: connection refused at once.
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("port")
                .port()
        };
        let uris = vec![
            format!("http://127.0.0.1:{}/", port()),
            format!("http://127.0.0.1:{}/", port()),
        ];
        let q = OcspQuery::new(&cert, &issuer, uris.clone()).expect("query");
        let s = fetch(&q, || UnixTime(1_800_000_000)).await;
        let OcspStatus::Unknown(why) = s else {
            panic!("{s:?}");
        };
        assert!(why.contains(&uris[0]) && why.contains(&uris[1]), "{why}");
    }
}
