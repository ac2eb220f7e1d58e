//! Booting the guest and running one command in it.
//!
//! Serial ports: ttyS0 is the console (kept in `console.log`), ttyS1 the
//! command's stdout, ttyS2 its stderr, ttyS3 the exit line `LANES-EXIT <n>`
//! written by the guest init before it powers off. A run without an exit
//! line (kernel crash, hang, timeout) shows the console tail and is retried
//! once (ENVIRONMENT.md §2: TCG boots rarely die early).

use super::{BootArgs, host, image, payload};
use crate::util;
use anyhow::{Context, Result, bail};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds a guest may take from QEMU start to running the command.
const START_LIMIT_S: u64 = 240;

/// What a finished run returns.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The run folder (console.log, stdout.log, stderr.log).
    pub dir: PathBuf,
    pub secs: f64,
    /// Set when the guest never wrote its exit line (the command hung past
    /// the limit, or the guest died while it ran): why. `code` is then -1
    /// and stdout/stderr hold what came out before.
    pub lost: Option<String>,
}

/// The exit code reported for a lost guest.
pub const LOST: i32 = -1;

/// One boot's outcome.
enum Attempt {
    Done(RunResult),
    /// No exit line: why, whether the command had started and timed out,
    /// and what it printed.
    Lost {
        why: String,
        hung: bool,
        partial: RunResult,
    },
}

/// How the payload is made for a run.
pub struct Plan<'a> {
    pub boot: &'a BootArgs,
    /// The guest command, a shell script body.
    pub script: String,
    /// Echo the guest's stdout/stderr while it runs.
    pub stream: bool,
}

/// `cargo xtask vm run -- CMD...`: one word is a shell command line,
/// several are quoted as argv.
pub fn run_command(boot: &BootArgs, cmd: &[String]) -> Result<RunResult> {
    let script = match cmd {
        [one] => one.clone(),
        many => many
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    };
    run(&Plan {
        boot,
        script: format!("{script}\n"),
        stream: true,
    })
}

/// Quotes a word for `sh`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Builds the image (if needed) and the payload, boots, and returns the
/// command's result; retries once when the guest is lost.
pub fn run(plan: &Plan<'_>) -> Result<RunResult> {
    let img = image::ensure(plan.boot.variant, false)?;
    let runs = util::cache_dir().join("vm/runs");
    std::fs::create_dir_all(&runs)?;
    let id = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        std::process::id()
    );
    let dir = runs.join(&id);
    std::fs::create_dir_all(&dir)?;
    prune_runs(&runs, 20);
    let tar = dir.join("payload.tar");
    let spec = payload::Spec {
        build: !plan.boot.no_build,
        release: plan.boot.release,
        cmd: plan.script.clone(),
    };
    let size = payload::build(&spec, &dir.join("stage"), &tar)?;
    eprintln!("vm: payload {} KiB", size >> 10);
    let accel = accel(&img);
    for attempt in 1..=2 {
        let adir = dir.join(format!("try{attempt}"));
        std::fs::create_dir_all(&adir)?;
        match boot(&img, plan, &tar, &adir, accel)? {
            Attempt::Done(r) => return Ok(r),
            Attempt::Lost { why, hung, partial } => {
                let d = &partial.dir;
                eprintln!(
                    "vm: guest lost ({why}); console tail ({}):",
                    d.join("console.log").display()
                );
                eprintln!("{}", tail(&d.join("console.log"), 40));
                // A command that ran past its limit would hang again: keep
                // what it printed. A crashed or unstarted guest is retried.
                if hung || attempt == 2 {
                    return Ok(partial);
                }
                eprintln!("vm: retrying once");
            }
        }
    }
    bail!(
        "the guest was lost twice; see the console logs under {}",
        dir.display()
    )
}

