//! A CA and a certificate naming an OCSP responder in its authorityInfoAccess
//! (RFC 5280 §4.2.2.1), and that responder: a tiny HTTP server (RFC 6960
//! appendix A.1) that answers each request after a delay with a "good"
//! answer the CA signs, noting when it got the request and when it answered.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use der::asn1::{GeneralizedTime, Ia5String};
use der::pem::LineEnding;
use der::{Decode, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePrivateKey;
use spki::SubjectPublicKeyInfoOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_ocsp::builder::OcspResponseBuilder;
use x509_ocsp::{CertStatus, OcspGeneralizedTime, OcspRequest, SingleResponse};

const CA_NAME: &str = "CN=Loopback CA,O=Test";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn time(secs: u64) -> GeneralizedTime {
    GeneralizedTime::from_unix_duration(Duration::from_secs(secs)).expect("time")
}

fn spki_of(k: &SigningKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()).expect("spki")
}

/// The CA's key.
pub fn ca_key() -> SigningKey {
    SigningKey::from_slice(&[21; 32]).expect("key")
}

/// Writes `ca.pem`, and `ee.pem` / `ee.key` for `dns` with the OCSP
/// responder `uri`, into `dir`.
pub fn write_pki(dir: &Path, dns: &str, uri: &str) {
    let now = unix_now();
    let validity = Validity {
        not_before: Time::GeneralTime(time(now - 3600)),
        not_after: Time::GeneralTime(time(now + 86_400)),
    };
    let ca_key = ca_key();
    let ca_name = Name::from_str(CA_NAME).expect("name");
    let ca = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        validity,
        ca_name.clone(),
        spki_of(&ca_key),
        &ca_key,
    )
    .expect("ca builder")
    .build::<DerSignature>()
    .expect("ca");
    let ee_key = SigningKey::from_slice(&[22; 32]).expect("key");
    let mut b = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
            include_subject_key_identifier: true,
        },
        SerialNumber::from(7u32),
        validity,
        Name::from_str(&format!("CN={dns},O=Test")).expect("name"),
        spki_of(&ee_key),
        &ca_key,
    )
    .expect("ee builder");
    b.add_extension(&SubjectAltName(vec![GeneralName::DnsName(
        Ia5String::new(dns).expect("ia5"),
    )]))
    .expect("san");
    b.add_extension(&AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(uri).expect("ia5")),
    }]))
    .expect("aia");
    let ee = b.build::<DerSignature>().expect("ee");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    write("ca.pem", &ca.to_pem(LineEnding::LF).expect("pem"));
    write("ee.pem", &ee.to_pem(LineEnding::LF).expect("pem"));
    write(
        "ee.key",
        &p256::SecretKey::from(ee_key.as_nonzero_scalar())
            .to_pkcs8_pem(LineEnding::LF)
            .expect("key pem"),
    );
}

/// What the responder did, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Request,
    Answer,
}

/// A running responder: its URI and what it saw.
pub struct Responder {
    pub uri: String,
    pub log: Arc<Mutex<Vec<(Seen, Instant)>>>,
}

impl Responder {
    /// When it first saw `what`.
    pub fn at(&self, what: Seen) -> Option<Instant> {
        let log = self.log.lock().expect("log");
        log.iter().find(|(w, _)| *w == what).map(|(_, t)| *t)
    }
}

/// Starts a responder on 127.0.0.1 that answers after `delay`.
pub async fn responder(delay: Duration) -> Responder {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!("http://{}/", l.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let body = read_request(&mut s).await;
                seen.lock()
                    .expect("log")
                    .push((Seen::Request, Instant::now()));
                tokio::time::sleep(delay).await;
                let der = answer(&body);
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\n\r\n",
                    der.len()
                );
                seen.lock()
                    .expect("log")
                    .push((Seen::Answer, Instant::now()));
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&der).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Responder { uri, log }
}

/// The body of an HTTP POST (by its Content-Length).
async fn read_request(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "request cut short: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        if buf.len() >= end + 4 + len {
            return buf[end + 4..end + 4 + len].to_vec();
        }
    }
}

/// A "good" answer for the CertID of the DER OCSPRequest `req`, signed by the CA.
fn answer(req: &[u8]) -> Vec<u8> {
    let req = OcspRequest::from_der(req).expect("OCSP request");
    let id = req.tbs_request.request_list[0].req_cert.clone();
    let now = unix_now();
    let single = SingleResponse::new(id, CertStatus::good(), OcspGeneralizedTime(time(now - 60)))
        .with_next_update(OcspGeneralizedTime(time(now + 3600)));
    OcspResponseBuilder::new(Name::from_str(CA_NAME).expect("name"))
        .with_single_response(single)
        .sign::<_, DerSignature>(&mut ca_key(), None, OcspGeneralizedTime(time(now)))
        .expect("sign")
        .to_der()
        .expect("der")
}
