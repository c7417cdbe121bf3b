//! `basalt-rdb export`: a data directory as an RDB file.
//!
//! Keys are read database by database with RocksDB iterators (a collection's elements are
//! streamed, never loaded whole) and written with the encodings Redis 7.0 would use. The file is
//! written next to its destination under a temporary name and renamed when complete, so a
//! failed export never leaves a truncated file under the requested name.

use crate::{open_store, per_sec, progress};
use anyhow::{Context, Result};
use basalt::rdb::{Writer, WRITE_VERSION};
use basalt::storage::subkeys::SubCursors;
use basalt::types::rdb::{expire_of, write_key_with};
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The Basalt data directory (the server's --dir); it must not be in use by a server.
    #[arg(long)]
    dir: PathBuf,
    /// The RDB file to write.
    file: PathBuf,
    /// RDB version to write: 10 (Redis 7.0, the default) down to 7 (Redis 3.2), using only the
    /// encodings that version knows.
    #[arg(long, default_value_t = WRITE_VERSION)]
    rdb_version: u32,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let store = open_store(&args.dir)?;
    let view = store.view();
    let tmp = args.file.with_extension("rdb.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, file), args.rdb_version)?;
    let started = Instant::now();
    let now_ms = basalt::util::time::now_ms();
    w.aux(b"redis-bits", b"64")?;
    w.aux(b"ctime", (now_ms / 1000).to_string().as_bytes())?;
    w.aux(b"used-mem", b"0")?;
    w.aux(b"aof-base", b"0")?;
    w.aux(b"basalt-ver", env!("CARGO_PKG_VERSION").as_bytes())?;

    let mut functions = 0u64;
    if args.rdb_version >= 10 {
        for item in store
            .rocks()
            .prefix_iterator(crate::import::LIBRARY_KEY_PREFIX)
        {
            let (k, code) = item?;
            if !k.starts_with(crate::import::LIBRARY_KEY_PREFIX) {
                break;
            }
            w.function(&code)?;
            functions += 1;
        }
    }

    let total: u64 = (0..view.databases())
        .filter_map(|i| view.db(i))
        .map(|d| d.size())
        .sum();
    let bar = progress::bar(total, "keys");
    let mut keys = 0u64;
    for index in 0..view.databases() {
        let Some(db) = view.db(index) else { continue };
        if db.size() == 0 {
            continue;
        }
        w.select_db(index as u64)?;
        w.resize_db(db.size(), store.expires_count(db.phys))?;
        let mut cursors = SubCursors::default();
        db.try_for_each_entry(now_ms, |key, meta| -> Result<()> {
            write_key_with(&db, key, &meta, expire_of(&meta), &mut w, &mut cursors)
                .map_err(|e| anyhow::anyhow!("key {}: {e}", crate::printable(key)))?;
            keys += 1;
            if keys.is_multiple_of(4096) {
                bar.set_position(keys);
            }
            Ok(())
        })?;
    }
    let written = w.written();
    w.finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&tmp, &args.file)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), args.file.display()))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "exported {keys} keys and {functions} function libraries to {} (RDB version {}, {:.1} MB) in {secs:.2}s: {:.0} keys/s, {:.1} MB/s; expired keys are left out",
        args.file.display(),
        args.rdb_version,
        written as f64 / 1e6,
        per_sec(keys, secs),
        per_sec(written, secs) / 1e6,
    );
    if let Some(rss) = crate::peak_rss() {
        println!("peak RSS: {:.1} MB", rss as f64 / 1e6);
    }
    Ok(())
}