/// Keeps the newest `keep` run folders, never removing one touched in the
/// last two hours (another run may still be writing it).
fn prune_runs(runs: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(runs) else {
        return;
    };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    v.sort();
    if v.len() > keep {
        let old = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(7200))
        };
        for p in &v[..v.len() - keep] {
            if old(p) {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
}

/// The accelerator: KVM only where a probe boot works, else TCG.
fn accel(img: &image::Image) -> Accel {
    let kvm = host::kvm_usable(|| {
        // Per process: the VM tier boots two guests side by side.
        let dir = util::cache_dir().join(format!("vm/kvm-probe-{}.d", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let tar = dir.join("p.tar");
        let spec = payload::Spec {
            build: false,
            release: false,
            cmd: "true\n".into(),
        };
        payload::build(&spec, &dir.join("stage"), &tar)?;
        // Under KVM this boot is done in a few seconds; where nested KVM
        // hangs (no console output at all), waiting longer only costs time.
        let boot = BootArgs {
            timeout: 15,
            ..BootArgs::default()
        };
        let plan = Plan {
            boot: &boot,
            script: String::new(),
            stream: false,
        };
        eprintln!("vm: probing KVM (one short boot)");
        let ok = matches!(boot_raw(img, &plan, &tar, &dir, Accel::Kvm), Ok(Attempt::Done(r)) if r.code == 0);
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "vm: KVM {}",
            if ok {
                "works, using it"
            } else {
                "unusable here, using TCG"
            }
        );
        Ok(ok)
    });
    if kvm { Accel::Kvm } else { Accel::Tcg }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    fn name(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        }
    }
}

fn boot(
    img: &image::Image,
    plan: &Plan<'_>,
    tar: &Path,
    dir: &Path,
    accel: Accel,
) -> Result<Attempt> {
    boot_raw(img, plan, tar, dir, accel)
}

fn boot_raw(
    img: &image::Image,
    plan: &Plan<'_>,
    tar: &Path,
    dir: &Path,
    accel: Accel,
) -> Result<Attempt> {
    let (qemu, firmware) = host::qemu()?;
    let b = plan.boot;
    let f = |n: &str| dir.join(n);
    for n in ["console.log", "stdout.log", "stderr.log", "status.log"] {
        std::fs::write(f(n), b"")?;
    }
    let mut cmd = Command::new(qemu);
    for fw in firmware {
        cmd.arg("-L").arg(fw);
    }
    cmd.args(["-machine", "q35", "-nodefaults", "-no-user-config"]);
    match accel {
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => cmd.args(["-accel", "tcg,thread=multi", "-cpu", "max"]),
    };
    cmd.arg("-smp").arg(b.cpus.to_string());
    cmd.arg("-m").arg(format!("{}M", b.mem));
    cmd.args([
        "-nic",
        "none",
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
    ]);
    cmd.arg("-drive").arg(format!(
        "file={},format=raw,if=none,id=root,snapshot=on",
        img.disk.display()
    ));
    cmd.args(["-device", "nvme,drive=root,serial=lanesroot"]);
    cmd.arg("-kernel").arg(&img.kernel);
    // lanes.accel and lanes.host_cpus tell the guest's scripts what their
    // vCPUs are (the demo and the testbed report say what limits them).
    cmd.arg("-append").arg(format!(
        "console=ttyS0 root=/dev/nvme0n1 rw rootwait init=/sbin/lanes-init panic=-1 \
         loglevel=4 8250.nr_uarts=4 mitigations=off lanes.accel={} lanes.host_cpus={}",
        accel.name(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    ));
    for n in ["console.log", "stdout.log", "stderr.log", "status.log"] {
        cmd.arg("-serial").arg(format!("file:{}", f(n).display()));
    }
    // The payload: a raw tar as a read-only virtio disk (see guest/init).
    cmd.arg("-drive").arg(format!(
        "file={},format=raw,if=none,id=payload,readonly=on",
        tar.display()
    ));
    cmd.args(["-device", "virtio-blk-pci,drive=payload"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    std::fs::write(f("qemu.cmd"), util::show(&cmd))?;
    let t0 = Instant::now();
    let mut child = cmd.spawn().context("starting QEMU")?;
    let limit = Duration::from_secs(b.timeout);
    let mut out = Tail::new(f("stdout.log"));
    let mut err = Tail::new(f("stderr.log"));
    // A guest that has not started the command by then is lost (early
    // crash or hang): no need to wait for the whole time limit.
    let start_limit = Duration::from_secs(START_LIMIT_S.min(b.timeout));
    let mut started = false;
    let mut why_lost = None;
    let timed_out = loop {
        if plan.stream {
            out.pump(&mut std::io::stdout());
            err.pump(&mut std::io::stderr());
        }
        if child.try_wait()?.is_some() {
            break false;
        }
        if !started {
            started = std::fs::read_to_string(f("console.log"))
                .is_ok_and(|c| c.contains("lanes-init: running"));
            if !started && t0.elapsed() > start_limit {
                kill(&mut child);
                why_lost = Some(format!(
                    "the guest did not start the command within {START_LIMIT_S} s"
                ));
                break false;
            }
        }
        if t0.elapsed() > limit {
            kill(&mut child);
            break true;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if plan.stream {
        out.pump(&mut std::io::stdout());
        err.pump(&mut std::io::stderr());
    }
    let mut qerr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut qerr);
    }
    let secs = t0.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(f("status.log")).unwrap_or_default();
    let code = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("LANES-EXIT "))
        .and_then(|c| c.trim().parse::<i32>().ok());
    let mut res = RunResult {
        code: code.unwrap_or(LOST),
        stdout: String::from_utf8_lossy(&std::fs::read(f("stdout.log"))?).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(f("stderr.log"))?).into_owned(),
        dir: dir.to_path_buf(),
        secs,
        lost: None,
    };
    match code {
        Some(_) => Ok(Attempt::Done(res)),
        None => {
            let why = if let Some(w) = why_lost {
                w
            } else if timed_out {
                format!("no exit line after the {} s limit", b.timeout)
            } else if !qerr.trim().is_empty() {
                format!("QEMU: {}", qerr.trim())
            } else {
                "no exit line: the guest crashed or powered off early".into()
            };
            res.lost = Some(why.clone());
            Ok(Attempt::Lost {
                why,
                hung: timed_out && started,
                partial: res,
            })
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Follows a growing file and copies new bytes to a writer.
struct Tail {
    path: PathBuf,
    pos: u64,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self { path, pos: 0 }
    }

    fn pump(&mut self, w: &mut dyn Write) {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_ok() && !buf.is_empty() {
            self.pos += buf.len() as u64;
            let _ = w.write_all(&buf);
            let _ = w.flush();
        }
    }
}

/// The last `n` lines of a file.
pub fn tail(p: &Path, n: usize) -> String {
    let s = std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
