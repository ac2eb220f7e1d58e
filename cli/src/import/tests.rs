//! swanctl.conf files in the style of strongSwan's documentation and its
//! `testing/tests/swanctl` scenarios, converted and parsed back by lanes'
//! config loader.

use std::path::Path;

use super::*;
use crate::config::{Config, DpdAction, HwOffload, Mode, PerCpuSas, StartAction, Volume};
use crate::testutil::TempDir;

/// Converts `src`, requires no issues, and loads the result with lanes' loader.
fn import_clean(src: &str) -> Config {
    let path = Path::new("/etc/swanctl/swanctl.conf");
    let root = parse_str(src, path).unwrap_or_else(|e| panic!("{e}"));
    let c = convert(&root);
    assert!(c.issues.is_empty(), "unexpected issues: {:?}", c.issues);
    load_back(&c)
}

fn load_back(c: &Converted) -> Config {
    let text = render(Path::new("swanctl.conf"), c).expect("render");
    Config::parse(&text, Path::new("/etc/lanes/lanes.toml"))
        .unwrap_or_else(|e| panic!("lanes rejects the import: {e}\n{text}"))
}

fn issue_paths(c: &Converted) -> Vec<&str> {
    c.issues.iter().map(|i| i.path.as_str()).collect()
}

/// swanctl/net2net-psk, trimmed to what lanes has.
const NET2NET_PSK: &str = r#"
# moon's swanctl.conf
connections {

   gw-gw {
      local_addrs  = 192.168.0.1
      remote_addrs = 192.168.0.2

      local {
         auth = psk
         id = moon.strongswan.org
      }
      remote {
         auth = psk
         id = @sun.strongswan.org
      }
      children {
         net-net {
            local_ts  = 10.1.0.0/16
            remote_ts = 10.2.0.0/16
            rekey_time = 5400
            esp_proposals = aes128gcm16-x25519
            start_action = trap
         }
      }
      version = 2
      mobike = no
      reauth_time = 0
      proposals = aes128-sha256-x25519
      dpd_delay = 30s
   }
}

secrets {
   ike-1 {
      id-1 = moon.strongswan.org
      id-2 = sun.strongswan.org
      secret = 0x45a30759df97dc26a15b88ff
   }
}
"#;

#[test]
fn site_to_site_psk() {
    let cfg = import_clean(NET2NET_PSK);
    let c = &cfg.connections["gw-gw"];
    assert_eq!(
        c.local_addrs,
        ["192.168.0.1".parse::<std::net::IpAddr>().expect("ip")]
    );
    assert_eq!(c.remote_id(), "sun.strongswan.org");
    assert_eq!(c.dpd_delay.0, 30);
    assert_eq!(c.proposals[0].0.text, "aes128-sha256-x25519");
    let ch = &c.children["net-net"];
    assert_eq!(ch.local_ts[0].to_string(), "10.1.0.0/16");
    assert_eq!(ch.rekey_time.0, 5400);
    assert_eq!(ch.start_action, StartAction::Trap);
    let psk = cfg.psk(&c.local_id(), &c.remote_id()).expect("psk found");
    assert_eq!(
        psk.expose(),
        &[
            0x45, 0xa3, 0x07, 0x59, 0xdf, 0x97, 0xdc, 0x26, 0xa1, 0x5b, 0x88, 0xff
        ]
    );
}

#[test]
fn per_cpu_children() {
    let cfg = import_clean(
        r#"connections {
    lanes {
        version = 2
        local_addrs = 10.0.0.2
        remote_addrs = 10.0.0.1
        proposals = aes128gcm16-prfsha256-x25519
        local { auth = psk
            id = b.lanes.test }
        remote {
            auth = psk
            id = a.lanes.test
        }
        children {
            net {
                local_ts = 192.168.2.0/24
                remote_ts = 192.168.1.0/24
                esp_proposals = aes128gcm16
                mode = tunnel
                start_action = trap
                per_cpu_sas = encap
                hw_offload = yes
                replay_window = 128
            }
        }
    }
}
secrets {
    ike-lanes {
        id-a = a.lanes.test
        id-b = b.lanes.test
        secret = "lanes-test-psk # not a comment"
    }
}
"#,
    );
    let ch = &cfg.connections["lanes"].children["net"];
    assert_eq!(ch.per_cpu_sas, PerCpuSas::Encap);
    assert_eq!(ch.hw_offload, HwOffload::Crypto);
    assert_eq!(ch.replay_window, 128);
    let psk = cfg.psk("b.lanes.test", "a.lanes.test").expect("psk");
    assert_eq!(psk.expose(), b"lanes-test-psk # not a comment");
}

