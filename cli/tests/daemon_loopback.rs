//! Two lanes daemons with fake kernels negotiate over loopback UDP (no root):
//! `lanes up`, per-CPU children from injected acquires, install failures,
//! reload and `lanes down`.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use lanes_cli::control::RequestKind;
use lanes_cli::daemon::{Daemon, FakeKernel, Inputs, KernelEvent, RecordingSteer};

mod common;

use common::{Node, free_port, temp_dir, wait_for};

/// The reqid of the per-CPU trap (the outbound policy with CPU_ACQUIRE).
trait TrapReqid {
    fn trap_reqid(&self) -> u32;
}

impl TrapReqid for Node {
    fn trap_reqid(&self) -> u32 {
        let st = self.kernel.state();
        let out = st
            .policies
            .values()
            .find(|p| p.cpu_acquire)
            .expect("CPU_ACQUIRE out policy");
        out.templates[0].reqid.0
    }
}

fn config(me: &str, peer: &str, ports: (u16, u16, u16), child: &str) -> String {
    common::config(me, peer, ports, "", child)
}

fn node(
    dir: &Path,
    name: &str,
    text: &str,
    ike_port: u16,
) -> (Node, Daemon<FakeKernel, RecordingSteer>, Inputs) {
    common::node(dir, name, text, ike_port, 4)
}

async fn run_pair<F, Fut>(tag: &str, child_a: &str, child_b: &str, script: F)
where
    F: FnOnce(Node, Node) -> Fut,
    Fut: Future<Output = (Node, Node)>,
{
    let text_a = |ports| config("a", "b", ports, child_a);
    let text_b = |ports| config("b", "a", ports, child_b);
    run_texts(tag, text_a, text_b, script).await;
}

