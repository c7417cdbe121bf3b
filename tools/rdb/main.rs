//! `basalt-rdb`: moves data between Redis RDB files and Basalt data directories, offline.
//!
//! - `import` loads an RDB file (versions 1 to 12) into a data directory no server holds.
//! - `export` writes a data directory as an RDB file (version 10 by default) that Redis 7.0 loads.
//! - `inspect` summarizes an RDB file: version, AUX fields, keys per database, type and
//!   encoding, the biggest keys and the TTLs.

mod export;
mod import;
mod inspect;
mod progress;

use anyhow::{Context, Result};
use basalt::config::Config;
use basalt::storage::Store;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "basalt-rdb",
    version,
    about = "Import, export and inspect Redis RDB files for Basalt"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load an RDB file into a Basalt data directory that no server is using.
    Import(import::ImportArgs),
    /// Write every database of a Basalt data directory to an RDB file.
    Export(export::ExportArgs),
    /// Describe an RDB file without loading it.
    Inspect(inspect::InspectArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
        Command::Inspect(a) => inspect::run(a),
    };
    if let Err(e) = result {
        eprintln!("basalt-rdb: {e:#}");
        std::process::exit(1);
    }
}

/// Opens a data directory for exclusive offline use, refusing one a server holds.
pub fn open_store(dir: &Path) -> Result<Arc<Store>> {
    let cfg = Config {
        dir: dir.to_path_buf(),
        // No hot-key cache: an import or export touches every key once, so caching them is
        // pure cost (it was ~13% of an import's CPU and most of its RSS).
        maxmemory_cache_percent: 0,
        ..Config::default()
    };
    Store::open(&cfg).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") || text.contains("LOCK") {
            anyhow::anyhow!(
                "the data directory {} is in use (is a basalt server running on it?): {text}",
                dir.display()
            )
        } else {
            anyhow::anyhow!("cannot open the data directory {}: {text}", dir.display())
        }
    })
}

/// Opens an RDB file for buffered reading, with its size for the progress bar.
pub fn open_rdb(path: &PathBuf) -> Result<(std::io::BufReader<std::fs::File>, u64)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((std::io::BufReader::with_capacity(1 << 20, file), size))
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), for the summaries.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A key or other binary string for humans: printable ASCII as is, the rest escaped.
pub fn printable(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(c as char);
            }
            0x20..=0x7e => s.push(c as char),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A rate per second, guarding against a zero duration.
pub fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}
