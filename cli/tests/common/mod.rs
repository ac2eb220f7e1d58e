//! The harness shared by the loopback daemon tests: lanes daemons with fake
//! kernels on loopback UDP, driven through their control channel.
// Each test binary uses a different part of it.
#![allow(dead_code)]

pub mod ocsp;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lanes_cli::config::Config;
use lanes_cli::control::{ControlRequest, Request, RequestKind, Response, StatusReport};
use lanes_cli::daemon::{Daemon, FakeKernel, Inputs, Options, RecordingSteer};
use tokio::sync::{mpsc, oneshot};

/// A UDP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One daemon's handles: its control channel, reload and stop, fake kernel
/// and recorded steering.
pub struct Node {
    pub ctl: mpsc::Sender<ControlRequest>,
    pub reload: mpsc::Sender<()>,
    pub stop: Option<oneshot::Sender<()>>,
    pub kernel: FakeKernel,
    pub steer: RecordingSteer,
    pub cfg_path: PathBuf,
    pub ike_port: u16,
}

impl Node {
    /// One control request and its response.
    pub async fn req(&self, kind: RequestKind) -> Response {
        let (reply, rx) = oneshot::channel();
        self.ctl
            .send(ControlRequest {
                request: Request::new(kind),
                reply,
            })
            .await
            .expect("daemon alive");
        rx.await.expect("reply")
    }

    pub async fn status(&self) -> StatusReport {
        self.req(RequestKind::Status).await.status.expect("status")
    }

    pub fn sas(&self) -> usize {
        self.kernel.state().sas.len()
    }

    pub fn policies(&self) -> usize {
        self.kernel.state().policies.len()
    }

    /// Stops the daemon (its `run` returns).
    pub fn stop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }
}

/// Polls `cond` every 20 ms for up to 10 s.
pub async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..500 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Gateway `me`'s config for its connection `peer` with one child `net`;
/// `ports` are (IKE, NAT-T, peer IKE). `daemon` and `child` are extra lines
/// in the `[daemon]` and child tables.
pub fn config(me: &str, peer: &str, ports: (u16, u16, u16), daemon: &str, child: &str) -> String {
    let (ike, nat, peer_ike) = ports;
    let (lts, rts) = if me == "a" {
        ("192.168.1.0/24", "192.168.2.0/24")
    } else {
        ("192.168.2.0/24", "192.168.1.0/24")
    };
    format!(
        r#"
[daemon]
listen = ["127.0.0.1"]
ike_port = {ike}
nat_port = {nat}
{daemon}

[connections.{peer}]
local_addrs = ["127.0.0.1"]
remote_addrs = ["127.0.0.1"]
remote_port = {peer_ike}
proposals = ["aes128gcm16-prfsha256-x25519"]
local = {{ auth = "psk", id = "gw-{me}.example" }}
remote = {{ auth = "psk", id = "gw-{peer}.example" }}

[connections.{peer}.children.net]
local_ts = ["{lts}"]
remote_ts = ["{rts}"]
esp_proposals = ["aes128gcm16"]
{child}

[secrets.ab]
ids = ["gw-a.example", "gw-b.example"]
secret = "loopback test secret"
"#
    )
}

/// A daemon named `name` on `cpus` CPUs with config `text` (written to
/// `dir`, mode 0600 as its key is inline), not started yet.
pub fn node(
    dir: &Path,
    name: &str,
    text: &str,
    ike_port: u16,
    cpus: u32,
) -> (Node, Daemon<FakeKernel, RecordingSteer>, Inputs) {
    let cfg_path = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg_path, text).expect("write config");
    std::fs::set_permissions(&cfg_path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod config");
    let cfg = Config::load(&cfg_path).unwrap_or_else(|e| panic!("{e}"));
    let kernel = FakeKernel::new();
    let steer = RecordingSteer::default();
    let opts = Options {
        keep_kernel_state: false,
        cpus,
    };
    let daemon =
        Daemon::new(cfg_path.clone(), cfg, kernel.clone(), steer.clone(), opts).expect("daemon");
    let (ctl, control) = mpsc::channel(8);
    let (reload, reload_rx) = mpsc::channel(2);
    let (stop, shutdown) = oneshot::channel();
    let n = Node {
        ctl,
        reload,
        stop: Some(stop),
        kernel,
        steer,
        cfg_path,
        ike_port,
    };
    let inputs = Inputs {
        control,
        reload: reload_rx,
        shutdown,
    };
    (n, daemon, inputs)
}

/// A fresh folder for one test's configs.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanes-loop-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}