/// [`run_pair`] with each side's whole config text made from its (IKE, NAT-T, peer IKE) ports.
async fn run_texts<F, Fut>(
    tag: &str,
    text_a: impl Fn((u16, u16, u16)) -> String,
    text_b: impl Fn((u16, u16, u16)) -> String,
    script: F,
) where
    F: FnOnce(Node, Node) -> Fut,
    Fut: Future<Output = (Node, Node)>,
{
    let dir = temp_dir(tag);
    let (pa, pb) = (free_port(), free_port());
    let (na_port, nb_port) = (free_port(), free_port());
    let (a, mut da, ia) = node(&dir, "a", &text_a((pa, na_port, pb)), pa);
    let (b, mut db, ib) = node(&dir, "b", &text_b((pb, nb_port, pa)), pb);
    da.start().await.expect("start a");
    db.start().await.expect("start b");
    let driver = async move {
        let (mut a, mut b) = script(a, b).await;
        let _ = a.stop.take().map(|s| s.send(()));
        let _ = b.stop.take().map(|s| s.send(()));
        (a, b)
    };
    let (ra, rb, (a, b)) = tokio::join!(da.run(ia), db.run(ib), driver);
    ra.expect("daemon a");
    rb.expect("daemon b");
    // SIGTERM-equivalent shutdown removes everything.
    assert_eq!(
        (a.sas(), a.policies()),
        (0, 0),
        "a cleaned up: {:?}",
        a.kernel.state().log
    );
    assert_eq!((b.sas(), b.policies()), (0, 0), "b cleaned up");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn up_status_down() {
    let child_a = "start_action = \"none\"\nhw_offload = \"packet\"";
    run_pair("up", child_a, "", |a, b| async move {
        // Garbage on the IKE port is dropped without harm.
        let junk = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = a.ike_port;
        for d in [&b""[..], b"\x01", &[0u8; 27], &[0xffu8; 28], &[0x11u8; 300]] {
            junk.send_to(d, ("127.0.0.1", port)).expect("send junk");
        }
        assert!(a.status().await.ike_sas.is_empty());
        let r = a.req(RequestKind::Up { name: "b".into() }).await;
        assert!(r.ok, "{r:?}");
        wait_for("both children installed", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        let sa = a.status().await;
        let sb = b.status().await;
        assert_eq!(sa.ike_sas.len(), 1);
        let (ia, ib) = (&sa.ike_sas[0], &sb.ike_sas[0]);
        assert_eq!(ia.state, "established");
        assert!(ia.initiator && !ib.initiator, "{ia:?} {ib:?}");
        assert_eq!(
            (ia.spi_i.as_str(), ia.spi_r.as_str()),
            (ib.spi_i.as_str(), ib.spi_r.as_str())
        );
        assert_eq!(ia.remote_id, "gw-b.example");
        assert!(ia.algorithms.contains("AES_GCM_16"), "{}", ia.algorithms);
        let (ca, cb) = (&ia.children[0], &ib.children[0]);
        assert_eq!(ca.spi_in, cb.spi_out);
        assert_eq!(ca.spi_out, cb.spi_in);
        assert_eq!(ca.local_ts, vec!["192.168.1.0/24".to_string()]);
        assert_eq!(ca.cpu, None);
        assert!(!ca.per_cpu);
        assert_eq!(a.policies(), 3, "out, in, fwd");
        // Packet offload as read back: the SAs and the policies go to the device.
        assert_eq!(
            (ca.offload.as_str(), cb.offload.as_str()),
            ("packet", "none")
        );
        assert!(
            a.kernel
                .state()
                .policies
                .values()
                .all(|p| p.offload == Some(1))
        );
        // Without offload both SAs go in one pipelined batch, and the three
        // policies in another; an offload request goes through the ladder.
        {
            let (la, lb) = (&a.kernel.state().log, &b.kernel.state().log);
            assert!(lb.iter().any(|l| l == "add_sas 2"), "{lb:#?}");
            assert!(lb.iter().any(|l| l == "update_policies 3"), "{lb:#?}");
            assert!(!la.iter().any(|l| l.starts_with("add_sas")), "{la:#?}");
        }
        // Counters come from the kernel.
        {
            let mut st = a.kernel.state();
            for sa in st.sas.values_mut() {
                sa.counters.bytes = 1500;
                sa.counters.packets = 1;
            }
        }
        let s = a.status().await;
        assert_eq!(
            (
                s.ike_sas[0].children[0].bytes_in,
                s.ike_sas[0].children[0].packets_out
            ),
            (1500, 1)
        );
        // A second `up` is idempotent.
        assert!(
            a.req(RequestKind::Up { name: "b".into() })
                .await
                .message
                .expect("msg")
                .contains("already")
        );
        assert!(
            !a.req(RequestKind::Up {
                name: "nope".into()
            })
            .await
            .ok
        );

        let r = a.req(RequestKind::Down { name: "b".into() }).await;
        assert!(r.ok, "{r:?}");
        assert_eq!(
            (a.sas(), a.policies()),
            (0, 0),
            "down removes everything: {:?}",
            a.kernel.state().log
        );
        wait_for("peer removed its SAs after our Delete", || async {
            b.sas() == 0
        })
        .await;
        assert!(a.status().await.ike_sas.is_empty());
        (a, b)
    })
    .await;
}

/// A per-CPU acquire from the kernel for the policy template `reqid`.
fn cpu_acquire(reqid: u32, cpu: u32, seq: u32) -> KernelEvent {
    KernelEvent::Acquire {
        reqid,
        cpu: Some(cpu),
        seq,
        src: "127.0.0.1".parse().expect("ip"),
        dst: "127.0.0.1".parse().expect("ip"),
    }
}

#[tokio::test]
async fn trap_per_cpu_acquires_and_failure() {
    let per_cpu = "start_action = \"trap\"\nper_cpu_sas = \"yes\"";
    run_pair("pcpu", per_cpu, per_cpu, |a, b| async move {
        // Traps: out/in/fwd, CPU_ACQUIRE on out.
        assert_eq!(a.policies(), 3);
        let reqid = a.trap_reqid();
        let s = a.status().await;
        assert_eq!(s.traps.len(), 1);
        assert!(s.traps[0].per_cpu);

        // First acquire (from CPU 2): the fallback SA.
        let acq = |cpu, seq| cpu_acquire(reqid, cpu, seq);
        assert!(a.kernel.inject(acq(2, 10)));
        wait_for("fallback SA pair", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        // Acquires from CPUs 0 and 1: one SA pair each.
        assert!(a.kernel.inject(acq(0, 11)));
        wait_for("cpu 0 pair", || async { a.sas() == 4 && b.sas() == 4 }).await;
        assert!(a.kernel.inject(acq(1, 12)));
        wait_for("cpu 1 pair", || async { a.sas() == 6 && b.sas() == 6 }).await;

        let s = a.status().await;
        let children = &s.ike_sas[0].children;
        let cpus: Vec<Option<u32>> = children.iter().map(|c| c.cpu).collect();
        assert_eq!(cpus, vec![None, Some(0), Some(1)], "{children:#?}");
        assert!(children.iter().all(|c| c.per_cpu));
        assert_eq!(children[0].cpu_label(), "fallback");
        {
            let st = a.kernel.state();
            let pcpu: Vec<_> = st.sas.values().filter(|s| s.pcpu == Some(1)).collect();
            assert_eq!(pcpu.len(), 2, "both directions carry SA_PCPU");
            assert!(pcpu.iter().all(|s| s.dir.is_some()), "SA_PCPU needs SA_DIR");
            assert!(
                st.sas.values().any(|s| s.seq == 12),
                "the acquire's seq is reused"
            );
        }
        // The responder pins its own SAs and steers its inbound SPIs to them.
        let sb = b.status().await;
        let bound: Vec<_> = sb.ike_sas[0]
            .children
            .iter()
            .filter_map(|c| c.cpu.map(|cpu| (c.spi_in.clone(), cpu)))
            .collect();
        assert_eq!(bound.len(), 2);
        let map = b.steer.map();
        for (spi, cpu) in &bound {
            assert_eq!(
                map.get(&u32::from_str_radix(spi, 16).expect("hex")),
                Some(cpu),
                "{map:?}"
            );
        }

        // A failed install on the responder tears that child down on both sides.
        b.kernel.state().fail_next_add = Some("Invalid argument (test)".into());
        assert!(a.kernel.inject(acq(3, 13)));
        wait_for("cpu 3 child installed then removed", || async {
            a.kernel
                .state()
                .log
                .iter()
                .any(|l| l.contains("seq") || l.contains("cpu=Some(3)"))
        })
        .await;
        wait_for("failed child gone on both sides", || async {
            a.sas() == 6 && b.sas() == 6
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(a.sas(), 6, "{:?}", a.kernel.state().log);
        assert!(
            b.kernel.state().fail_next_add.is_none(),
            "the responder's install failed"
        );
        {
            let log = &a.kernel.state().log;
            let added = log
                .iter()
                .position(|l| l.starts_with("add_sa") && l.contains("cpu=Some(3)"))
                .expect("cpu 3 added on a");
            assert!(
                log[added..]
                    .iter()
                    .filter(|l| l.starts_with("delete_sa"))
                    .count()
                    >= 2,
                "{log:#?}"
            );
        }

        // Reload without the connection: it is torn down; with it again: traps come back.
        let text = std::fs::read_to_string(&a.cfg_path).expect("read");
        let stripped: String = text
            .split("[connections.b]")
            .next()
            .expect("head")
            .to_string()
            + "[secrets.ab]\nids = [\"gw-b.example\"]\nsecret = \"x\"\n";
        std::fs::write(&a.cfg_path, stripped).expect("write");
        let r = a.req(RequestKind::Reload).await;
        assert!(
            r.ok && r
                .message
                .as_deref()
                .is_some_and(|m| m.contains("1 removed")),
            "{r:?}"
        );
        assert_eq!((a.sas(), a.policies()), (0, 0));
        std::fs::write(&a.cfg_path, &text).expect("write back");
        a.reload.send(()).await.expect("sighup");
        wait_for("traps back after reload", || async { a.policies() == 3 }).await;
        let r = a.req(RequestKind::Reload).await;
        assert!(
            r.message
                .as_deref()
                .is_some_and(|m| m.contains("1 unchanged")),
            "{r:?}"
        );
        // A broken config is refused and the running one kept.
        std::fs::write(&a.cfg_path, "[daemon\n").expect("write broken");
        let r = a.req(RequestKind::Reload).await;
        assert!(
            !r.ok && r.error.as_deref().is_some_and(|e| e.contains(":1:")),
            "{r:?}"
        );
        assert_eq!(a.policies(), 3);
        (a, b)
    })
    .await;
}

/// The responder installs a Child SA before it answers: however slow its
/// kernel, the initiator's outbound SA never goes in before the responder's
/// inbound twin (the IKE_AUTH child and each per-CPU CREATE_CHILD_SA).
#[tokio::test]
async fn responder_installs_before_it_answers() {
    let per_cpu = "start_action = \"trap\"\nper_cpu_sas = \"yes\"";
    run_pair("order", per_cpu, per_cpu, |a, b| async move {
        {
            let mut st = a.kernel.state();
            st.peer = Some(b.kernel.clone());
        }
        b.kernel.state().install_delay = Some(Duration::from_millis(40));
        let reqid = a.trap_reqid();
        assert!(a.kernel.inject(cpu_acquire(reqid, 2, 10)));
        wait_for("fallback SA pair", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        for (cpu, seq) in [(0, 11), (1, 12)] {
            assert!(a.kernel.inject(cpu_acquire(reqid, cpu, seq)));
            let n = 4 + 2 * cpu as usize;
            wait_for("per-CPU pair", || async { a.sas() == n && b.sas() == n }).await;
        }
        {
            let st = a.kernel.state();
            let outbound = st
                .sas
                .values()
                .filter(|s| s.dir == Some(xfrm_offload::SaDir::Out))
                .count();
            assert_eq!(outbound, 3, "{:?}", st.log);
            assert!(
                st.out_before_peer_in.is_empty(),
                "outbound SAs installed before the responder's inbound: {:08x?}",
                st.out_before_peer_in
            );
            drop(st);
            a.kernel.state().peer = None;
        }
        (a, b)
    })
    .await;
}

/// RFC 9611 §4.2 as the initiator: the responder's cap answers TS_MAX_QUEUE;
/// the group's outbound policy then stops raising per-CPU acquires (so CPUs
/// without an SA use the fallback SA), and gets the flag back once an SA of
/// the group goes away and the group may grow again.
#[tokio::test]
async fn ts_max_queue_pauses_cpu_acquire_until_a_group_sa_goes() {
    let a_child = "start_action = \"trap\"\nper_cpu_sas = \"yes\"";
    let b_child = "start_action = \"trap\"\nper_cpu_sas = \"yes\"\nper_cpu_max = 1";
    run_pair("tsmq", a_child, b_child, |a, b| async move {
        let flagged = |n: &Node| {
            n.kernel
                .state()
                .policies
                .values()
                .filter(|p| p.cpu_acquire)
                .count()
        };
        let reqid = a.trap_reqid();
        let acq = |cpu, seq| cpu_acquire(reqid, cpu, seq);
        assert!(a.kernel.inject(acq(2, 20)));
        wait_for("fallback SA pair", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        assert!(a.kernel.inject(acq(0, 21)));
        wait_for("cpu 0 pair", || async { a.sas() == 4 && b.sas() == 4 }).await;
        assert_eq!(flagged(&a), 1);
        // B's cap is one per-CPU SA: CPU 1 is refused with TS_MAX_QUEUE.
        assert!(a.kernel.inject(acq(1, 22)));
        wait_for("CPU_ACQUIRE off on a's out policy", || async {
            flagged(&a) == 0
        })
        .await;
        assert_eq!((a.sas(), b.sas()), (4, 4), "the SAs a has stay");
        assert!(
            a.status().await.ike_sas[0]
                .children
                .iter()
                .all(|c| c.cpu != Some(1))
        );
        // A further acquire from the refused CPU asks for nothing.
        assert!(a.kernel.inject(acq(1, 23)));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!((a.sas(), b.sas()), (4, 4));
        // The CPU 0 SA expires on a: the group may grow again, the flag is back.
        let (spi, dst) = {
            let st = a.kernel.state();
            let sa = st
                .sas
                .values()
                .find(|s| s.pcpu == Some(0) && s.dir == Some(xfrm_offload::SaDir::Out))
                .expect("cpu 0 outbound SA");
            (sa.spi, sa.dst)
        };
        assert!(a.kernel.inject(KernelEvent::Expire {
            spi,
            dst,
            reqid,
            hard: true
        }));
        wait_for("CPU_ACQUIRE back", || async { flagged(&a) == 1 }).await;
        (a, b)
    })
    .await;
}

/// The established IKE SA of `n`: (initiator SPI, peer address).
async fn established(n: &Node) -> Option<(String, String)> {
    let st = n.status().await;
    st.ike_sas
        .iter()
        .find(|s| s.state == "established")
        .map(|s| (s.spi_i.clone(), s.remote.clone()))
}

#[tokio::test]
async fn failover_to_the_next_address_and_restart_after_the_peer_closes() {
    // A initiates at start-up; its first peer address never answers, so the
    // second attempt goes to the second one; when B closes the IKE SA, A's
    // close_action starts it again.
    let text_a = |ports: (u16, u16, u16)| {
        config(
            "a",
            "b",
            ports,
            "start_action = \"start\"\nclose_action = \"start\"",
        )
        .replace(
            "remote_addrs = [\"127.0.0.1\"]",
            "remote_addrs = [\"127.0.0.9\", \"127.0.0.1\"]\nkeyingtries = 0",
        )
        .replace(
            "ike_port = ",
            "retransmit_timeout = 0.2\nretransmit_tries = 1\nike_port = ",
        )
    };
    let text_b = |ports| config("b", "a", ports, "");
    run_texts("revive", text_a, text_b, |a, b| async move {
        let peer = format!("127.0.0.1:{}", b.ike_port);
        let t0 = std::time::Instant::now();
        wait_for("A up through the second address", || async {
            established(&a).await.is_some_and(|(_, r)| r == peer)
        })
        .await;
        // 127.0.0.9 first: 0.2 s + 0.4 s of retransmissions, then 1 s of backoff.
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(1200),
            "no failover: up after {took:?}"
        );
        let (spi, _) = established(&a).await.expect("established");
        wait_for("children installed", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        let r = b.req(RequestKind::Down { name: "a".into() }).await;
        assert!(r.ok, "{r:?}");
        wait_for("A back with a new IKE SA", || async {
            established(&a)
                .await
                .is_some_and(|(s, r)| s != spi && r == peer)
        })
        .await;
        wait_for("children installed again", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        (a, b)
    })
    .await;
}

#[tokio::test]
async fn reload_updates_in_place_without_touching_sas_and_replaces_on_new_selectors() {
    let child_a = "start_action = \"none\"\nrekey_time = \"1h\"";
    run_pair("reload-in-place", child_a, "", |a, b| async move {
        let r = a.req(RequestKind::Up { name: "b".into() }).await;
        assert!(r.ok, "{r:?}");
        wait_for("both children installed", || async {
            a.sas() == 2 && b.sas() == 2
        })
        .await;
        let spi = a.status().await.ike_sas[0].children[0].spi_in.clone();
        let text = std::fs::read_to_string(&a.cfg_path).expect("read");
        let changed = text
            .replace("rekey_time = \"1h\"", "rekey_time = \"50m\"")
            .replace("nat_port =", "max_initiating = 8\nnat_port =");
        std::fs::write(&a.cfg_path, &changed).expect("write");
        let dry = a.req(RequestKind::ReloadDryRun).await;
        let m = dry.message.clone().unwrap_or_default();
        assert!(
            m.contains("[daemon] max_initiating: applied live")
                && m.contains("connection b: updated in place")
                && m.contains("children.net.rekey_time"),
            "{dry:?}"
        );
        let log_len = a.kernel.state().log.len();
        let r = a.req(RequestKind::Reload).await;
        assert!(
            r.message
                .as_deref()
                .is_some_and(|m| m.contains("1 updated in place")),
            "{r:?}"
        );
        let s = a.status().await;
        assert_eq!(s.ike_sas.len(), 1, "the IKE SA stays");
        assert_eq!(s.ike_sas[0].children[0].spi_in, spi, "the Child SA stays");
        assert_eq!(a.sas(), 2);
        {
            let log = &a.kernel.state().log;
            assert!(
                !log[log_len..].iter().any(|l| l.starts_with("delete_")),
                "{:#?}",
                &log[log_len..]
            );
        }
        // New selectors invalidate the SAs: the connection is replaced.
        let moved = changed.replace(
            "remote_ts = [\"192.168.2.0/24\"]",
            "remote_ts = [\"192.168.9.0/24\"]",
        );
        std::fs::write(&a.cfg_path, moved).expect("write");
        let r = a.req(RequestKind::Reload).await;
        assert!(
            r.message
                .as_deref()
                .is_some_and(|m| m.contains("1 replaced")),
            "{r:?}"
        );
        assert_eq!(a.sas(), 0, "replaced: its SAs are gone");
        wait_for("peer removed its SAs after our Delete", || async {
            b.sas() == 0
        })
        .await;
        (a, b)
    })
    .await;
}

/// A second connection `ocsp` between the same daemons: A authenticates with
/// a certificate naming an OCSP responder, B with the PSK, and B wants a good
/// OCSP status (`revocation = "strict"`).
fn ocsp_conn(me: &str, peer_ike: u16, dir: &Path) -> String {
    let (auth_local, auth_remote, lts, rts) = if me == "a" {
        (
            format!(
                r#"{{ auth = "pubkey", id = "ocsp-a.example", certs = ["{d}/ee.pem"], key = "{d}/ee.key" }}"#,
                d = dir.display()
            ),
            r#"{ auth = "psk", id = "ocsp-b.example" }"#.to_string(),
            "10.1.0.0/24",
            "10.2.0.0/24",
        )
    } else {
        (
            r#"{ auth = "psk", id = "ocsp-b.example" }"#.to_string(),
            format!(
                r#"{{ auth = "pubkey", id = "ocsp-a.example", cacerts = ["{}/ca.pem"], revocation = "strict" }}"#,
                dir.display()
            ),
            "10.2.0.0/24",
            "10.1.0.0/24",
        )
    };
    format!(
        r#"
[connections.ocsp]
local_addrs = ["127.0.0.1"]
remote_addrs = ["127.0.0.1"]
remote_port = {peer_ike}
proposals = ["aes128gcm16-prfsha256-x25519"]
local = {auth_local}
remote = {auth_remote}

[connections.ocsp.children.net]
local_ts = ["{lts}"]
remote_ts = ["{rts}"]
esp_proposals = ["aes128gcm16"]

[secrets.ocsp]
ids = ["ocsp-a.example", "ocsp-b.example"]
secret = "loopback ocsp test secret"
"#
    )
}

/// While B waits 2 s for the OCSP responder about A's certificate, the other
/// tunnel's whole handshake runs through B's loop; the OCSP tunnel comes up
/// once the answer is in.
#[tokio::test]
async fn slow_ocsp_responder_does_not_hold_other_tunnels() {
    let delay = Duration::from_secs(2);
    let ocsp = common::ocsp::responder(delay).await;
    let pki = temp_dir("ocsp-pki");
    common::ocsp::write_pki(&pki, "ocsp-a.example", &ocsp.uri);
    let (dir_a, dir_b) = (pki.clone(), pki.clone());
    let text_a = move |ports: (u16, u16, u16)| {
        config("a", "b", ports, "start_action = \"none\"") + &ocsp_conn("a", ports.2, &dir_a)
    };
    let text_b = move |ports: (u16, u16, u16)| {
        config("b", "a", ports, "") + &ocsp_conn("b", ports.2, &dir_b)
    };
    let ocsp_ref = &ocsp;
    run_texts("ocsp", text_a, text_b, |a, b| async move {
        let slow = async {
            let r = a.req(RequestKind::Up { name: "ocsp".into() }).await;
            (r, std::time::Instant::now())
        };
        let other = async {
            wait_for("B asks the OCSP responder", || async {
                ocsp_ref.at(common::ocsp::Seen::Request).is_some()
            })
            .await;
            let r = a.req(RequestKind::Up { name: "b".into() }).await;
            (r, std::time::Instant::now())
        };
        let ((r_slow, slow_up), (r_other, other_up)) = tokio::join!(slow, other);
        assert!(r_slow.ok && r_other.ok, "{r_slow:?} {r_other:?}");
        let asked = ocsp_ref.at(common::ocsp::Seen::Request).expect("request");
        let answered = ocsp_ref.at(common::ocsp::Seen::Answer).expect("answer");
        assert!(
            asked < other_up && other_up < answered && answered <= slow_up,
            "the other tunnel came up {:?} after the OCSP request, the answer {:?} after it, the OCSP tunnel {:?} after it",
            other_up - asked,
            answered.saturating_duration_since(asked),
            slow_up.saturating_duration_since(asked)
        );
        let mut ids: Vec<String> = b.status().await.ike_sas.into_iter().map(|s| s.remote_id).collect();
        ids.sort();
        assert_eq!(ids, vec!["gw-a.example".to_string(), "ocsp-a.example".to_string()]);
        (a, b)
    })
    .await;
    let _ = std::fs::remove_dir_all(pki);
}
