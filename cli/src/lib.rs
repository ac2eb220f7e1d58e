//! The `lanes` binary as a library: argument parsing, configuration, the control
//! protocol, `lanes doctor` and the daemon, so each part is testable.

pub mod args;
pub mod config;
pub mod control;
pub mod daemon;
pub mod doctor;
pub mod import;
pub mod manual;
pub mod steer;

#[cfg(test)]
mod testutil;

use anyhow::{Result, bail};

use control::{Request, RequestKind};

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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::Up { name } => client_cmd(&args.socket, RequestKind::Up { name }),
        Command::Down { name } => client_cmd(&args.socket, RequestKind::Down { name }),
        Command::Reload => client_cmd(&args.socket, RequestKind::Reload),
        Command::Status { json } => {
            let resp = control::request(&args.socket, &Request::new(RequestKind::Status))?;
            let Some(report) = resp.status.filter(|_| resp.ok) else {
                bail!(
                    "{}",
                    resp.error
                        .unwrap_or_else(|| "the daemon sent no status".into())
                );
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            Ok(())
        }
        Command::Doctor {
            json,
            apply,
            interfaces,
        } => doctor::run(&args.config, &interfaces, json, apply),
        Command::ImportSwanctl {
            file,
            output,
            partial,
        } => import::run(file.as_deref(), output.as_deref(), partial),
        Command::Daemon { keep_kernel_state } => {
            daemon::run(&args.config, &args.socket, keep_kernel_state)
        }
    }
}

/// Sends one request and prints its answer; a failed request is an error exit.
fn client_cmd(socket: &std::path::Path, kind: RequestKind) -> Result<()> {
    let resp = control::request(socket, &Request::new(kind))?;
    if resp.ok {
        if let Some(m) = resp.message {
            println!("{m}");
        }
        Ok(())
    } else {
        bail!("{}", resp.error.unwrap_or_else(|| "request failed".into()))
    }
}
