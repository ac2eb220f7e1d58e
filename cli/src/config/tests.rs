//! Every example config parses; bad configs fail with the expected location and reason.

use std::path::{Path, PathBuf};

use super::*;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// An example's text, parsed without the file-mode check: a checkout leaves
/// the examples readable by all, and they hold placeholder keys inline.
fn load_example(path: &Path) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path).expect("read example");
    Config::parse(&src, path)
}

#[test]
fn every_example_parses() {
    let mut n = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = load_example(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !cfg.connections.is_empty(),
                "{} has no connections",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 6, "expected the example set, found {n}");
}

#[test]
fn two_gateway_pair_mirrors() {
    let a = load_example(&examples_dir().join("gw-a.toml")).expect("gw-a");
    let b = load_example(&examples_dir().join("gw-b.toml")).expect("gw-b");
    let ca = &a.connections["gw-b"];
    let cb = &b.connections["gw-a"];
    assert_eq!(ca.local_addrs, cb.remote_addrs);
    assert_eq!(ca.remote_addrs, cb.local_addrs);
    assert_eq!(ca.local_addrs[0].to_string(), "10.0.0.1");
    assert_eq!(ca.local_id(), cb.remote_id());
    let (na, nb) = (&ca.children["net"], &cb.children["net"]);
    assert_eq!(na.local_ts, nb.remote_ts);
    assert_eq!(na.local_ts[0].to_string(), "192.168.1.0/24");
    assert_eq!(nb.local_ts[0].to_string(), "192.168.2.0/24");
    assert_eq!(na.per_cpu_sas, PerCpuSas::Yes);
    assert_eq!(na.start_action, StartAction::Trap);
    assert_eq!(na.rekey_time, Seconds(3600));
    assert_eq!(ca.dpd_delay, Seconds(30));
    let ka = a.psk(&ca.local_id(), &ca.remote_id()).expect("psk a");
    let kb = b.psk(&cb.local_id(), &cb.remote_id()).expect("psk b");
    assert_eq!(ka.expose(), kb.expose());
}

