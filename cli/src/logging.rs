//! Log output: text or JSON lines on stderr, or the systemd journal's
//! native protocol when systemd connected stderr to the journal.
//!
//! Under systemd (`JOURNAL_STREAM` names stderr, systemd.exec(5)) text logs
//! go to journald as structured entries: event fields become journal fields
//! (`CONNECTION`, `CHILD`, `CPU`, `IKE_SA`, ...) and journald keeps its own
//! timestamp, so lines carry no second one.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the journal's fields under systemd).
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// Where and how log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Text on stderr; colours only on a terminal.
    Text {
        /// ANSI colours.
        ansi: bool,
    },
    /// JSON lines on stderr.
    Json,
    /// journald's native protocol (falls back to text without timestamps).
    Journald,
}

/// Picks the output: `journal_stream` is `$JOURNAL_STREAM` ("DEVICE:INODE"),
/// `stderr_id` stderr's (device, inode); they match when systemd gave stderr
/// to the journal and no one redirected it since.
pub fn choose(
    format: LogFormat,
    journal_stream: Option<&str>,
    stderr_id: Option<(u64, u64)>,
    stderr_tty: bool,
) -> Output {
    if format == LogFormat::Json {
        return Output::Json;
    }
    let journal = journal_stream
        .and_then(|v| v.split_once(':'))
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)));
    match (journal, stderr_id) {
        (Some(j), Some(s)) if j == s => Output::Journald,
        _ => Output::Text { ansi: stderr_tty },
    }
}

/// stderr's (device, inode).
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// A JSON-lines layer writing to `w`.
pub fn json_layer<S, W>(w: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(w)
}

/// Fields under their own names (`CONNECTION`, not the crate's default
/// `F_CONNECTION`) and syslog priorities as systemd and syslog(3) use them:
/// info 6, debug and trace 7 (sd-daemon(3)).
fn journal_fields(j: tracing_journald::Layer) -> tracing_journald::Layer {
    use tracing_journald::{Priority, PriorityMappings};
    j.with_syslog_identifier("lanes".into())
        .with_field_prefix(None)
        .with_priority_mappings(PriorityMappings {
            info: Priority::Informational,
            debug: Priority::Debug,
            ..PriorityMappings::new()
        })
}

/// Installs the subscriber: level from `-v`/`-q`, `RUST_LOG` overrides.
pub fn init(level: tracing::Level, format: LogFormat) {
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let journal = std::env::var("JOURNAL_STREAM").ok();
    let out = choose(
        format,
        journal.as_deref(),
        stderr_id(),
        std::io::stderr().is_terminal(),
    );
    let reg = tracing_subscriber::registry().with(filter);
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match out {
        Output::Json => reg.with(json_layer(std::io::stderr)).try_init(),
        Output::Text { ansi } => reg.with(text.with_ansi(ansi)).try_init(),
        Output::Journald => match tracing_journald::layer() {
            Ok(j) => reg.with(journal_fields(j)).try_init(),
            // No journald socket: plain lines; journald adds the time.
            Err(_) => reg.with(text.with_ansi(false).without_time()).try_init(),
        },
    };
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn format_selection() {
        let tty = |ansi| Output::Text { ansi };
        assert_eq!(choose(LogFormat::Text, None, Some((1, 2)), true), tty(true));
        assert_eq!(
            choose(LogFormat::Text, Some("1:2"), Some((1, 2)), false),
            Output::Journald
        );
        // stderr was redirected after systemd started us: not the journal.
        assert_eq!(
            choose(LogFormat::Text, Some("1:2"), Some((1, 3)), false),
            tty(false)
        );
        assert_eq!(
            choose(LogFormat::Text, Some("junk"), Some((1, 2)), false),
            tty(false)
        );
        assert_eq!(
            choose(LogFormat::Json, Some("1:2"), Some((1, 2)), false),
            Output::Json
        );
        assert_eq!(choose(LogFormat::Json, None, None, true), Output::Json);
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_line_has_the_fields_at_top_level() {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::registry().with(json_layer(move || w.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                connection = "gw-b",
                ike_sa = "0011223344556677",
                child = "net",
                cpu = 3,
                "Child SA installed"
            );
        });
        let bytes = buf.0.lock().expect("lock").clone();
        let text = String::from_utf8(bytes).expect("utf8");
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON object");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "Child SA installed");
        assert_eq!(v["connection"], "gw-b");
        assert_eq!(v["ike_sa"], "0011223344556677");
        assert_eq!(v["child"], "net");
        assert_eq!(v["cpu"], 3);
        assert!(v["timestamp"].is_string(), "{v}");
    }
}
