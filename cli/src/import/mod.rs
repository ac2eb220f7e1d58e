//! `lanes import-swanctl`: a swanctl.conf (its includes and `secrets` too)
//! rewritten as lanes' TOML. Settings lanes cannot carry are listed with
//! their swanctl path and why; then the import fails unless `--partial`.

mod certs;
mod convert;
mod swanctl;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use convert::{Converted, Issue, convert, convert_in};
pub use swanctl::{ParseError, Section, parse_file, parse_str};

/// Where strongSwan keeps swanctl.conf.
pub const DEFAULT_SWANCTL: &str = "/etc/swanctl/swanctl.conf";

/// The lanes TOML text for a conversion, headed by where it came from and,
/// as comments, what was left behind.
pub fn render(source: &Path, c: &Converted) -> Result<String> {
    let mut out = format!(
        "# Imported from {} by `lanes import-swanctl`.\n",
        source.display()
    );
    for i in &c.issues {
        let _ = writeln!(out, "# not carried: {}: {}", i.path, i.why);
    }
    out.push('\n');
    out.push_str(&toml::to_string(&c.toml).context("writing the TOML")?);
    Ok(out)
}

/// Parses the result with lanes' own loader and adds what it refuses (a
/// dynamic `local_ts` without `local_addrs` for `start`, a per-CPU child
/// without `trap`) as issues; its key paths are the swanctl paths, since
/// lanes uses swanctl's names.
pub fn check_with_loader(source: &Path, c: &mut Converted) -> Result<()> {
    let text = render(source, c)?;
    if let Err(errs) = crate::config::Config::parse(&text, Path::new("lanes.toml")) {
        for e in errs.0 {
            c.issues.push(Issue {
                path: e.key.unwrap_or_else(|| "(the imported file)".into()),
                why: format!("lanes refuses it: {}", e.message),
            });
        }
    }
    Ok(())
}

/// Runs the command: reads `file`, prints every issue to stderr, and writes
/// the TOML to `output` (mode 0600: it may hold keys) or stdout.
pub fn run(file: Option<&Path>, output: Option<&Path>, partial: bool) -> Result<()> {
    let file = file.map_or_else(|| PathBuf::from(DEFAULT_SWANCTL), Path::to_path_buf);
    let root = parse_file(&file)?;
    let mut converted = convert_in(&root, file.parent());
    check_with_loader(&file, &mut converted)?;
    for i in &converted.issues {
        eprintln!("lanes: not carried: {}: {}", i.path, i.why);
    }
    if !converted.issues.is_empty() && !partial {
        bail!(
            "{} setting(s) of {} cannot be carried (listed above); fix them in the swanctl.conf or pass --partial to write the rest",
            converted.issues.len(),
            file.display()
        );
    }
    let text = render(&file, &converted)?;
    match output {
        Some(path) => write_private(path, &text),
        None => {
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

/// Writes `text` to a new file readable by its owner only (lanes refuses
/// inline keys in a file others can read).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
