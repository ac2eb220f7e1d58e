//! `lanes steer ...`: attach/detach/bind/status of the XDP steering program
//! (crate `ebpf-steer`). Everything works without the daemon: the program
//! link and maps are pinned on bpffs, so each command opens them again.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ebpf_steer::{
    AttachOptions, Binding, Counter, DEFAULT_PIN_ROOT, DEFAULT_QUEUE_SIZE, Mode, PinRoot, Steering,
};
use std::net::IpAddr;
use std::path::PathBuf;

/// Where the program is pinned (shared by every subcommand).
#[derive(Clone, Debug, Args)]
pub struct Pins {
    /// bpffs folder holding the pinned link and maps.
    #[arg(long, default_value = DEFAULT_PIN_ROOT)]
    pub pin_root: PathBuf,
}

impl Pins {
    fn root(&self) -> PinRoot {
        PinRoot::new(&self.pin_root)
    }
}

/// `lanes steer` subcommands.
#[derive(Debug, Subcommand)]
pub enum SteerCmd {
    /// Attach the steering program to IFACE (or replace the one attached).
    Attach {
        /// The interface receiving ESP.
        iface: String,
        /// native (driver; falls back to skb if refused) or skb (generic).
        #[arg(long, default_value = "native")]
        mode: Mode,
        /// Frames queued per CPU in the cpumap.
        #[arg(long, default_value_t = DEFAULT_QUEUE_SIZE)]
        queue_size: u32,
        /// steer, or pass: a program that returns XDP_PASS for every frame
        /// (a measurement control: the cost of XDP being attached).
        #[arg(long, value_enum, default_value_t = Program::Steer)]
        program: Program,
        #[command(flatten)]
        pins: Pins,
    },
    /// Detach the steering program from IFACE (the last detach also drops the bindings).
    Detach {
        /// The interface.
        iface: String,
        #[command(flatten)]
        pins: Pins,
    },
    /// Attached interfaces, bindings and per-CPU counters.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pins: Pins,
    },
    /// Steer inbound ESP with SPI (to --dst, else any destination) to CPU.
    Bind {
        /// The inbound SA's SPI, hex (0x...) or decimal.
        #[arg(value_parser = parse_spi)]
        spi: u32,
        /// The CPU that owns the SA.
        cpu: u32,
        /// The local address the SA terminates on.
        #[arg(long)]
        dst: Option<IpAddr>,
        #[command(flatten)]
        pins: Pins,
    },
    /// Stop steering SPI (to --dst, else the any-destination binding).
    Unbind {
        /// The SPI, hex (0x...) or decimal.
        #[arg(value_parser = parse_spi)]
        spi: u32,
        /// The destination it was bound with.
        #[arg(long)]
        dst: Option<IpAddr>,
        #[command(flatten)]
        pins: Pins,
    },
}

/// The program `lanes steer attach` attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Program {
    /// The steering program.
    Steer,
    /// `XDP_PASS` only ([`ebpf_steer::FLOOR_PROGRAM`]).
    Pass,
}

/// An SPI in hex (`0x...`) or decimal.
fn parse_spi(s: &str) -> Result<u32, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    match v {
        Ok(0) => Err("SPI 0 is reserved (RFC 4303 §2.1)".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("not an SPI ({e}): use hex 0x... or decimal")),
    }
}