/// swanctl/net2net-cert: `moonCert.pem` in x509/, the CA in x509ca/, a CRL
/// in x509crl/ and the key in private/, as swanctl(8) loads them.
const NET2NET_CERT: &str = r#"
connections {
   gw-gw {
      local_addrs  = 192.168.0.1
      remote_addrs = 192.168.0.2
      local {
         auth = pubkey
         certs = moonCert.pem
         id = gw-a.example
      }
      remote {
         auth = pubkey
         id = sun.strongswan.org
         revocation = relaxed
      }
      children {
         net-net {
            local_ts  = 10.1.0.0/16
            remote_ts = 10.2.0.0/16
         }
      }
      send_certreq = yes
      send_cert = ifasked
   }
}
"#;

/// A swanctl folder with `conf` as swanctl.conf and the files of
/// [`NET2NET_CERT`] (the test PKI of cli/tests/data/pki).
fn swanctl_tree(conf: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("import-cert");
    let d = dir.path();
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pki");
    for (from, sub, file) in [
        ("gw-a.pem", "x509", "moonCert.pem"),
        ("ca.pem", "x509ca", "strongswanCert.pem"),
        ("gw-a.key", "private", "moonKey.pem"),
    ] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        std::fs::copy(pki.join(from), d.join(sub).join(file)).expect("copy");
    }
    let key = d.join("private/moonKey.pem");
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(d.join("swanctl.conf"), conf).expect("write");
    dir
}

fn import_tree(dir: &TempDir) -> Converted {
    let file = dir.path().join("swanctl.conf");
    let root = parse_file(&file).unwrap_or_else(|e| panic!("{e}"));
    convert_in(&root, file.parent())
}

