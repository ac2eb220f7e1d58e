//! The `lanes` binary as a library: argument parsing, configuration, the control
//! protocol, `lanes doctor` and the daemon, so each part is testable.

pub mod args;
pub mod config;
pub mod steer;

#[cfg(test)]
mod testutil;

use anyhow::Result;

pub use args::{Args, Command};

/// Installs the tracing subscriber: stderr, level from `-v`/`-q`, `RUST_LOG` overrides.
pub fn init_logging(args: &Args) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::builder()
        .with_default_directive(args.log_level().into())
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the parsed command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Check => {
            let cfg = config::Config::load(&args.config)?;
            println!(
                "{}: ok ({} connection(s), {} child(ren))",
                args.config.display(),
                cfg.connections.len(),
                cfg.connections
                    .values()
                    .map(|c| c.children.len())
                    .sum::<usize>()
            );
            Ok(())
        }
        Command::Steer(cmd) => steer::run(cmd),
        _ => anyhow::bail!("not implemented yet"),
    }
}
