//! Command-line arguments (clap derive). Kept in the library so it is testable.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/lanes/lanes.toml";
/// Default control socket.
pub const DEFAULT_SOCKET: &str = "/run/lanes/lanes.sock";

/// lanes: multi-core IPsec for Linux (IKEv2 with RFC 9611 per-CPU Child SAs,
/// Linux XFRM per-CPU SAs, XDP steering).
#[derive(Debug, Parser)]
#[command(
    name = "lanes",
    version,
    about = "lanes: multi-core IPsec for Linux (IKEv2 with RFC 9611 per-CPU Child SAs, XFRM per-CPU SAs, XDP steering)",
    after_help = "Examples:\n  \
                  lanes --config /etc/lanes/lanes.toml check\n  \
                  lanes daemon                 (or: systemctl start lanes)\n  \
                  lanes up gw-b && lanes status\n  \
                  lanes doctor --apply",
    propagate_version = true
)]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Control socket of the daemon.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,

    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less log output (-q warnings, -qq errors only). RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub quiet: u8,

    /// Log line format on stderr (under systemd, text goes to the journal with fields).
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the IKE daemon in the foreground.
    Daemon {
        /// On exit, leave SAs, policies and steering in the kernel.
        #[arg(long)]
        keep_kernel_state: bool,
    },
    /// Validate the configuration file and exit.
    Check,
    /// Bring a connection up (initiate its IKE SA and Child SAs).
    Up {
        /// Connection name from the configuration.
        name: String,
    },
    /// Tear a connection down (delete its IKE SA, Child SAs and kernel state).
    Down {
        /// Connection name from the configuration.
        name: String,
    },
    /// Show IKE and Child SAs with kernel counters.
    Status {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Ask the daemon to reload its configuration (like SIGHUP).
    Reload {
        /// Print what would happen to each connection and `[daemon]` key; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Live view of every tunnel's Child SAs by CPU (q quits); plain lines
    /// when stdout is not a terminal.
    Top {
        /// Seconds between refreshes.
        #[arg(long, value_name = "SECS", default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes (plain lines).
        #[arg(long, value_name = "N")]
        count: Option<u32>,
    },
    /// XDP steering: attach, detach, bind and inspect.
    #[command(subcommand)]
    Steer(crate::steer::SteerCmd),
    /// Check the system for what lanes needs and how well it is tuned.
    Doctor {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
        /// Apply the fixes that are safe to apply automatically.
        #[arg(long)]
        apply: bool,
        /// Interfaces to inspect (default: the config's steer_interfaces, else all).
        #[arg(long = "interface", short = 'i', value_name = "IF")]
        interfaces: Vec<String>,
    },
    /// Convert a swanctl.conf (with its includes and secrets) to lanes' TOML.
    ImportSwanctl {
        /// The swanctl.conf to read [default: /etc/swanctl/swanctl.conf].
        file: Option<PathBuf>,
        /// Write the TOML here (a new file, mode 0600) instead of stdout.
        #[arg(long, short = 'o', value_name = "PATH")]
        output: Option<PathBuf>,
        /// Write what can be carried even when some settings cannot.
        #[arg(long)]
        partial: bool,
    },
}

impl Args {
    /// The default log level from `-v`/`-q`.
    pub fn log_level(&self) -> tracing::Level {
        match (self.verbose, self.quiet) {
            (0, 0) => tracing::Level::INFO,
            (1, _) => tracing::Level::DEBUG,
            (v, _) if v >= 2 => tracing::Level::TRACE,
            (_, 1) => tracing::Level::WARN,
            _ => tracing::Level::ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_globals() {
        let a = Args::try_parse_from(["lanes", "status", "--json"]).expect("parse");
        assert_eq!(a.config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(a.socket, PathBuf::from(DEFAULT_SOCKET));
        assert!(matches!(a.command, Command::Status { json: true }));
        let a = Args::try_parse_from(["lanes", "up", "dc-b", "--socket", "/tmp/s", "-vv"])
            .expect("parse");
        assert_eq!(a.socket, PathBuf::from("/tmp/s"));
        assert_eq!(a.log_level(), tracing::Level::TRACE);
        assert!(matches!(a.command, Command::Up { ref name } if name == "dc-b"));
    }

    #[test]
    fn daemon_flags_and_quiet() {
        let a = Args::try_parse_from([
            "lanes",
            "-q",
            "--config",
            "x.toml",
            "daemon",
            "--keep-kernel-state",
        ])
        .expect("parse");
        assert!(matches!(
            a.command,
            Command::Daemon {
                keep_kernel_state: true
            }
        ));
        assert_eq!(a.log_level(), tracing::Level::WARN);
        assert!(Args::try_parse_from(["lanes", "-v", "-q", "check"]).is_err());
        assert!(Args::try_parse_from(["lanes", "up"]).is_err());
    }

    #[test]
    fn top_and_log_format() {
        use crate::logging::LogFormat;
        let a = Args::try_parse_from(["lanes", "top"]).expect("parse");
        assert_eq!(a.log_format, LogFormat::Text);
        assert!(matches!(a.command, Command::Top { interval, count: None } if interval == 1.0));
        let a = Args::try_parse_from(["lanes", "--log-format", "json", "top", "--count", "2"])
            .expect("parse");
        assert_eq!(a.log_format, LogFormat::Json);
        assert!(matches!(a.command, Command::Top { count: Some(2), .. }));
        assert!(Args::try_parse_from(["lanes", "--log-format", "xml", "check"]).is_err());
    }
}