#[test]
fn certificates_carried_with_swanctl_folders_as_absolute_paths() {
    let dir = swanctl_tree(NET2NET_CERT);
    let c = import_tree(&dir);
    assert!(c.issues.is_empty(), "unexpected issues: {:?}", c.issues);
    let cfg = load_back(&c);
    let conn = &cfg.connections["gw-gw"];
    let d = std::fs::canonicalize(dir.path()).expect("canonical");
    assert_eq!(conn.local.certs, vec![d.join("x509/moonCert.pem")]);
    assert_eq!(conn.local.key, Some(d.join("private/moonKey.pem")));
    assert_eq!(
        conn.remote.cacerts,
        vec![d.join("x509ca/strongswanCert.pem")]
    );
    assert!(conn.remote.crls.is_empty());
    let text = render(Path::new("swanctl.conf"), &c).expect("render");
    assert!(text.contains(r#"auth = "pubkey""#), "{text}");
    assert!(text.contains(r#"id = "sun.strongswan.org""#), "{text}");
    // Every CRL swanctl would load from x509crl/ is checked by lanes too.
    std::fs::create_dir_all(d.join("x509crl")).expect("mkdir");
    std::fs::write(d.join("x509crl/sub.crl"), "crl").expect("write");
    let c = import_tree(&dir);
    let remote = &c.toml["connections"]["gw-gw"]["remote"];
    let crl = d.join("x509crl/sub.crl").display().to_string();
    assert_eq!(
        remote["crls"].as_array().map(|a| a.len()),
        Some(1),
        "{remote:?}"
    );
    assert_eq!(remote["crls"][0].as_str(), Some(crl.as_str()));
}

#[test]
fn certificate_settings_lanes_cannot_carry_are_reported() {
    let conf = NET2NET_CERT
        .replace("certs = moonCert.pem", "certs = missing.pem")
        .replace("revocation = relaxed", "revocation = strict")
        + "authorities {\n   strongswan {\n      cacert = strongswanCert.pem\n   }\n}\n";
    let dir = swanctl_tree(&conf);
    let c = import_tree(&dir);
    let paths = issue_paths(&c);
    for want in [
        "connections.gw-gw.local.certs",
        "connections.gw-gw.remote.revocation",
        "authorities",
    ] {
        assert!(paths.contains(&want), "{want} not reported in {paths:?}");
    }
    let missing = c.issues.iter().find(|i| i.path.ends_with("local.certs"));
    assert!(
        missing.is_some_and(|i| i.why.contains("missing.pem does not exist")),
        "{:?}",
        c.issues
    );
    // Two keys, neither named like the certificate: which one is unknown.
    let dir = swanctl_tree(NET2NET_CERT);
    for k in ["a.pem", "b.pem"] {
        std::fs::write(dir.path().join("private").join(k), "k").expect("write");
    }
    std::fs::remove_file(dir.path().join("private/moonKey.pem")).expect("rm");
    let c = import_tree(&dir);
    assert!(
        c.issues
            .iter()
            .any(|i| i.path.ends_with("local.certs") && i.why.contains("add `key = ")),
        "{:?}",
        c.issues
    );
    // Without the folder (parsed from a string) relative names cannot be found.
    let root = parse_str(NET2NET_CERT, Path::new("swanctl.conf")).expect("parse");
    let c = convert(&root);
    assert!(
        c.issues
            .iter()
            .any(|i| i.path.ends_with("local.certs") && i.why.contains("absolute paths")),
        "{:?}",
        c.issues
    );
    // An EAP round is still left out with its connection.
    let root = parse_str(
        &NET2NET_CERT.replace(
            "auth = pubkey\n         certs",
            "auth = eap-mschapv2\n         certs",
        ),
        Path::new("swanctl.conf"),
    )
    .expect("parse");
    let c = convert(&root);
    assert!(
        issue_paths(&c).contains(&"connections.gw-gw.local.auth"),
        "{:?}",
        c.issues
    );
    assert!(c.toml.get("connections").is_none(), "{:?}", c.toml);
}

#[test]
fn several_children_through_includes_and_partial() {
    let dir = TempDir::new("import");
    let d = dir.path();
    std::fs::create_dir_all(d.join("conf.d")).expect("mkdir");
    std::fs::write(
        d.join("swanctl.conf"),
        "connections {\n  include conf.d/*.conf\n}\ninclude secrets.inc # keys\n",
    )
    .expect("write");
    std::fs::write(
        d.join("conf.d/gw.conf"),
        r#"gw {
  local_addrs = 10.0.0.1
  remote_addrs = 10.0.0.2
  local { auth = psk }
  remote { auth = psk }
  children {
    lan { local_ts = 10.1.0.0/16, 10.3.0.0/16
          remote_ts = 10.2.0.0/16 }
    dmz {
      remote_ts = 10.9.0.0/24[tcp/443]
      updown = /usr/lib/ipsec/_updown iptables
      mode = beet
    }
  }
}
"#,
    )
    .expect("write");
    std::fs::write(
        d.join("conf.d/more.conf"),
        "gw {\n  children {\n    voip {\n      local_ts = 10.4.0.0/24\n      rekey_bytes = 500000000\n      rand_bytes = 2k\n      dpd_action = restart\n      close_action = bogus\n    }\n  }\n}\n",
    )
    .expect("write");
    std::fs::write(
        d.join("secrets.inc"),
        "secrets {\n  ike { secret = 0sVGVzdFBTSw== }\n  eap-carol { id = carol\n secret = x }\n}\n",
    )
    .expect("write");
    let root = parse_file(&d.join("swanctl.conf")).unwrap_or_else(|e| panic!("{e}"));
    let c = convert(&root);
    let mut paths = issue_paths(&c);
    paths.sort();
    assert_eq!(
        paths,
        [
            "connections.gw.children.dmz.mode",
            "connections.gw.children.dmz.remote_ts",
            "connections.gw.children.dmz.updown",
            "connections.gw.children.voip.close_action",
            "secrets.eap-carol",
        ]
    );
    let cfg = load_back(&c);
    let gw = &cfg.connections["gw"];
    assert_eq!(
        gw.children.len(),
        3,
        "lan, dmz and voip (merged from two files)"
    );
    assert_eq!(gw.children["lan"].local_ts.len(), 2);
    assert!(gw.children["dmz"].remote_ts.is_empty());
    let voip = &gw.children["voip"];
    assert_eq!(voip.rekey_bytes, Volume(500_000_000));
    assert_eq!(voip.rand_bytes, Some(Volume(2048)));
    assert_eq!(voip.dpd_action, DpdAction::Restart);
    assert_eq!(
        cfg.psk("10.0.0.1", "10.0.0.2").expect("psk").expose(),
        b"TestPSK"
    );
    // The command itself refuses without --partial and writes nothing.
    let out = d.join("out.toml");
    let err = run(Some(&d.join("swanctl.conf")), Some(&out), false).expect_err("must fail");
    assert!(err.to_string().contains("--partial"), "{err}");
    assert!(!out.exists());
    run(Some(&d.join("swanctl.conf")), Some(&out), true).expect("partial import");
    let loaded = Config::load(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.connections["gw"].children.len(), 3);
}

#[test]
fn transport_mode_host_to_host() {
    // swanctl/host2host-transport
    let cfg = import_clean(
        r#"connections {
   host-host {
      local_addrs = 192.168.0.1
      remote_addrs = 192.168.0.2
      local {
         auth = psk
      }
      remote {
         auth = psk
      }
      children {
         host-host {
            mode = transport
            start_action = start
            esp_proposals = aes256gcm16, aes128-sha256
            dpd_action = clear
            life_time = 2h
            rand_time = 5m
         }
      }
      encap = yes
      fragmentation = no
   }
}
secrets {
   ike-host { id = 192.168.0.2
      secret = "a \"quoted\" key" }
}"#,
    );
    let c = &cfg.connections["host-host"];
    assert!(c.encap);
    let ch = &c.children["host-host"];
    assert_eq!(ch.mode, Mode::Transport);
    assert_eq!(ch.esp_proposals.len(), 2);
    assert_eq!(ch.life_time().0, 7200);
    assert_eq!(ch.rand_time().0, 300);
    assert!(ch.local_ts.is_empty() && ch.remote_ts.is_empty());
    assert_eq!(
        cfg.psk("x", "192.168.0.2").expect("psk").expose(),
        b"a \"quoted\" key"
    );
}

#[test]
fn bad_values_are_reported_with_their_path() {
    let root = parse_str(
        "connections { c {\n local_addrs = gw.example.org\n proposals = aes128-nosuchprf-x25519\n local { auth = psk }\n remote { auth = psk }\n children { x { start_action = trap|start\n rekey_time = soon } }\n}}\nsecrets { ike { secret = 0s!! } }\n",
        Path::new("s.conf"),
    )
    .expect("parse");
    let c = convert(&root);
    let paths = issue_paths(&c);
    assert_eq!(
        paths,
        [
            "connections.c.local_addrs",
            "connections.c.proposals",
            "connections.c.children.x.start_action",
            "connections.c.children.x.rekey_time",
            "secrets.ike.secret",
            "secrets.ike.secret",
        ]
    );
    assert!(
        c.issues[0].why.contains("IP addresses only"),
        "{:?}",
        c.issues[0]
    );
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = parse_str("connections {\n  a {\n    x = 1\n", Path::new("s.conf")).expect_err("open");
    assert!(e.to_string().starts_with("s.conf:4:"), "{e}");
    assert!(e.message.contains("missing `}`"));
    let e = parse_str("a {\n}\n}\n", Path::new("s.conf")).expect_err("close");
    assert_eq!(e.origin.line, 3);
    let e = parse_str("a : base {\n}\n", Path::new("s.conf")).expect_err("template");
    assert!(e.message.contains("not supported"), "{e}");
    let e = parse_str("a = \"open\n", Path::new("s.conf")).expect_err("quote");
    assert!(e.message.contains("closing"), "{e}");
    let dir = TempDir::new("import-loop");
    std::fs::write(dir.path().join("x.conf"), "include x.conf\n").expect("write");
    let e = parse_file(&dir.path().join("x.conf")).expect_err("loop");
    assert!(e.message.contains("deeper"), "{e}");
    let e = parse_file(&dir.path().join("none.conf")).expect_err("missing");
    assert!(e.message.contains("cannot read"), "{e}");
}

#[test]
fn sections_merge_and_last_value_wins() {
    let root = parse_str(
        "a {\n k = 1 # one\n}\na { k = 2\n b { } }\nc = \"x\\ty\"\n",
        Path::new("s.conf"),
    )
    .expect("parse");
    let a = root.section("a").expect("a");
    assert_eq!(a.get("k"), Some("2"));
    assert!(a.section("b").is_some());
    assert_eq!(root.get("c"), Some("x\ty"));
    assert_eq!(root.sections.len(), 1);
}

#[test]
fn what_lanes_refuses_is_reported_at_the_swanctl_path() {
    let root = parse_str(
        "connections { h {\n remote_addrs = 192.168.0.2\n local { auth = psk }\n remote { auth = psk }\n children { h { start_action = start } }\n}}\nsecrets { ike { secret = k } }\n",
        Path::new("s.conf"),
    )
    .expect("parse");
    let mut c = convert(&root);
    assert!(c.issues.is_empty(), "{:?}", c.issues);
    check_with_loader(Path::new("s.conf"), &mut c).expect("check");
    assert_eq!(issue_paths(&c), ["connections.h.children.h.local_ts"]);
    assert!(c.issues[0].why.contains("local_addrs"), "{:?}", c.issues[0]);
}

/// strongSwan takes sha1 and modp1024 in any proposal; lanes wants
/// `legacy = true` for them, which the import does not add on its own: the
/// loader's refusal becomes an issue that names the switch.
#[test]
fn legacy_proposals_are_reported_with_the_switch_to_allow_them() {
    let src = NET2NET_PSK
        .replace(
            "proposals = aes128-sha256-x25519",
            "proposals = aes128-sha1-modp1024",
        )
        .replace(
            "esp_proposals = aes128gcm16-x25519",
            "esp_proposals = aes128-sha1",
        );
    let root = parse_str(&src, Path::new("s.conf")).expect("parse");
    let mut c = convert(&root);
    assert!(c.issues.is_empty(), "{:?}", c.issues);
    check_with_loader(Path::new("s.conf"), &mut c).expect("render");
    let why: Vec<_> = c.issues.iter().map(|i| i.why.as_str()).collect();
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(
        why.iter()
            .all(|w| w.contains("legacy = true") && w.contains("[connections.gw-gw]")),
        "{why:?}"
    );
    assert!(why[0].contains("sha1, modp1024"), "{why:?}");
}
