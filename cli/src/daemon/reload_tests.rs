use super::*;

const BASE: &str = r#"
[daemon]
max_initiating = 64
listen = ["0.0.0.0"]

[connections.gw-b]
local_addrs = ["10.0.0.1"]
remote_addrs = ["10.0.0.2"]
rekey_time = "4h"
local = { auth = "psk", id = "a.example" }
remote = { auth = "psk", id = "b.example" }

[connections.gw-b.children.net]
local_ts = ["192.168.1.0/24"]
remote_ts = ["192.168.2.0/24"]
rekey_time = "1h"
start_action = "start"

[connections.gw-c]
remote_addrs = ["10.0.0.3"]
local = { auth = "psk" }
remote = { auth = "psk" }

[connections.gw-c.children.net]
remote_ts = ["192.168.3.0/24"]
"#;

fn parse(s: &str) -> Table {
    toml::from_str(s).expect("toml")
}

/// BASE with `from` replaced by `to` (which must occur).
fn edit(from: &str, to: &str) -> Table {
    assert!(BASE.contains(from), "{from}");
    parse(&BASE.replacen(from, to, 1))
}

fn verdict(new: &Table, name: &str) -> Verdict {
    decide(&parse(BASE), new, |_| false).conns[name].clone()
}

#[test]
fn the_same_file_changes_nothing() {
    let d = decide(&parse(BASE), &parse(BASE), |_| false);
    assert!(d.daemon_live.is_empty() && d.daemon_restart.is_empty());
    assert!(d.conns.values().all(|v| *v == Verdict::Unchanged), "{d:?}");
    assert_eq!(d.conns.len(), 2);
    assert_eq!(
        d.summary(),
        "0 added, 0 removed, 0 updated in place, 0 replaced, 2 unchanged"
    );
}

#[test]
fn rekey_times_and_proposals_update_in_place_with_their_keys() {
    let new = edit("rekey_time = \"1h\"", "rekey_time = \"20m\"");
    assert_eq!(
        verdict(&new, "gw-b"),
        Verdict::Updated(vec!["children.net.rekey_time".into()])
    );
    assert_eq!(verdict(&new, "gw-c"), Verdict::Unchanged);
    let new = edit(
        "rekey_time = \"4h\"",
        "rekey_time = \"2h\"\ndpd_delay = \"30s\"\nproposals = [\"aes256gcm16-prfsha384-ecp384\"]",
    );
    assert_eq!(
        verdict(&new, "gw-b"),
        Verdict::Updated(vec![
            "dpd_delay".into(),
            "proposals".into(),
            "rekey_time".into()
        ])
    );
    // A key added to a child (its default before) is an update too.
    let new = edit(
        "rekey_time = \"1h\"",
        "rekey_time = \"1h\"\nlife_time = \"2h\"",
    );
    assert_eq!(
        verdict(&new, "gw-b"),
        Verdict::Updated(vec!["children.net.life_time".into()])
    );
}

#[test]
fn changes_that_invalidate_the_sas_replace_with_the_reason() {
    let cases = [
        (
            "remote_addrs = [\"10.0.0.2\"]",
            "remote_addrs = [\"10.0.0.9\"]",
            "addresses changed (remote_addrs)",
        ),
        (
            "id = \"b.example\"",
            "id = \"c.example\"",
            "identities or authentication changed (remote.id)",
        ),
        (
            "remote_ts = [\"192.168.2.0/24\"]",
            "remote_ts = [\"192.168.9.0/24\"]",
            "traffic selectors changed (children.net.remote_ts)",
        ),
        (
            "start_action = \"start\"",
            "start_action = \"trap\"",
            "start_action changes the trap policies (children.net.start_action)",
        ),
        (
            "start_action = \"start\"",
            "start_action = \"start\"\nif_id_out = 7",
            "route-based settings changed (children.net.if_id_out)",
        ),
        (
            "rekey_time = \"4h\"",
            "rekey_time = \"4h\"\nencap = true",
            "UDP encapsulation changed (encap)",
        ),
    ];
    for (from, to, why) in cases {
        assert_eq!(
            verdict(&edit(from, to), "gw-b"),
            Verdict::Replaced(why.into()),
            "{to}"
        );
    }
    // An invalidating key wins over in-place ones changed with it.
    let new = parse(
        &BASE
            .replacen("rekey_time = \"1h\"", "rekey_time = \"2h\"", 1)
            .replacen(
                "remote_ts = [\"192.168.2.0/24\"]",
                "remote_ts = [\"192.168.8.0/24\"]",
                1,
            ),
    );
    assert!(matches!(verdict(&new, "gw-b"), Verdict::Replaced(w) if w.contains("remote_ts")));
}

