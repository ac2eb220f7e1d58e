//! `lanes top`: every tunnel's Child SAs by CPU with packet and bit rates,
//! XDP redirects per CPU and the balance of decryption over CPUs, from the
//! daemon's status report once per interval. A terminal gets a live table;
//! anything else (a pipe, a file) gets plain lines.

mod plain;
mod rates;
mod tui;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

pub use plain::render as render_plain;
pub use rates::{Row, Sample, View, balance, rates};

/// Successive status reports turned into rates.
struct Feed {
    socket: PathBuf,
    origin: Instant,
    prev: Option<Sample>,
}

impl Feed {
    fn next(&mut self) -> Result<View> {
        let report = crate::control::status(&self.socket)?;
        // Offset by a second so the first sample's baseline lies before it.
        let cur = Sample::new(&report, self.origin.elapsed() + Duration::from_secs(1));
        let prev = self.prev.replace(cur.clone());
        Ok(rates(&prev.unwrap_or_else(|| cur.baseline()), &cur))
    }
}

/// Runs `lanes top`; `count` stops after that many intervals (plain output).
pub fn run(socket: &Path, interval: Duration, count: Option<u32>) -> Result<()> {
    if interval < Duration::from_millis(100) {
        anyhow::bail!("--interval must be at least 0.1 seconds");
    }
    let mut feed = Feed {
        socket: socket.to_path_buf(),
        origin: Instant::now(),
        prev: None,
    };
    // Fails early, with the control client's hint, when no daemon answers.
    feed.next()?;
    if std::io::stdout().is_terminal() && count.is_none() {
        return tui::run(|| feed.next(), interval);
    }
    let mut out = std::io::stdout().lock();
    for _ in 0..count.unwrap_or(u32::MAX) {
        std::thread::sleep(interval);
        let text = match feed.next() {
            Ok(v) => plain::render(&v),
            Err(e) => format!("daemon: {e:#}\n"),
        };
        let written = writeln!(out, "{text}").and_then(|()| out.flush());
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
    }
    Ok(())
}