#[test]
fn issue_example_parses_with_defaults() {
    let src = r#"
[daemon]
listen = ["0.0.0.0", "::"]
steer_interfaces = ["eth0"]
steer_mode = "native"

[connections.dc-b]
local_addrs = ["10.0.0.1"]
remote_addrs = ["10.0.0.2"]
proposals = ["aes128gcm16-prfsha256-x25519"]
encap = false
dpd_delay = "30s"
rekey_time = "4h"
max_child_sas = 40
local = { auth = "psk", id = "gw-a.example" }
remote = { auth = "psk", id = "gw-b.example" }

[connections.dc-b.children.net]
local_ts = ["192.168.1.0/24"]
remote_ts = ["192.168.2.0/24"]
esp_proposals = ["aes128gcm16-x25519-esn"]
mode = "tunnel"
start_action = "trap"
per_cpu_sas = "yes"
per_cpu_mode = "on_demand"
per_cpu_max = 64
hw_offload = "auto"
rekey_time = "1h"

[secrets.ike-b]
ids = ["gw-a.example", "gw-b.example"]
secret = "..."
"#;
    let cfg = Config::parse(src, Path::new("lanes.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.daemon.ike_port, 500);
    assert_eq!(cfg.daemon.nat_port, 4500);
    assert_eq!(cfg.connections["dc-b"].max_child_sas, Some(40));
    let ch = &cfg.connections["dc-b"].children["net"];
    assert_eq!(ch.per_cpu_max, Some(64));
    assert_eq!(ch.hw_offload, HwOffload::Auto);
    assert_eq!(ch.life_time(), Seconds(3960));
    assert_eq!(ch.replay_window, 32);
}

/// Parses `src` and returns the single error's rendering.
fn err(src: &str) -> String {
    match Config::parse(src, Path::new("bad.toml")) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

const MIN: &str = r#"
[connections.c]
remote_addrs = ["10.0.0.2"]
local = { auth = "psk", id = "a" }
remote = { auth = "psk", id = "b" }

[secrets.s]
ids = ["b"]
secret = "x"
"#;

#[test]
fn minimal_is_valid() {
    Config::parse(MIN, Path::new("min.toml")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_key_is_named_with_line() {
    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nstart_acton = \"trap\"\n"
    ));
    assert!(e.starts_with("bad.toml:12:1: "), "{e}");
    assert!(e.contains("unknown field `start_acton`"), "{e}");
    let e = err("[daemon]\nlisten = []\nportt = 1\n");
    assert!(e.starts_with("bad.toml:3:1: "), "{e}");
    assert!(e.contains("`portt`"), "{e}");
}

#[test]
fn bad_values_point_at_the_value() {
    let e = err(&MIN.replace(
        "remote_addrs = [\"10.0.0.2\"]",
        "remote_addrs = [\"10.0.0.300\"]",
    ));
    assert!(e.starts_with("bad.toml:3:"), "{e}");
    assert!(e.contains("invalid IP address"), "{e}");

    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nrekey_time = \"4x\"\n"
    ));
    assert!(e.starts_with("bad.toml:12:14: "), "{e}");
    assert!(e.contains("invalid duration \"4x\""), "{e}");

    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nper_cpu_sas = \"maybe\"\n"
    ));
    assert!(
        e.contains("unknown variant `maybe`, expected one of `no`, `yes`, `encap`"),
        "{e}"
    );

    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nlocal_ts = [\"192.168.1.1/24\"]\n"
    ));
    assert!(e.contains("did you mean \"192.168.1.0/24\""), "{e}");

    let e = err(&MIN.replace(
        "[connections.c]",
        "[connections.c]\nproposals = [\"aes128gcm16-prfsha256-x2559\"]",
    ));
    assert!(e.starts_with("bad.toml:3:"), "{e}");
    assert!(e.contains("unknown proposal keyword \"x2559\""), "{e}");

    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nlocal_ts = [\"10.1.0.0/16\", \"10.2.0.0/16\"]\n\
         remote_ts = [\"10.3.0.0/16\", \"10.4.0.0/16\"]\nmax_policies = 3\n"
    ));
    assert!(e.contains("max_policies"), "{e}");
    assert!(e.contains("need 4 policies per direction"), "{e}");

    let e = err("[connections.c]\nlocal = { auth = \"pubkey\" }\nremote = { auth = \"psk\" }\n");
    assert!(
        e.contains("connections.c.local: auth = \"pubkey\" needs certs"),
        "{e}"
    );
}

#[test]
fn syntax_error_has_line() {
    let e = err("[daemon\nlisten = 1\n");
    assert!(e.starts_with("bad.toml:1:"), "{e}");
}

#[test]
fn cross_field_checks_are_located() {
    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nper_cpu_sas = \"yes\"\nstart_action = \"start\"\n\
         local_ts = [\"192.168.1.0/24\"]\n"
    ));
    assert!(
        e.starts_with("bad.toml:13:16: connections.c.children.x.start_action: "),
        "{e}"
    );
    assert!(e.contains("trap"), "{e}");

    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nstart_action = \"start\"\n"
    ));
    assert!(
        e.contains("connections.c.children.x.local_ts: an empty (dynamic) local_ts"),
        "{e}"
    );

    let e = err(&MIN.replace("ids = [\"b\"]", "ids = [\"someone-else\"]"));
    assert!(
        e.contains("connections.c.remote: no [secrets.*] entry with ids containing \"b\""),
        "{e}"
    );

    let e = err(&MIN.replace("secret = \"x\"", ""));
    assert!(e.contains("secrets.s: needs secret or secret_file"), "{e}");

    let e = err(&format!(
        "{MIN}\n[connections.c.children.x]\nrekey_time = \"1h\"\nlife_time = \"30m\"\n"
    ));
    assert!(
        e.contains("children.x.life_time: must be longer than rekey_time"),
        "{e}"
    );

    let e = err(&MIN.replace("[connections.c]\n", "[connections.c]\nmax_child_sas = 0\n"));
    assert!(
        e.contains("connections.c.max_child_sas: must be at least 1"),
        "{e}"
    );

    let e = err(&format!("{MIN}\n[daemon]\nike_port = 4500\n"));
    assert!(
        e.contains("daemon.nat_port: must differ from ike_port"),
        "{e}"
    );

    let e = err(&format!(
        "{MIN}\n[connections.r]\nlocal = {{ auth = \"psk\" }}\nremote = {{ auth = \"psk\" }}\n\
         [connections.r.children.x]\nstart_action = \"trap\"\n"
    ));
    assert!(
        e.contains("connections.r.children.x.start_action: trap/start need the peer's address"),
        "{e}"
    );
}

