//! `lanes`: multi-core IPsec for Linux.
//!
//! ```text
//! lanes [--config PATH] [--socket PATH] [-v|-q] [--log-format text|json] <COMMAND>
//!   daemon [--keep-kernel-state]   run the IKE daemon in the foreground
//!   check                          validate the configuration
//!   up NAME | down NAME            bring a connection up / tear it down
//!   status [--json]                IKE and Child SAs with kernel counters
//!   reload                         reload the configuration (like SIGHUP)
//!   top [--interval S] [--count N] live Child SAs by CPU (q quits)
//!   steer ...                      XDP steering
//!   doctor [--json] [--apply]      check and tune the system
//! ```

use clap::Parser;

fn main() {
    let args = lanes_cli::Args::parse();
    lanes_cli::init_logging(&args);
    if let Err(e) = lanes_cli::run(args) {
        eprintln!("lanes: {e:#}");
        std::process::exit(1);
    }
}
