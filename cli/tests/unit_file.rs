//! `dist/lanes.service` keeps its sandbox: every hardening key is present with
//! its value, and the capability set is exactly what the daemon uses
//! (systemd.exec(5)).

use std::collections::{BTreeMap, BTreeSet};

const UNIT: &str = include_str!("../dist/lanes.service");

/// `[Service]` as key -> values in order (a repeated key appends).
fn service() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in UNIT.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line:?}"));
        if section == "Service" {
            out.entry(k.trim().into())
                .or_default()
                .push(v.trim().into());
        }
    }
    out
}

/// The one value of `key`; a missing or repeated key fails.
fn one(s: &BTreeMap<String, Vec<String>>, key: &str) -> String {
    match s.get(key).map(Vec::as_slice) {
        Some([v]) => v.clone(),
        Some(vs) => panic!("{key} set {} times: {vs:?}", vs.len()),
        None => panic!("lanes.service lacks {key}="),
    }
}

fn words(v: &str) -> BTreeSet<&str> {
    v.split_whitespace().collect()
}

#[test]
fn hardening_keys_are_present() {
    let s = service();
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("SystemCallArchitectures", "native"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RuntimeDirectory", "lanes"),
        ("RuntimeDirectoryMode", "0700"),
        ("ConfigurationDirectoryMode", "0700"),
        ("UMask", "0077"),
    ] {
        assert_eq!(one(&s, key), want, "{key}");
    }
    assert_eq!(
        words(&one(&s, "RestrictAddressFamilies")),
        words("AF_UNIX AF_INET AF_INET6 AF_NETLINK")
    );
}

#[test]
fn capabilities_are_exactly_the_used_ones() {
    let s = service();
    let bounding = one(&s, "CapabilityBoundingSet");
    assert_eq!(
        words(&bounding),
        words("CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_BPF CAP_PERFMON"),
        "each capability in the set needs a use in the daemon"
    );
    let ambient = one(&s, "AmbientCapabilities");
    assert!(
        words(&ambient).is_subset(&words(&bounding)),
        "ambient {ambient:?} beyond the bounding set"
    );
    assert!(
        !s.contains_key("SecureBits"),
        "noroot would leave root no capabilities"
    );
}

#[test]
fn control_socket_lives_in_the_runtime_directory() {
    let s = service();
    let start = one(&s, "ExecStart");
    let socket = start
        .split_whitespace()
        .skip_while(|w| *w != "--socket")
        .nth(1)
        .expect("ExecStart passes --socket");
    let dir = format!("/run/{}/", one(&s, "RuntimeDirectory"));
    assert!(socket.starts_with(&dir), "{socket} not under {dir}");
    assert!(one(&s, "ExecStartPre").ends_with(" check"));
}