#[test]
fn several_problems_are_all_reported() {
    let e = Config::parse(
        &format!("{MIN}\n[daemon]\nlisten = []\nike_port = 4500\n"),
        Path::new("bad.toml"),
    )
    .expect_err("two problems");
    assert_eq!(e.0.len(), 2, "{e}");
}

#[test]
fn secret_file_relative_to_config_and_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::testutil::TempDir::new("cfg");
    let key = dir.path().join("b.psk");
    std::fs::write(&key, "file-secret\n").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    let src = MIN.replace("secret = \"x\"", "secret_file = \"b.psk\"");
    let cfg_path = dir.path().join("lanes.toml");
    std::fs::write(&cfg_path, &src).expect("write cfg");
    let e = Config::load(&cfg_path)
        .expect_err("world-readable")
        .to_string();
    assert!(
        e.contains("secrets.s.secret_file: ") && e.contains("chmod 600"),
        "{e}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let cfg = Config::load(&cfg_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.psk("a", "b").expect("psk").expose(), b"file-secret");
}

/// Writes MIN (an inline secret) as `lanes.toml` with `mode`.
fn inline_secret_config(dir: &crate::testutil::TempDir, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join("lanes.toml");
    std::fs::write(&path, MIN).expect("write cfg");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn inline_secret_in_a_readable_config_is_refused() {
    let dir = crate::testutil::TempDir::new("cfg-mode");
    for (mode, who) in [
        (0o644, "readable by its group and others"),
        (0o640, "readable by its group"),
        (0o604, "readable by others"),
        (0o660, "readable by its group"),
        (0o602, "accessible by other users"),
    ] {
        let path = inline_secret_config(&dir, mode);
        let e = Config::load(&path).expect_err("exposed key").to_string();
        let shown = path.display();
        let want = format!(
            "{shown}:9:10: secrets.s.secret: config {shown} holds a pre-shared key and is {who} \
             (mode {mode:04o}); run `chmod 600 {shown}` or move the key to a secret_file"
        );
        assert_eq!(e, want, "mode {mode:o}");
        assert!(!e.contains("secret = \"x\""), "{e}");
    }
    for mode in [0o600, 0o400] {
        let path = inline_secret_config(&dir, mode);
        Config::load(&path).unwrap_or_else(|e| panic!("mode {mode:o}: {e}"));
    }
}

#[test]
fn readable_config_without_inline_secret_is_fine() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::testutil::TempDir::new("cfg-nosecret");
    let key = dir.path().join("b.psk");
    std::fs::write(&key, "file-secret\n").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let path = dir.path().join("lanes.toml");
    std::fs::write(
        &path,
        MIN.replace("secret = \"x\"", "secret_file = \"b.psk\""),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.psk("a", "b").expect("psk").expose(), b"file-secret");
}

#[test]
fn lanes_check_fails_on_an_exposed_key() {
    use clap::Parser;
    let dir = crate::testutil::TempDir::new("cfg-check");
    let path = inline_secret_config(&dir, 0o644);
    let args = crate::Args::try_parse_from(["lanes", "--config", &path.to_string_lossy(), "check"])
        .expect("args");
    let e = crate::run(args).expect_err("check must fail");
    assert!(format!("{e:#}").contains("chmod 600"), "{e:#}");
    let path = inline_secret_config(&dir, 0o600);
    let args = crate::Args::try_parse_from(["lanes", "--config", &path.to_string_lossy(), "check"])
        .expect("args");
    crate::run(args).expect("0600 passes");
}

#[test]
fn secrets_never_appear_in_debug() {
    let cfg = Config::parse(
        &MIN.replace("secret = \"x\"", "secret = \"topsecret-value\""),
        Path::new("m.toml"),
    )
    .expect("parse");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("topsecret-value"), "{dbg}");
}

