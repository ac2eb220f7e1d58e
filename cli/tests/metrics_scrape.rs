//! `GET /metrics` of a daemon with a fake kernel, scraped over loopback TCP
//! by a plain HTTP/1.1 client while a second daemon negotiates with it (no
//! root): values follow `lanes up`, kernel counters and `lanes down`, and the
//! series of a deleted Child SA disappear.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use lanes_cli::control::RequestKind;
use lanes_cli::metrics::{self, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::{Node, config, free_port, node};

/// A second connection of `a` to `b` whose child `b` refuses with
/// TS_UNACCEPTABLE (b has no child for 10.99.0.0/16).
fn refused(peer_ike: u16) -> String {
    format!(
        r#"
[connections.c]
local_addrs = ["127.0.0.1"]
remote_addrs = ["127.0.0.1"]
remote_port = {peer_ike}
proposals = ["aes128gcm16-prfsha256-x25519"]
local = {{ auth = "psk", id = "gw-a.example" }}
remote = {{ auth = "psk", id = "gw-b.example" }}

[connections.c.children.wide]
local_ts = ["192.168.1.0/24"]
remote_ts = ["10.99.0.0/16"]
esp_proposals = ["aes128gcm16"]
"#
    )
}

/// One HTTP/1.1 request; returns (status line, headers and body).
async fn http(addr: SocketAddr, request: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    (head.to_string(), body.to_string())
}

/// Scrapes and parses the exposition: `name{labels}` → value.
async fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (head, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: lanes\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics ends with # EOF:\n{body}"
    );
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value in {line:?}"));
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "duplicate {series}"
        );
    }
    out
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no {series} in {:#?}", m.keys().collect::<Vec<_>>()))
}

const BYTES_IN: &str =
    r#"lanes_child_sa_bytes_total{connection="b",child="net",cpu="none",direction="in"}"#;

async fn script(addr: SocketAddr, a: &Node) {
    let m = scrape(addr).await;
    assert_eq!(get(&m, r#"lanes_ike_sas{state="established"}"#), 0.0);
    assert_eq!(get(&m, "lanes_ike_half_open_sas"), 0.0);
    assert_eq!(get(&m, "lanes_ike_cookies_sent_total"), 0.0);
    assert!(!m.contains_key(BYTES_IN));
    let r = a.req(RequestKind::Up { name: "b".into() }).await;
    assert!(r.ok, "{r:?}");
    for _ in 0..500 {
        if a.kernel.state().sas.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for sa in a.kernel.state().sas.values_mut() {
        sa.counters.bytes = 4200;
        sa.counters.packets = 42;
        sa.counters.replay_failures = 3;
        sa.counters.integrity_failures = 1;
    }
    let m = scrape(addr).await;
    assert_eq!(get(&m, r#"lanes_ike_sas{state="established"}"#), 1.0);
    assert_eq!(
        get(&m, r#"lanes_ike_sa_events_total{event="established"}"#),
        1.0
    );
    assert_eq!(
        get(&m, r#"lanes_child_sa_events_total{event="established"}"#),
        1.0
    );
    assert_eq!(get(&m, BYTES_IN), 4200.0);
    let pk =
        r#"lanes_child_sa_packets_total{connection="b",child="net",cpu="none",direction="out"}"#;
    assert_eq!(get(&m, pk), 42.0);
    assert_eq!(
        get(
            &m,
            r#"lanes_cpu_esp_bytes_total{cpu="none",direction="in"}"#
        ),
        4200.0
    );
    let child = r#"{connection="b",child="net",cpu="none"}"#;
    assert_eq!(
        get(&m, &format!("lanes_child_sa_replay_failures_total{child}")),
        3.0
    );
    assert_eq!(
        get(
            &m,
            &format!("lanes_child_sa_integrity_failures_total{child}")
        ),
        1.0
    );
    let mode = r#"lanes_child_sa_offload_mode{connection="b",child="net",cpu="none",mode="none"}"#;
    assert_eq!(get(&m, mode), 1.0);
    assert_eq!(get(&m, r#"lanes_sa_installs_total{result="ok"}"#), 2.0);
    for x in ["IKE_SA_INIT", "IKE_AUTH"] {
        let s = format!(r#"lanes_ike_exchanges_total{{exchange="{x}",initiator="local"}}"#);
        assert_eq!(get(&m, &s), 1.0, "{s}");
    }
    assert!(get(&m, "lanes_sa_install_duration_seconds_count") >= 1.0);
    let r = a.req(RequestKind::Down { name: "b".into() }).await;
    assert!(r.ok, "{r:?}");
    let m = scrape(addr).await;
    assert_eq!(get(&m, r#"lanes_ike_sas{state="established"}"#), 0.0);
    assert!(
        !m.contains_key(BYTES_IN),
        "series of a deleted SA are dropped"
    );
    assert!(!m.keys().any(|k| k.contains(r#"child="net""#)), "{m:#?}");
    assert_eq!(
        get(&m, r#"lanes_child_sa_events_total{event="established"}"#),
        1.0
    );
    let informational = r#"lanes_ike_exchanges_total{exchange="INFORMATIONAL",initiator="local"}"#;
    assert_eq!(get(&m, informational), 1.0, "the Delete of lanes down");
    exchange_failure(addr, a).await;
    // Only GET /metrics is served.
    let (head, _) = http(addr, "GET / HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = http(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 405") && head.contains("Allow: GET"),
        "{head}"
    );
    // Headers past the 8 KiB limit (all of them read, so the close is clean).
    let big = format!("GET /metrics HTTP/1.1\r\nX: {}", "x".repeat(8200));
    let (head, _) = http(addr, &big).await;
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
}

/// `lanes up c`: b answers IKE_AUTH with TS_UNACCEPTABLE for the child.
async fn exchange_failure(addr: SocketAddr, a: &Node) {
    let failed = r#"lanes_ike_exchange_failures_total{exchange="IKE_AUTH",initiator="local",reason="TS_UNACCEPTABLE"}"#;
    assert!(!scrape(addr).await.contains_key(failed));
    let r = a.req(RequestKind::Up { name: "c".into() }).await;
    assert!(r.ok, "{r:?}");
    for _ in 0..500 {
        let m = scrape(addr).await;
        if m.contains_key(failed) {
            assert_eq!(get(&m, failed), 1.0);
            let auth = r#"lanes_ike_exchanges_total{exchange="IKE_AUTH",initiator="local"}"#;
            assert_eq!(get(&m, auth), 2.0);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {failed} in {:#?}", scrape(addr).await);
}

#[tokio::test]
async fn scrape_follows_sa_lifecycle() {
    let dir = common::temp_dir("metrics");
    let (pa, pb) = (free_port(), free_port());
    let metrics = r#"metrics_listen = "127.0.0.1:0""#;
    let a_text = config("a", "b", (pa, free_port(), pb), metrics, "") + &refused(pb);
    let (mut a, mut da, ia) = node(&dir, "a", &a_text, pa, 2);
    let b_text = config("b", "a", (pb, free_port(), pa), metrics, "");
    let (mut b, mut db, ib) = node(&dir, "b", &b_text, pb, 2);
    da.start().await.expect("start a");
    db.start().await.expect("start b");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let addr = metrics::spawn(listen, a.ctl.clone(), da.metrics(), Limits::default())
        .await
        .expect("metrics server");
    let driver = async move {
        script(addr, &a).await;
        a.stop();
        b.stop();
    };
    let (ra, rb, ()) = tokio::join!(da.run(ia), db.run(ib), driver);
    ra.expect("daemon a");
    rb.expect("daemon b");
    let _ = std::fs::remove_dir_all(dir);
}
