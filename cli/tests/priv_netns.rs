//! Two `lanes daemon` processes in network namespaces with the real kernel
//! (XFRM netlink, trap policies, IKE over a veth pair). Needs root: runs only
//! with LANES_PRIV_TESTS=1. On a kernel without ESP the IKE SA still comes up
//! and the Child SA install fails with the reason in the log.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LANES: &str = env!("CARGO_BIN_EXE_lanes");

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Netns {
    names: [String; 2],
    dir: PathBuf,
    daemons: Vec<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(me: &str, peer: &str, my: &str, their: &str, lnet: &str, rnet: &str) -> String {
    format!(
        r#"[daemon]
listen = ["{my}"]
[connections.{peer}]
local_addrs = ["{my}"]
remote_addrs = ["{their}"]
proposals = ["aes128gcm16-prfsha256-x25519"]
local = {{ auth = "psk", id = "{me}.lanes.test" }}
remote = {{ auth = "psk", id = "{peer}.lanes.test" }}
[connections.{peer}.children.net]
local_ts = ["{lnet}"]
remote_ts = ["{rnet}"]
esp_proposals = ["aes128gcm16"]
start_action = "trap"
per_cpu_sas = "yes"
[secrets.ab]
ids = ["a.lanes.test", "b.lanes.test"]
secret = "priv-test-psk"
"#
    )
}

fn status(sock: &Path) -> serde_json::Value {
    let out = Command::new(LANES)
        .args(["--socket"])
        .arg(sock)
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn policies(ns: &str) -> usize {
    sh(&["ip", "-n", ns, "xfrm", "policy"])
        .matches("tmpl")
        .count()
}

#[test]
#[ignore = "needs root and network namespaces: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn two_daemons_in_netns() {
    if std::env::var("LANES_PRIV_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LANES_PRIV_TESTS=1 (root) to run");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("lanes-pa-{pid}"), format!("lanes-pb-{pid}"));
    let dir = std::env::temp_dir().join(format!("lanes-priv-{pid}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut env = Netns {
        names: [a.clone(), b.clone()],
        dir: dir.clone(),
        daemons: Vec::new(),
    };
    sh(&["ip", "netns", "add", &a]);
    sh(&["ip", "netns", "add", &b]);
    sh(&[
        "ip", "link", "add", "wan", "netns", &a, "type", "veth", "peer", "name", "wan", "netns", &b,
    ]);
    for (ns, wan, lan) in [
        (&a, "10.0.0.1/24", "192.168.1.1/24"),
        (&b, "10.0.0.2/24", "192.168.2.1/24"),
    ] {
        sh(&["ip", "-n", ns, "addr", "add", wan, "dev", "wan"]);
        sh(&["ip", "-n", ns, "addr", "add", lan, "dev", "lo"]);
        sh(&["ip", "-n", ns, "link", "set", "wan", "up"]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    let cfgs = [
        (
            &a,
            "a",
            config(
                "a",
                "b",
                "10.0.0.1",
                "10.0.0.2",
                "192.168.1.0/24",
                "192.168.2.0/24",
            ),
        ),
        (
            &b,
            "b",
            config(
                "b",
                "a",
                "10.0.0.2",
                "10.0.0.1",
                "192.168.2.0/24",
                "192.168.1.0/24",
            ),
        ),
    ];
    for (ns, me, text) in &cfgs {
        let cfg = dir.join(format!("{me}.toml"));
        std::fs::write(&cfg, text).expect("write");
        // The key is inline: only the owner may read the file.
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let log = std::fs::File::create(dir.join(format!("{me}.log"))).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.as_str(), LANES, "-v", "--config"])
            .arg(&cfg)
            .arg("--socket")
            .arg(dir.join(format!("{me}.sock")))
            .arg("daemon")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon");
        env.daemons.push(child);
    }
    let (sa, sb) = (dir.join("a.sock"), dir.join("b.sock"));
    let t0 = Instant::now();
    while !(sa.exists() && sb.exists()) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemons did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(policies(&a), 3, "trap policies out/in/fwd");
    assert!(
        sh(&["ip", "-n", &a, "xfrm", "policy"]).contains("flag 4"),
        "CPU_ACQUIRE on the out policy"
    );
    assert_eq!(status(&sa)["traps"][0]["per_cpu"], true);

    let up = Command::new(LANES)
        .arg("--socket")
        .arg(&sa)
        .args(["up", "b"])
        .output()
        .expect("up");
    assert!(
        up.status.success(),
        "up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let (st_a, st_b) = (status(&sa), status(&sb));
    assert_eq!(st_a["ike_sas"][0]["state"], "established", "{st_a}");
    assert_eq!(st_a["ike_sas"][0]["initiator"], true);
    assert_eq!(st_b["ike_sas"][0]["remote_id"], "a.lanes.test", "{st_b}");
    assert_eq!(st_a["ike_sas"][0]["spi_r"], st_b["ike_sas"][0]["spi_r"]);
    std::thread::sleep(Duration::from_millis(300));
    let children = status(&sa)["ike_sas"][0]["children"]
        .as_array()
        .map_or(0, Vec::len);
    let log = std::fs::read_to_string(dir.join("a.log")).unwrap_or_default();
    assert!(
        children >= 1 || log.contains("installing the Child SA failed"),
        "neither a Child SA nor an install error:\n{log}"
    );

    let down = Command::new(LANES)
        .arg("--socket")
        .arg(&sa)
        .args(["down", "b"])
        .output()
        .expect("down");
    assert!(
        down.status.success(),
        "down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_eq!(policies(&a), 0, "lanes down removes the policies");
    assert!(
        sh(&["ip", "-n", &a, "xfrm", "state"]).trim().is_empty(),
        "and the SAs"
    );

    for d in &mut env.daemons {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
    }
    for d in &mut env.daemons {
        let st = d.wait().expect("wait");
        assert!(st.success(), "daemon exit {st:?}");
    }
    env.daemons.clear();
    assert_eq!(policies(&b), 0, "SIGTERM removes gw-b's trap policies");
    assert!(!sb.exists(), "socket removed on exit");
}
