//! The control protocol over a real unix socket in a temp directory (no root).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use lanes_cli::control::{self, Request, RequestKind, Response, StatusReport};
use tokio::sync::mpsc;

fn temp_socket(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lanes-ctl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("sub").join("lanes.sock")
}

/// Starts a server whose "daemon" answers up/down/status/reload from a fixed table.
fn start(path: &std::path::Path) -> std::thread::JoinHandle<()> {
    let listener_path = path.to_path_buf();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = control::bind(&listener_path).expect("bind");
            let (tx, mut rx) = mpsc::channel::<control::ControlRequest>(8);
            tokio::spawn(control::serve(listener, tx));
            ready_tx.send(()).expect("ready");
            while let Some(req) = rx.recv().await {
                let resp = match req.request.kind {
                    RequestKind::Up { name } if name == "dc-b" => Response::ok("initiating dc-b"),
                    RequestKind::Up { name } | RequestKind::Down { name } => {
                        Response::error(format!("no connection named {name:?}"))
                    }
                    RequestKind::Status => Response::status(StatusReport {
                        daemon_version: "test".into(),
                        connections: vec!["dc-b".into()],
                        ..Default::default()
                    }),
                    RequestKind::Reload => Response::ok("reloaded"),
                    RequestKind::ReloadDryRun => Response::ok("dry run"),
                };
                let _ = req.reply.send(resp);
            }
        });
    });
    ready_rx.recv().expect("server ready");
    h
}

#[test]
fn requests_errors_and_permissions() {
    let path = temp_socket("a");
    let server = start(&path);

    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    let up = control::request(
        &path,
        &Request::new(RequestKind::Up {
            name: "dc-b".into(),
        }),
    )
    .expect("up");
    assert!(
        up.ok && up.message.as_deref() == Some("initiating dc-b"),
        "{up:?}"
    );
    let down = control::request(
        &path,
        &Request::new(RequestKind::Down {
            name: "nope".into(),
        }),
    )
    .expect("down");
    assert!(
        !down.ok && down.error.as_deref().is_some_and(|e| e.contains("nope")),
        "{down:?}"
    );

    // Garbage, wrong version and unknown commands get errors on the same connection.
    let mut s = UnixStream::connect(&path).expect("connect");
    s.write_all(b"this is not json\n{\"version\":99,\"command\":\"status\"}\n{\"version\":1,\"command\":\"explode\"}\n")
        .expect("write");
    let mut rd = BufReader::new(s.try_clone().expect("clone"));
    for want in [
        "bad request",
        "unsupported protocol version 99",
        "bad request",
    ] {
        let mut line = String::new();
        rd.read_line(&mut line).expect("read");
        let r: Response = serde_json::from_str(&line).expect("json");
        assert!(
            !r.ok && r.error.as_deref().is_some_and(|e| e.contains(want)),
            "{want}: {line}"
        );
    }
    // ...and the connection still works afterwards.
    s.write_all(b"{\"version\":1,\"command\":\"status\"}\n")
        .expect("write");
    let mut line = String::new();
    rd.read_line(&mut line).expect("read");
    let r: Response = serde_json::from_str(&line).expect("json");
    assert_eq!(
        r.status.expect("status").connections,
        vec!["dc-b".to_string()]
    );

    let r = control::request(&path, &Request::new(RequestKind::Reload)).expect("reload");
    assert!(r.ok);
    drop(server); // the server thread ends with the test process
    let _ = std::fs::remove_dir_all(path.parent().and_then(|p| p.parent()).expect("dir"));
}

#[test]
fn oversized_line_is_refused_and_second_daemon_refused() {
    let path = temp_socket("b");
    let _server = start(&path);
    let mut s = UnixStream::connect(&path).expect("connect");
    let big = vec![b'x'; control::MAX_LINE + 10];
    let _ = s.write_all(&big);
    let _ = s.write_all(b"\n");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("read");
    assert!(line.contains("longer than"), "{line}");

    // A second daemon on the same socket must refuse rather than steal it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let err = rt
        .block_on(async { control::bind(&path).map(|_| ()) })
        .expect_err("in use");
    assert!(err.to_string().contains("another lanes daemon"), "{err}");
}

#[test]
fn client_reports_missing_daemon() {
    let path = temp_socket("c");
    let err = control::request(&path, &Request::new(RequestKind::Status)).expect_err("no daemon");
    assert!(
        format!("{err:#}").contains("is `lanes daemon` running"),
        "{err:#}"
    );
}
