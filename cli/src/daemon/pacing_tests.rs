//! The daemon paces `start` connections: with `max_initiating = 2`, five
//! connections to an absent peer leave exactly two IKE SAs connecting; once
//! the peer (one connection for any id) is up, all five come up.

use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Daemon, FakeKernel, Inputs, NoSteer, Options};
use crate::config::Config;
use crate::control::{ControlRequest, Request, RequestKind, StatusReport};

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
}

fn initiator(ports: (u16, u16, u16), conns: usize) -> String {
    let (ike, nat, peer) = ports;
    let mut s = format!(
        "[daemon]\nlisten = [\"127.0.0.1\"]\nike_port = {ike}\nnat_port = {nat}\nmax_initiating = 2\n\n"
    );
    for i in 1..=conns {
        s.push_str(&format!(
            "[connections.c{i}]\nlocal_addrs = [\"127.0.0.1\"]\nremote_addrs = [\"127.0.0.1\"]\n\
             remote_port = {peer}\nproposals = [\"aes128gcm16-prfsha256-x25519\"]\n\
             local = {{ auth = \"psk\", id = \"c{i}.a.example\" }}\n\
             remote = {{ auth = \"psk\", id = \"hub.example\" }}\n\n\
             [connections.c{i}.children.net]\nlocal_ts = [\"10.1.0.{i}/32\"]\n\
             remote_ts = [\"10.2.0.{i}/32\"]\nesp_proposals = [\"aes128gcm16\"]\n\
             start_action = \"start\"\n\n"
        ));
    }
    s + "[secrets.all]\nsecret = \"pacing test secret\"\n"
}

fn responder(ports: (u16, u16, u16)) -> String {
    let (ike, nat, peer) = ports;
    format!(
        "[daemon]\nlisten = [\"127.0.0.1\"]\nike_port = {ike}\nnat_port = {nat}\n\n\
         [connections.hub]\nlocal_addrs = [\"127.0.0.1\"]\nremote_addrs = [\"127.0.0.1\"]\n\
         remote_port = {peer}\nproposals = [\"aes128gcm16-prfsha256-x25519\"]\n\
         local = {{ auth = \"psk\", id = \"hub.example\" }}\nremote = {{ auth = \"psk\" }}\n\n\
         [connections.hub.children.net]\nlocal_ts = [\"10.2.0.0/16\"]\n\
         remote_ts = [\"10.1.0.0/16\"]\nesp_proposals = [\"aes128gcm16\"]\n\n\
         [secrets.all]\nsecret = \"pacing test secret\"\n"
    )
}

struct Node {
    ctl: mpsc::Sender<ControlRequest>,
    stop: oneshot::Sender<()>,
}

impl Node {
    async fn status(&self) -> StatusReport {
        let (reply, rx) = oneshot::channel();
        self.ctl
            .send(ControlRequest {
                request: Request::new(RequestKind::Status),
                reply,
            })
            .await
            .expect("daemon alive");
        rx.await.expect("reply").status.expect("status")
    }

    async fn count(&self, state: &str) -> usize {
        self.status()
            .await
            .ike_sas
            .iter()
            .filter(|s| s.state == state)
            .count()
    }
}

/// Starts a daemon on `text`; returns its handle and the running task.
async fn spawn(
    dir: &Path,
    name: &str,
    text: &str,
) -> (Node, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    // The config holds its key inline: only the owner may read it.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod config");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = Options {
        keep_kernel_state: false,
        cpus: 2,
    };
    let mut d = Daemon::new(path, cfg, FakeKernel::new(), NoSteer, opts).expect("daemon");
    d.start().await.expect("start");
    let (ctl, control) = mpsc::channel(8);
    let (_, reload) = mpsc::channel(1);
    let (stop, shutdown) = oneshot::channel();
    let task = tokio::spawn(async move {
        d.run(Inputs {
            control,
            reload,
            shutdown,
        })
        .await
    });
    (Node { ctl, stop }, task)
}

#[tokio::test]
async fn start_connections_are_paced() {
    let dir = std::env::temp_dir().join(format!("lanes-pacing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (a, an, b, bn) = (free_port(), free_port(), free_port(), free_port());
    let (ini, ini_task) = spawn(&dir, "a", &initiator((a, an, b), 5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ini.count("connecting").await,
        2,
        "only max_initiating IKE SAs start while the peer is silent"
    );
    let (resp, resp_task) = spawn(&dir, "b", &responder((b, bn, a))).await;
    // The first two IKE_SA_INITs were lost: their retransmission (4 s) brings
    // them up, then the other three follow.
    let mut up = 0;
    for _ in 0..100 {
        up = ini.count("established").await;
        if up == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(up, 5, "every start connection comes up");
    assert_eq!(resp.count("established").await, 5);
    for (n, t) in [(ini, ini_task), (resp, resp_task)] {
        let _ = n.stop.send(());
        t.await.expect("join").expect("daemon");
    }
    let _ = std::fs::remove_dir_all(dir);
}