#[test]
fn psk_matching_prefers_both_ids() {
    let src = r#"
[secrets.wild]
secret = "wild"
[secrets.peer]
ids = ["b"]
secret = "peer"
[secrets.both]
ids = ["a", "b"]
secret = "both"
"#;
    let cfg = Config::parse(src, Path::new("s.toml")).expect("parse");
    assert_eq!(cfg.psk("a", "b").expect("both").expose(), b"both");
    assert_eq!(cfg.psk("z", "b").expect("peer").expose(), b"peer");
    assert_eq!(cfg.psk("z", "q").expect("wild").expose(), b"wild");
}

#[test]
fn fragmentation_and_fragment_size_parse_with_strongswan_defaults() {
    let cfg = Config::parse(MIN, Path::new("min.toml")).expect("min");
    assert_eq!(cfg.daemon.fragment_size, 1280);
    assert_eq!(cfg.connections["c"].fragmentation, Fragmentation::Yes);
    for (word, want) in [
        ("yes", Fragmentation::Yes),
        ("accept", Fragmentation::Accept),
        ("force", Fragmentation::Force),
        ("no", Fragmentation::No),
    ] {
        let src = MIN.replace(
            "[connections.c]",
            &format!(
                "[daemon]\nfragment_size = 576\n\n[connections.c]\nfragmentation = \"{word}\""
            ),
        );
        let cfg = Config::parse(&src, Path::new("f.toml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.connections["c"].fragmentation, want);
        assert_eq!(cfg.daemon.fragment_size, 576);
    }
    let e = err(&MIN.replace(
        "[connections.c]",
        "[connections.c]\nfragmentation = \"maybe\"",
    ));
    assert!(
        e.contains("unknown variant `maybe`, expected one of `yes`, `accept`, `force`, `no`"),
        "{e}"
    );
    let e = err(&format!("[daemon]\nfragment_size = 100\n{MIN}"));
    assert!(e.contains("daemon.fragment_size"), "{e}");
    assert!(e.contains("256..=65535"), "{e}");
    let src = format!("[daemon]\nfragment_size = 0\n{MIN}");
    Config::parse(&src, Path::new("f.toml")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn legacy_algorithms_need_the_legacy_switch() {
    let with = |conn: &str, child: &str| {
        MIN.replace(
            "remote_addrs = [\"10.0.0.2\"]",
            &format!("remote_addrs = [\"10.0.0.2\"]\n{conn}"),
        ) + &format!("\n[connections.c.children.x]\n{child}\n")
    };
    let src = with(
        "proposals = [\"aes128gcm16-prfsha256-x25519\", \"aes128-sha1-modp1024\"]",
        "esp_proposals = [\"aes128-sha1\"]",
    );
    let e = err(&src);
    assert!(
        e.contains(
            "connections.c.proposals[1]: proposal \"aes128-sha1-modp1024\" uses the legacy \
             algorithm(s) sha1, modp1024; set `legacy = true` in [connections.c]"
        ),
        "{e}"
    );
    assert!(
        e.contains("connections.c.children.x.esp_proposals[0]: proposal \"aes128-sha1\""),
        "{e}"
    );
    assert!(!e.contains("proposals[0]: proposal \"aes128gcm16"), "{e}");
    let e = err(&with("proposals = [\"aes128gcm16-prfsha1-x25519\"]", ""));
    assert!(e.contains("legacy algorithm(s) prfsha1;"), "{e}");

    let ok = with(
        "legacy = true\nproposals = [\"aes128-sha1-modp1024\"]",
        "esp_proposals = [\"aes128-sha1\"]",
    );
    let cfg = Config::parse(&ok, Path::new("ok.toml")).unwrap_or_else(|e| panic!("{e}"));
    let c = &cfg.connections["c"];
    assert!(c.legacy);
    let esp = c.children["x"]
        .esp_proposals
        .iter()
        .flat_map(|p| &p.0.parsed);
    assert_eq!(
        legacy_names(c.proposals.iter().flat_map(|p| &p.0.parsed).chain(esp)),
        ["sha1", "modp1024"]
    );
    // Off by default; modern proposals need no switch.
    let cfg = Config::parse(MIN, Path::new("min.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!cfg.connections["c"].legacy);
    let ccm = with(
        "proposals = [\"aes128ccm16-prfsha256-x25519\"]",
        "esp_proposals = [\"aes128ccm16\"]",
    );
    Config::parse(&ccm, Path::new("ccm.toml")).unwrap_or_else(|e| panic!("{e}"));
}