/// Runs a `lanes steer` subcommand (synchronous: plain bpf syscalls).
pub fn run(cmd: SteerCmd) -> Result<()> {
    match cmd {
        SteerCmd::Attach {
            iface,
            mode,
            queue_size,
            program,
            pins,
        } => {
            let opts = AttachOptions {
                mode,
                queue_size,
                pin_root: pins.root(),
            };
            let attach = match program {
                Program::Steer => Steering::attach,
                Program::Pass => Steering::attach_floor,
            };
            let (_steering, a) =
                attach(&iface, &opts).with_context(|| format!("lanes steer attach {iface}"))?;
            if let Some(why) = &a.fallback {
                println!("{iface}: native XDP refused ({why}); using skb mode");
            }
            let how = if a.replaced {
                "replaced program on"
            } else {
                "attached to"
            };
            println!(
                "{how} {iface} in {} mode (program id {}), pinned under {}",
                a.mode,
                a.program_id,
                pins.pin_root.display()
            );
            Ok(())
        }
        SteerCmd::Detach { iface, pins } => {
            if Steering::detach(&pins.root(), &iface)? {
                println!("detached from {iface}");
            } else {
                println!("{iface}: not attached");
            }
            Ok(())
        }
        SteerCmd::Bind {
            spi,
            cpu,
            dst,
            pins,
        } => {
            let b = Binding { spi, dst, cpu };
            Steering::open(&pins.root())?.bind(b)?;
            println!("bound {b}");
            Ok(())
        }
        SteerCmd::Unbind { spi, dst, pins } => {
            let dst_s = dst.map_or_else(|| "any".to_owned(), |d| d.to_string());
            if Steering::open(&pins.root())?.unbind(spi, dst)? {
                println!("unbound spi 0x{spi:08x} dst {dst_s}");
                Ok(())
            } else {
                anyhow::bail!("no binding for spi 0x{spi:08x} dst {dst_s}")
            }
        }
        SteerCmd::Status { json, pins } => status(&pins.root(), json),
    }
}

fn status(root: &PinRoot, json: bool) -> Result<()> {
    let ifaces = Steering::attached(root)?;
    let opened = match Steering::open(root) {
        Ok(s) => Some(s),
        Err(ebpf_steer::Error::NotAttached(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let (bindings, stats, cpus) = match &opened {
        Some(s) => (s.bindings()?, s.stats()?, s.cpus()),
        None => Default::default(),
    };
    if json {
        let v = serde_json::json!({
            "pin_root": root.path(),
            "attached": ifaces.iter().map(|a| serde_json::json!({
                "iface": a.iface, "mode": a.mode.as_str(),
                "program_id": a.program_id, "link_id": a.link_id,
            })).collect::<Vec<_>>(),
            "cpumap": cpus.iter().map(|(cpu, q)| serde_json::json!({"cpu": cpu, "queue_size": q}))
                .collect::<Vec<_>>(),
            "bindings": bindings.iter().map(|b| serde_json::json!({
                "spi": b.spi, "dst": b.dst.map(|d| d.to_string()), "cpu": b.cpu,
            })).collect::<Vec<_>>(),
            "counters": Counter::ALL.iter().map(|c| (c.name().to_owned(), serde_json::json!({
                "total": stats.total(*c),
                "per_cpu": stats.per_cpu.iter().map(|s| s.get(*c)).collect::<Vec<_>>(),
            }))).collect::<serde_json::Map<_, _>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if ifaces.is_empty() {
        println!("steering: not attached (lanes steer attach IFACE)");
    }
    for a in &ifaces {
        println!(
            "attached: {} mode {} program {} link {}",
            a.iface, a.mode, a.program_id, a.link_id
        );
    }
    if opened.is_none() {
        return Ok(());
    }
    let cpu_list: Vec<String> = cpus.iter().map(|(c, _)| c.to_string()).collect();
    let queue = cpus.first().map_or(0, |(_, q)| *q);
    println!("cpumap: cpus {} (queue {queue})", cpu_list.join(","));
    println!("bindings: {}", bindings.len());
    for b in &bindings {
        println!("  {b}");
    }
    print!("{:<20}", "counter");
    for s in &stats.per_cpu {
        print!(" {:>12}", format!("cpu{}", s.cpu));
    }
    println!(" {:>12}", "total");
    for c in Counter::ALL {
        print!("{:<20}", c.name());
        for s in &stats.per_cpu {
            print!(" {:>12}", s.get(c));
        }
        println!(" {:>12}", stats.total(c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spi_parses_hex_and_decimal() {
        assert_eq!(parse_spi("0xc0ffee01"), Ok(0xc0ff_ee01));
        assert_eq!(parse_spi("4096"), Ok(4096));
        assert!(parse_spi("0").is_err());
        assert!(parse_spi("0x").is_err());
        assert!(parse_spi("0x1_0000_0000").is_err());
    }
}