#[test]
fn unknown_keys_children_added_or_removed_and_secrets_replace() {
    let new = edit(
        "rekey_time = \"4h\"",
        "rekey_time = \"4h\"\nsome_new_knob = 3",
    );
    assert_eq!(
        verdict(&new, "gw-b"),
        Verdict::Replaced("cannot change in place (some_new_knob)".into())
    );
    let new = edit(
        "[connections.gw-c.children.net]",
        "[connections.gw-c.children.voice]\nremote_ts = [\"192.168.4.0/24\"]\n[connections.gw-c.children.net]",
    );
    assert_eq!(
        verdict(&new, "gw-c"),
        Verdict::Replaced("child voice added".into())
    );
    let d = decide(&parse(BASE), &parse(BASE), |n| n == "gw-c");
    assert_eq!(
        d.conns["gw-c"],
        Verdict::Replaced("pre-shared key changed ([secrets])".into())
    );
    assert_eq!(d.conns["gw-b"], Verdict::Unchanged);
}

#[test]
fn connections_added_and_removed() {
    let new = parse(&BASE.replace("gw-c", "gw-d"));
    let d = decide(&parse(BASE), &new, |_| false);
    assert_eq!(d.conns["gw-c"], Verdict::Removed);
    assert_eq!(d.conns["gw-d"], Verdict::Added);
    assert_eq!(d.conns["gw-b"], Verdict::Unchanged);
    assert_eq!(
        d.summary(),
        "1 added, 1 removed, 0 updated in place, 0 replaced, 1 unchanged"
    );
}

#[test]
fn daemon_changes_never_touch_connections() {
    let new = edit(
        "max_initiating = 64\nlisten = [\"0.0.0.0\"]",
        "max_initiating = 8\nlisten = [\"10.0.0.1\"]\ncookie_threshold = 5\nsteer_interfaces = [\"wan\"]",
    );
    let d = decide(&parse(BASE), &new, |_| false);
    assert_eq!(d.daemon_live, vec!["cookie_threshold", "max_initiating"]);
    assert_eq!(d.daemon_restart, vec!["listen", "steer_interfaces"]);
    assert!(d.conns.values().all(|v| *v == Verdict::Unchanged), "{d:?}");
    let text = d.render();
    assert!(
        text.contains("[daemon] max_initiating: applied live\n"),
        "{text}"
    );
    assert!(text.contains("[daemon] listen: needs a restart"), "{text}");
    assert!(text.contains("connection gw-b: unchanged\n"), "{text}");
}

#[test]
fn the_rendering_names_keys_and_reasons() {
    let new = parse(
        &BASE
            .replacen("rekey_time = \"1h\"", "rekey_time = \"20m\"", 1)
            .replacen(
                "remote_addrs = [\"10.0.0.3\"]",
                "remote_addrs = [\"10.0.0.4\"]",
                1,
            ),
    );
    let text = decide(&parse(BASE), &new, |_| false).render();
    assert_eq!(
        text,
        "connection gw-b: updated in place, SAs kept, applies from their next rekey: children.net.rekey_time\n\
         connection gw-c: replaced (SAs closed and renegotiated): addresses changed (remote_addrs)\n"
    );
}
