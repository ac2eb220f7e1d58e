//! The `lanes` binary as a library: argument parsing, configuration, the control
//! protocol, `lanes doctor` and the daemon, so each part is testable.

pub mod args;
pub mod check;
pub mod config;
pub mod control;
pub mod daemon;
pub mod doctor;
pub mod import;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod steer;
pub mod top;

#[cfg(test)]
mod testutil;

use anyhow::{Result, bail};

use control::{Request, RequestKind};

pub use args::{Args, Command};

/// Installs the tracing subscriber (see [`logging`]).
pub fn init_logging(args: &Args) {
    logging::init(args.log_level(), args.log_format);
}

/// Runs the parsed command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Check => {
            let cfg = config::Config::load(&args.config)?;
            let report = check::certificates(&cfg, check::unix_now());
            for line in &report.lines {
                println!("{line}");
            }
            if !report.errors.is_empty() {
                bail!("{}", report.errors.join("\n"));
            }
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
        Command::Reload { dry_run: false } => client_cmd(&args.socket, RequestKind::Reload),
        Command::Reload { dry_run: true } => client_cmd(&args.socket, RequestKind::ReloadDryRun),
        Command::Status { json } => {
            let report = control::status(&args.socket)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            Ok(())
        }
        Command::Top { interval, count } => {
            let interval = std::time::Duration::try_from_secs_f64(interval)
                .map_err(|_| anyhow::anyhow!("--interval must be a positive number of seconds"))?;
            top::run(&args.socket, interval, count)
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
