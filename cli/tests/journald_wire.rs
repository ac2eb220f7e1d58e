//! Logging to journald over its native protocol
//! (<https://systemd.io/JOURNAL_NATIVE_PROTOCOL/>): a child process started
//! as systemd would (stderr named by `JOURNAL_STREAM`) logs one event; a unix
//! datagram socket bind-mounted on /run/systemd/journal/socket in a private
//! mount namespace receives it. Needs root (mount namespaces): runs only with
//! `LANES_PRIV_TESTS=1`.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in the child: log and exit instead of testing.
const CHILD: &str = "LANES_JOURNALD_CHILD";

/// Parses one native-protocol datagram: `KEY=value\n`, or `KEY\n`, a
/// 64-bit little-endian length, the value and `\n` for binary values.
fn parse(mut d: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    while !d.is_empty() {
        let nl = d.iter().position(|b| *b == b'\n').expect("newline");
        let line = &d[..nl];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            let key = String::from_utf8(line[..eq].to_vec()).expect("key");
            assert!(
                out.insert(key, line[eq + 1..].to_vec()).is_none(),
                "duplicate field"
            );
            d = &d[nl + 1..];
        } else {
            let key = String::from_utf8(line.to_vec()).expect("key");
            let len_bytes: [u8; 8] = d[nl + 1..nl + 9].try_into().expect("length");
            let len = usize::try_from(u64::from_le_bytes(len_bytes)).expect("len");
            let start = nl + 9;
            assert_eq!(d[start + len], b'\n', "binary value ends with a newline");
            assert!(
                out.insert(key, d[start..start + len].to_vec()).is_none(),
                "duplicate field"
            );
            d = &d[start + len + 1..];
        }
    }
    out
}

#[test]
#[ignore = "needs root (a mount namespace): `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn child_logs() {
    if std::env::var(CHILD).as_deref() != Ok("1") {
        return;
    }
    lanes_cli::logging::init(tracing::Level::INFO, lanes_cli::logging::LogFormat::Text);
    tracing::info!(
        connection = "gw-b",
        ike_sa = "0011223344556677",
        child_sa = 7,
        cpu = 3,
        "Child SA installed"
    );
}

#[test]
#[ignore = "needs root (a mount namespace): `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn fields_reach_journald_without_a_second_timestamp() {
    if std::env::var("LANES_PRIV_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LANES_PRIV_TESTS=1 (root, unshare)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("lanes-journald-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let sock = UnixDatagram::bind(dir.join("socket")).expect("bind the journal socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let script = r#"mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal &&
mount --bind "$1" /run/systemd/journal &&
JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && export JOURNAL_STREAM &&
exec "$2" --exact child_logs --include-ignored --test-threads 1"#;
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&dir)
        .arg(&exe)
        .env(CHILD, "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
        .status()
        .expect("run unshare");
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert!(status.success(), "child failed: {stderr}");
    let mut buf = vec![0u8; 65536];
    let entry = loop {
        // The layer's first datagram is an empty probe.
        let n = sock.recv(&mut buf).expect("a journal entry within 10 s");
        if n > 0 {
            break parse(&buf[..n]);
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let text = |k: &str| {
        let v = entry
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {entry:?}"));
        String::from_utf8(v.clone()).expect("utf8")
    };
    assert_eq!(text("CONNECTION"), "gw-b");
    assert_eq!(text("IKE_SA"), "0011223344556677");
    assert_eq!(text("CHILD_SA"), "7");
    assert_eq!(text("CPU"), "3");
    assert_eq!(text("PRIORITY"), "6");
    assert_eq!(text("SYSLOG_IDENTIFIER"), "lanes");
    let message = text("MESSAGE");
    assert_eq!(
        message, "Child SA installed",
        "journald keeps the time, not the message"
    );
    assert!(
        !entry.keys().any(|k| k.contains("TIMESTAMP")),
        "no second timestamp field: {entry:?}"
    );
    assert!(
        !stderr.contains("Child SA installed"),
        "the entry went to the journal, not stderr as well: {stderr}"
    );
}
