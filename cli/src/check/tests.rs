//! The certificate examples load with real files, and `lanes check` reports
//! matching keys, chains, coming expiry and each misconfiguration clearly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::Config;
use crate::testutil::TempDir;

/// 2027-01-15: inside the fixtures' validity (2026-12-03 .. 2035-02-19).
const NOW: UnixTime = UnixTime(1_800_000_000);

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki")
}

/// The example of `gw` in a temp dir laid out as /etc/lanes: x509/,
/// private/ (mode 0600 keys), x509ca/.
fn example_dir(gw: &str, key_of: &str, key_mode: u32) -> (TempDir, PathBuf) {
    let dir = TempDir::new("certs");
    let d = dir.path();
    for sub in ["x509", "private", "x509ca"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    let copy = |from: &str, to: &str| std::fs::copy(data().join(from), d.join(to)).expect("copy");
    copy("ca.pem", "x509ca/ca.pem");
    copy(&format!("{gw}.pem"), &format!("x509/{gw}.pem"));
    copy(&format!("{key_of}.key"), &format!("private/{gw}.key"));
    let key = d.join(format!("private/{gw}.key"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode)).expect("chmod");
    let cfg = d.join(format!("{gw}.toml"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/certs/{gw}.toml"));
    std::fs::copy(example, &cfg).expect("copy example");
    (dir, cfg)
}

#[test]
fn both_certificate_examples_load_and_check_clean() {
    for (gw, peer) in [("gw-a", "gw-b.example"), ("gw-b", "gw-a.example")] {
        let (_dir, path) = example_dir(gw, gw, 0o600);
        let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{gw}: {e}"));
        let c = cfg.connections.values().next().expect("one connection");
        assert_eq!(c.remote_id(), peer);
        let r = certificates(&cfg, NOW);
        assert!(r.errors.is_empty(), "{gw}: {:?}", r.errors);
        let line = r.lines.join("\n");
        assert!(
            line.contains("ECDSA P-256 key matches") && line.contains("Example Root CA"),
            "{line}"
        );
        assert!(!line.contains("warning"), "{line}");
    }
}

#[test]
fn expiry_within_30_days_is_a_warning_and_after_an_error() {
    let (_dir, path) = example_dir("gw-a", "gw-a", 0o600);
    let cfg = Config::load(&path).expect("load");
    let end = 2_055_515_704; // gw-a.pem notAfter, 2035-02-19T16:35:04Z
    let r = certificates(&cfg, UnixTime(end - 10 * 86_400));
    assert!(
        r.lines.iter().any(|l| l.starts_with("warning:")
            && l.contains("gw-a.example")
            && l.contains("renew")),
        "{:?}",
        r.lines
    );
    let r = certificates(&cfg, UnixTime(end + 1));
    assert!(
        r.errors.iter().any(|e| e.contains("expired")),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (_dir, path) = example_dir("gw-a", "gw-b", 0o600);
    let e = Config::load(&path).expect_err("wrong key").to_string();
    assert!(
        e.contains("does not match certificate")
            && e.contains("set key to the certificate's own key"),
        "{e}"
    );
}

#[test]
fn a_readable_key_file_is_refused_like_a_secret_file() {
    let (_dir, path) = example_dir("gw-a", "gw-a", 0o644);
    let e = Config::load(&path).expect_err("mode 0644").to_string();
    assert!(e.contains("key") && e.contains("chmod 600"), "{e}");
}

#[test]
fn a_chain_to_no_configured_ca_is_a_warning() {
    let (dir, path) = example_dir("gw-a", "gw-a", 0o600);
    // The "CA" is now gw-b's certificate: gw-a's chain reaches none it names.
    std::fs::copy(data().join("gw-b.pem"), dir.path().join("x509ca/ca.pem")).expect("copy");
    let cfg = Config::load(&path).expect("loads");
    let r = certificates(&cfg, NOW);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(
        r.lines
            .iter()
            .any(|l| l.starts_with("warning:") && l.contains("unknown CA")),
        "{:?}",
        r.lines
    );
}

#[test]
fn our_id_missing_from_our_certificate_is_an_error() {
    let (_dir, path) = example_dir("gw-a", "gw-a", 0o600);
    let src = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        src.replace("id = \"gw-a.example\"", "id = \"gw-z.example\""),
    )
    .expect("write");
    let cfg = Config::load(&path).expect("loads");
    let r = certificates(&cfg, NOW);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("identity mismatch") && e.contains("gw-z.example")),
        "{:?}",
        r.errors
    );
}

#[test]
fn pubkey_settings_are_checked_where_they_belong() {
    let (dir, path) = example_dir("gw-a", "gw-a", 0o600);
    let src = std::fs::read_to_string(&path).expect("read");
    let bad = src
        .replace("cacerts = [\"x509ca/ca.pem\"]", "cacerts = []")
        .replace("id = \"gw-b.example\"", "id = \"CN=\"");
    std::fs::write(&path, bad).expect("write");
    let e = Config::load(&path).expect_err("no cacerts").to_string();
    assert!(e.contains("needs cacerts"), "{e}");
    let psk_with_certs = src.replace("local = { auth = \"pubkey\"", "local = { auth = \"psk\"");
    std::fs::write(dir.path().join("p.toml"), psk_with_certs).expect("write");
    let e = Config::load(&dir.path().join("p.toml"))
        .expect_err("certs with psk")
        .to_string();
    assert!(
        e.contains("need auth = \\\"pubkey\\\"") || e.contains("need auth = \"pubkey\""),
        "{e}"
    );
}

#[test]
fn rsa_pss_is_a_local_setting() {
    let (_dir, path) = example_dir("gw-a", "gw-a", 0o600);
    let src = std::fs::read_to_string(&path).expect("read");
    let pss = src.replace(
        "local = { auth = \"pubkey\"",
        "local = { auth = \"rsa/pss\"",
    );
    std::fs::write(&path, &pss).expect("write");
    let cfg = Config::load(&path).expect("rsa/pss loads");
    let c = cfg.connections.values().next().expect("one connection");
    let lc = config::pki::local_cert(&c.local)
        .expect("loads")
        .expect("pubkey");
    assert!(lc.rsa_pss);
    std::fs::write(
        &path,
        src.replace(
            "remote = { auth = \"pubkey\"",
            "remote = { auth = \"rsa/pss\"",
        ),
    )
    .expect("write");
    let e = Config::load(&path).expect_err("remote rsa/pss").to_string();
    assert!(
        e.contains("remote.auth") && e.contains("set it in local"),
        "{e}"
    );
}

#[test]
fn revocation_and_ocsp_uris_are_remote_settings() {
    let (_dir, path) = example_dir("gw-a", "gw-a", 0o600);
    let src = std::fs::read_to_string(&path).expect("read");
    let remote = "remote = { auth = \"pubkey\", id = \"gw-b.example\",";
    assert!(src.contains(remote), "{src}");
    let ok = src.replace(
        remote,
        &format!("{remote} revocation = \"strict\", ocsp_uris = [\"http://10.0.0.9:2560/\"],"),
    );
    std::fs::write(&path, &ok).expect("write");
    let cfg = Config::load(&path).expect("loads");
    let c = cfg.connections.values().next().expect("one connection");
    let s = config::pki::trust_store(&c.remote)
        .expect("loads")
        .expect("pubkey");
    assert_eq!(s.revocation, ike_core::pki::RevocationPolicy::Strict);
    assert_eq!(s.ocsp_uris, ["http://10.0.0.9:2560/"]);
    let https = ok.replace("http://10.0.0.9", "https://10.0.0.9");
    std::fs::write(&path, https).expect("write");
    let e = Config::load(&path).expect_err("https").to_string();
    assert!(
        e.contains("remote.ocsp_uris") && e.contains("plain HTTP"),
        "{e}"
    );
    let bad = src.replace(remote, &format!("{remote} revocation = \"sometimes\","));
    std::fs::write(&path, bad).expect("write");
    let e = Config::load(&path).expect_err("bad value").to_string();
    assert!(e.contains("strict") && e.contains("relaxed"), "{e}");
}
