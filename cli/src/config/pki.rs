//! `auth = "pubkey"`: the certificates, key, CAs and CRLs a connection names
//! (swanctl's `local.certs`, `remote.cacerts`, `remote.crls`), loaded with
//! ike-core's `pki` module.

use std::path::{Path, PathBuf};

use ike_core::pki::chain::{parse_certs, parse_crl};
use ike_core::pki::{CertChain, Certificate, LocalCert, PrivateKey, RevocationPolicy, TrustStore};

use super::{AuthConfig, AuthMethod, Connection, Revocation};

/// Largest accepted certificate, key or CRL file.
const MAX_FILE: u64 = 1024 * 1024;

/// Anchors relative paths at the configuration file's directory.
pub fn resolve_paths(c: &mut Connection, base: &Path) {
    for a in [&mut c.local, &mut c.remote] {
        let all = a
            .certs
            .iter_mut()
            .chain(a.key.iter_mut())
            .chain(&mut a.cacerts)
            .chain(&mut a.crls);
        for p in all {
            *p = base.join(&*p);
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if len > MAX_FILE {
        return Err(format!(
            "{} is {len} bytes, more than a certificate file ({MAX_FILE} at most)",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn certs_of(paths: &[PathBuf]) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    for p in paths {
        let certs = parse_certs(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?;
        out.extend(certs);
    }
    Ok(out)
}

/// Our chain and key: the first certificate of `certs` is ours, the rest are
/// intermediates sent with it.
pub fn local_cert(a: &AuthConfig) -> Result<Option<LocalCert>, String> {
    if a.auth == AuthMethod::Psk {
        return Ok(None);
    }
    let mut certs = certs_of(&a.certs)?.into_iter();
    let ee = certs
        .next()
        .ok_or("auth = \"pubkey\" needs certs = [\"our certificate.pem\", ..]")?;
    let key_path = a
        .key
        .as_ref()
        .ok_or("auth = \"pubkey\" needs key = \"our private key file\"")?;
    let raw = super::secret::read_private(key_path, "key", MAX_FILE)?;
    let key = PrivateKey::from_bytes(&raw).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let chain = CertChain {
        ee,
        intermediates: certs.collect(),
    };
    LocalCert::new(chain, key)
        .map_err(|e| {
            format!(
                "{}: {e}; set key to the certificate's own key",
                key_path.display()
            )
        })
        .map(|mut lc| {
            lc.rsa_pss = a.auth == AuthMethod::RsaPss;
            Some(lc)
        })
}

/// The CAs and CRLs the peer's certificate is checked against.
pub fn trust_store(a: &AuthConfig) -> Result<Option<TrustStore>, String> {
    if a.auth == AuthMethod::Psk {
        return Ok(None);
    }
    if a.cacerts.is_empty() {
        return Err("auth = \"pubkey\" needs cacerts = [\"ca.pem\", ..]: the CAs the peer's certificate must reach".into());
    }
    let cas = certs_of(&a.cacerts)?;
    let mut crls = Vec::new();
    for p in &a.crls {
        crls.push(parse_crl(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    let revocation = match a.revocation {
        Revocation::Strict => RevocationPolicy::Strict,
        Revocation::Ifuri => RevocationPolicy::IfUri,
        Revocation::Relaxed => RevocationPolicy::Relaxed,
    };
    Ok(Some(TrustStore {
        cas,
        crls,
        revocation,
        ocsp_uris: a.ocsp_uris.clone(),
        ocsp: false,
    }))
}

/// Problems of a connection's pubkey settings, by key path under it.
pub fn problems(c: &Connection) -> Vec<(Vec<&'static str>, String)> {
    let mut out = Vec::new();
    let misplaced = |a: &AuthConfig| {
        a.auth == AuthMethod::Psk
            && (!a.certs.is_empty()
                || a.key.is_some()
                || !a.cacerts.is_empty()
                || !a.crls.is_empty()
                || !a.ocsp_uris.is_empty())
    };
    for (side, a) in [("local", &c.local), ("remote", &c.remote)] {
        if misplaced(a) {
            out.push((
                vec![side, "auth"],
                "certs, key, cacerts, crls and ocsp_uris need auth = \"pubkey\"".to_string(),
            ));
        }
    }
    if !c.local.cacerts.is_empty()
        || !c.local.crls.is_empty()
        || !c.local.ocsp_uris.is_empty()
        || c.local.revocation != Revocation::Relaxed
    {
        out.push((
            vec!["local", "cacerts"],
            "cacerts, crls, ocsp_uris and revocation belong in remote".to_string(),
        ));
    }
    if let Some(u) = c
        .remote
        .ocsp_uris
        .iter()
        .find(|u| !u.starts_with("http://"))
    {
        out.push((
            vec!["remote", "ocsp_uris"],
            format!("{u:?}: lanes asks OCSP responders over plain HTTP (RFC 6960 appendix A): write http://host[:port]/path"),
        ));
    }
    if !c.remote.certs.is_empty() || c.remote.key.is_some() {
        out.push((
            vec!["remote", "certs"],
            "certs and key belong in local".to_string(),
        ));
    }
    if c.remote.auth == AuthMethod::RsaPss {
        out.push((
            vec!["remote", "auth"],
            "rsa/pss chooses how we sign: set it in local; remote takes \"pubkey\" and accepts PSS and PKCS#1 v1.5".to_string(),
        ));
    }
    if let Err(e) = local_cert(&c.local) {
        out.push((vec!["local"], e));
    }
    if let Err(e) = trust_store(&c.remote) {
        out.push((vec!["remote"], e));
    }
    for (side, a) in [("local", &c.local), ("remote", &c.remote)] {
        if let Some(id) = a.id.as_deref().filter(|i| looks_like_dn(i))
            && let Err(e) = ike_core::pki::chain::parse_dn(id)
        {
            out.push((
                vec![side, "id"],
                format!("{id:?} is not a distinguished name (\"C=CH, O=Example, CN=gw\"): {e}"),
            ));
        }
    }
    out
}

/// strongSwan reads an ID with `=` as a distinguished name ("C=CH, O=X, CN=gw").
pub fn looks_like_dn(s: &str) -> bool {
    s.contains('=') && !s.contains('@')
}
