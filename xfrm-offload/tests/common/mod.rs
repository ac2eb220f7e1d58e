//! Shared helpers for the privileged tests: gates and a fresh network
//! namespace per test.

#![allow(dead_code, clippy::print_stdout)]

use std::future::Future;
use std::net::IpAddr;
use std::process::Command;

/// True when `var` is "1"; otherwise prints why the test is skipped.
pub fn gate(var: &str, test: &str) -> bool {
    if std::env::var(var).as_deref() == Ok("1") {
        return true;
    }
    println!("skipped {test}: set {var}=1 (needs root)");
    false
}

/// Runs `f` on a thread that has unshared into a fresh network namespace
/// (namespaces are per thread; sockets and child processes created on it
/// live there), on a current-thread tokio runtime.
pub fn in_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let h = std::thread::spawn(move || {
        // SAFETY: unshare(2) affects only this thread's namespace set.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        sh("ip link set lo up");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    });
    if let Err(p) = h.join() {
        std::panic::resume_unwind(p);
    }
}

/// Runs a shell command (in the caller thread's namespace) and asserts success.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}
