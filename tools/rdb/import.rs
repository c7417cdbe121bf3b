//! `basalt-rdb import`: an RDB file into a data directory.
//!
//! A reader thread decodes the file while this thread writes: decoded events cross a bounded
//! channel in batches, so decoding and RocksDB writes overlap and memory stays bounded. Writes go
//! in large batches (a few MB) that bypass the WAL; one flush of the memtables to SST files at
//! the end makes the import durable, and only then is success reported. An import that is
//! interrupted (killed, power loss) may have loaded part of the file: each key is whole or
//! absent, and running it again with `--replace` completes it. A collection's metadata is written after all its elements, so a key is invisible
//! until complete. When keys may already exist and neither `--replace` nor `--skip-existing` is
//! given, a first pass over the file looks for them and refuses before writing anything.

use crate::{open_rdb, open_store, per_sec, printable, progress};
use anyhow::{bail, Context, Result};
use basalt::rdb::{Chunk, Event, KeyHeader, Kind, RdbError, Reader};
use basalt::storage::{Batch, Db, Meta, Store, View};
use basalt::types::rdb::{KeyIoError, KeyLoader};
use basalt::util::glob::glob_match;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Instant;

/// Bytes of writes gathered before a batch is committed.
const BATCH_BYTES: usize = 4 << 20;
/// Events handed from the decoder to the writer at a time.
const EVENTS_PER_SEND: usize = 1024;
/// Decoded bytes handed over at a time, whatever the number of events.
const BYTES_PER_SEND: usize = 4 << 20;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The Basalt data directory (the server's --dir); it must not be in use by a server.
    #[arg(long)]
    dir: PathBuf,
    /// The RDB file to load.
    file: PathBuf,
    /// Import only the keys of this database of the file.
    #[arg(long)]
    db: Option<u64>,
    /// Import only keys matching this glob pattern (Redis's KEYS syntax).
    #[arg(long = "match", value_name = "PATTERN")]
    pattern: Option<String>,
    /// Import only keys of this type (string, list, set, zset, hash, stream).
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Overwrite keys that already exist in the data directory.
    #[arg(long, conflicts_with = "skip_existing")]
    replace: bool,
    /// Leave keys that already exist as they are.
    #[arg(long)]
    skip_existing: bool,
    /// Import keys whose TTL has already passed, without a TTL (by default they are skipped).
    #[arg(long)]
    keep_expired: bool,
    /// Decode and check everything, report what would happen, write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Existing {
    Fail,
    Replace,
    Skip,
}

/// What happens to a key, decided from its header.
enum Verdict {
    Import { expire_at: u64 },
    Filtered,
    Expired,
}

struct Filters {
    db: Option<u64>,
    pattern: Option<Vec<u8>>,
    kind: Option<Kind>,
    keep_expired: bool,
    now: u64,
}

impl Filters {
    fn verdict(&self, h: &KeyHeader) -> Verdict {
        if self.db.is_some_and(|d| d != h.db)
            || self.kind.is_some_and(|k| k != h.kind)
            || self
                .pattern
                .as_ref()
                .is_some_and(|p| !glob_match(p, &h.key, false))
        {
            return Verdict::Filtered;
        }
        match h.expire_ms {
            Some(at) if at <= self.now as i64 => {
                if self.keep_expired {
                    Verdict::Import { expire_at: 0 }
                } else {
                    Verdict::Expired
                }
            }
            Some(at) => Verdict::Import {
                expire_at: at as u64,
            },
            None => Verdict::Import { expire_at: 0 },
        }
    }
}

/// Counters for the summary.
#[derive(Default)]
struct Stats {
    imported: BTreeMap<&'static str, u64>,
    elements: u64,
    filtered: u64,
    expired: u64,
    existing: u64,
    empty: u64,
    functions: u64,
    expired_fields: u64,
    dropped_field_ttls: u64,
}

impl Stats {
    fn keys(&self) -> u64 {
        self.imported.values().sum()
    }
}

/// Batches of decoded events, or the error that stopped decoding.
type Decoded = Receiver<Result<Vec<Event>, RdbError>>;

/// Decodes the file on a thread of its own; events arrive in batches.
fn spawn_decoder(
    file: &PathBuf,
    position: Arc<AtomicU64>,
) -> Result<(Decoded, std::thread::JoinHandle<()>)> {
    let (src, _) = open_rdb(file)?;
    let (tx, rx) = sync_channel(4);
    let handle = std::thread::spawn(move || {
        let mut reader = match Reader::new(src) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut events = Vec::with_capacity(EVENTS_PER_SEND);
        let mut sent_at = 0;
        loop {
            match reader.next() {
                Ok(Some(ev)) => {
                    let end = matches!(ev, Event::Eof { .. });
                    events.push(ev);
                    let pos = reader.position();
                    if end || events.len() >= EVENTS_PER_SEND || pos - sent_at >= BYTES_PER_SEND {
                        position.store(pos as u64, Ordering::Relaxed);
                        sent_at = pos;
                        if tx.send(Ok(std::mem::take(&mut events))).is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    Ok((rx, handle))
}

/// The key being loaded.
enum Current {
    None,
    Skip,
    /// Dry run: elements counted only.
    Count(Kind, u64),
    Load {
        loader: Box<KeyLoader>,
        kind: Kind,
        old: Option<Meta>,
        expire_at: u64,
    },
}

struct Importer<'a> {
    store: &'a Store,
    view: &'a View<'a>,
    filters: Filters,
    existing: Existing,
    /// Logical databases that held keys before the import (only those need lookups).
    nonempty: Vec<bool>,
    dry_run: bool,
    batch: Batch<'a>,
    current: Current,
    stats: Stats,
}

impl<'a> Importer<'a> {
    fn db(&self, h: &KeyHeader) -> Result<Db<'a>> {
        usize::try_from(h.db)
            .ok()
            .and_then(|i| self.view.db(i))
            .with_context(|| {
                format!(
                    "the file has database {} but the data directory has {} databases",
                    h.db,
                    self.view.databases()
                )
            })
    }

    fn flush(&mut self, force: bool) -> Result<()> {
        if self.dry_run || (!force && self.batch.raw().size_in_bytes() < BATCH_BYTES) {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.batch, self.store.batch());
        full.commit_unlogged()
            .context("writing to the data directory")?;
        Ok(())
    }

    fn on_event(&mut self, ev: Event) -> Result<bool> {
        match ev {
            Event::Key(h) => self.begin(h)?,
            Event::Chunk(chunk) => match &mut self.current {
                Current::Load { loader, .. } => {
                    let now = self.filters.now;
                    loader
                        .add(&mut self.batch, chunk, now)
                        .map_err(|e| key_error(&e))?;
                    self.flush(false)?;
                }
                // A stream's metadata is not an element.
                Current::Count(_, n) if !matches!(chunk, Chunk::StreamMeta(_)) => {
                    *n += chunk.len() as u64
                }
                _ => {}
            },
            Event::KeyEnd => self.end()?,
            Event::Function(code) => self.function(&code)?,
            Event::Eof { .. } => return Ok(true),
            Event::Aux { .. } | Event::SelectDb(_) | Event::ResizeDb { .. } => {}
        }
        Ok(false)
    }

    fn begin(&mut self, h: KeyHeader) -> Result<()> {
        let db = self.db(&h)?;
        self.current = match self.filters.verdict(&h) {
            Verdict::Filtered => {
                self.stats.filtered += 1;
                Current::Skip
            }
            Verdict::Expired => {
                self.stats.expired += 1;
                Current::Skip
            }
            Verdict::Import { expire_at } => {
                let mut old = None;
                if self.nonempty[h.db as usize] {
                    old = db.meta_raw(&h.key)?;
                    let now = self.filters.now;
                    if old.as_ref().is_some_and(|m| !m.is_expired(now)) {
                        match self.existing {
                            Existing::Skip => {
                                self.stats.existing += 1;
                                self.current = Current::Skip;
                                return Ok(());
                            }
                            Existing::Fail => bail!(
                                "key \"{}\" of database {} already exists (use --replace or --skip-existing)",
                                printable(&h.key),
                                h.db
                            ),
                            Existing::Replace => {}
                        }
                    }
                }
                if self.dry_run {
                    Current::Count(h.kind, 0)
                } else {
                    let loader = KeyLoader::new(&db, &h.key, h.kind).map_err(|e| key_error(&e))?;
                    Current::Load {
                        loader: Box::new(loader),
                        kind: h.kind,
                        old,
                        expire_at,
                    }
                }
            }
        };
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::Load {
                loader,
                kind,
                old,
                expire_at,
            } => {
                self.stats.elements += loader.count();
                self.stats.expired_fields += loader.expired_fields;
                self.stats.dropped_field_ttls += loader.dropped_field_ttls;
                if loader
                    .finish(&mut self.batch, old.as_ref(), expire_at)
                    .map_err(|e| key_error(&e))?
                {
                    *self.stats.imported.entry(kind.name()).or_default() += 1;
                } else {
                    self.stats.empty += 1;
                }
                self.flush(false)?;
            }
            Current::Count(kind, n) => {
                // An empty stream is still a stream.
                if n == 0 && kind != Kind::Stream {
                    self.stats.empty += 1;
                } else {
                    self.stats.elements += n;
                    *self.stats.imported.entry(kind.name()).or_default() += 1;
                }
            }
            Current::Skip | Current::None => {}
        }
        Ok(())
    }

    fn function(&mut self, code: &[u8]) -> Result<()> {
        let name = library_name(code)?;
        let record = [LIBRARY_KEY_PREFIX, name.as_bytes()].concat();
        if self.store.rocks().get(&record)?.is_some() && self.existing != Existing::Replace {
            if self.existing == Existing::Skip {
                return Ok(());
            }
            bail!("function library \"{name}\" already exists (use --replace or --skip-existing)");
        }
        self.stats.functions += 1;
        if !self.dry_run {
            self.batch.raw().put(record, code);
        }
        Ok(())
    }
}

/// Where the server keeps a function library: `fn/` + name in the `default` column family,
/// the library's source as the value (the server's own constant, so both agree).
pub use basalt::scripting::functions::LIBRARY_KEY_PREFIX;

/// The library name from a function library's shebang line (`#!lua name=mylib`).
pub fn library_name(code: &[u8]) -> Result<String> {
    let first = code.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(first).context("function library header is not text")?;
    let Some(rest) = line.strip_prefix("#!") else {
        bail!("function library without a shebang line");
    };
    rest.split_whitespace()
        .skip(1)
        .find_map(|arg| arg.strip_prefix("name="))
        .map(str::to_string)
        .context("function library shebang without name=")
}

/// Checks the CRC-64 in the last eight bytes of the file against the rest (0 means saved
/// without a checksum).
fn verify_checksum(file: &PathBuf, size: u64) -> Result<()> {
    use std::io::Read;
    let (mut src, _) = open_rdb(file)?;
    let body = size.saturating_sub(8);
    let mut crc = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = body;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        src.read_exact(&mut buf[..n])?;
        crc = basalt::rdb::crc64::crc64(crc, &buf[..n]);
        left -= n as u64;
    }
    let mut stored = [0u8; 8];
    src.read_exact(&mut stored)
        .with_context(|| format!("{} is truncated", file.display()))?;
    let stored = u64::from_le_bytes(stored);
    if stored != 0 && stored != crc {
        bail!(
            "{}: the checksum does not match the content (the file is corrupt or truncated): stored {stored:016x}, computed {crc:016x}",
            file.display()
        );
    }
    Ok(())
}

fn key_error(e: &KeyIoError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The first pass: refuses, before anything is written, when a key (or function library) the
/// file would import already exists.
fn check_conflicts(args: &ImportArgs, filters: &Filters, view: &View<'_>) -> Result<()> {
    let (src, _) = open_rdb(&args.file)?;
    let mut reader = Reader::new(src)?;
    let mut conflicts = Vec::new();
    let mut total = 0u64;
    while let Some(ev) = reader.next()? {
        match ev {
            Event::Key(h) => {
                if !matches!(filters.verdict(&h), Verdict::Import { .. }) {
                    continue;
                }
                let Some(db) = usize::try_from(h.db).ok().and_then(|i| view.db(i)) else {
                    continue;
                };
                if db.meta(&h.key)?.is_some() {
                    total += 1;
                    if conflicts.len() < 5 {
                        conflicts.push(format!("db {} \"{}\"", h.db, printable(&h.key)));
                    }
                }
            }
            Event::Function(code) => {
                let name = library_name(&code)?;
                let record = [LIBRARY_KEY_PREFIX, name.as_bytes()].concat();
                if view
                    .db(0)
                    .is_some_and(|d| d.store.rocks().get(&record).ok().flatten().is_some())
                {
                    total += 1;
                    conflicts.push(format!("function library \"{name}\""));
                }
            }
            _ => {}
        }
    }
    if total > 0 {
        bail!(
            "{total} key(s) of the file already exist in {} (for example {}); nothing was written. \
             Use --replace to overwrite them or --skip-existing to keep them",
            args.dir.display(),
            conflicts.join(", ")
        );
    }
    Ok(())
}

pub fn run(args: ImportArgs) -> Result<()> {
    let kind = match &args.kind {
        Some(t) => Some(Kind::from_name(t).with_context(|| format!("unknown type \"{t}\""))?),
        None => None,
    };
    let filters = Filters {
        db: args.db,
        pattern: args.pattern.as_ref().map(|p| p.as_bytes().to_vec()),
        kind,
        keep_expired: args.keep_expired,
        now: basalt::util::time::now_ms(),
    };
    let existing = if args.replace {
        Existing::Replace
    } else if args.skip_existing {
        Existing::Skip
    } else {
        Existing::Fail
    };
    // Check the file's header and checksum before touching the data directory, so a corrupt
    // or truncated file is refused before anything is written.
    let (src, size) = open_rdb(&args.file)?;
    let version = Reader::new(src)
        .with_context(|| format!("reading {}", args.file.display()))?
        .version();
    if version >= 5 {
        verify_checksum(&args.file, size)?;
    }

    let store = open_store(&args.dir)?;
    let view = store.view();
    let nonempty: Vec<bool> = (0..view.databases())
        .map(|i| view.db(i).is_some_and(|d| d.size() > 0))
        .collect();
    let has_functions = store
        .rocks()
        .prefix_iterator(LIBRARY_KEY_PREFIX)
        .next()
        .is_some_and(|r| r.is_ok_and(|(k, _)| k.starts_with(LIBRARY_KEY_PREFIX)));
    if existing == Existing::Fail && (nonempty.contains(&true) || has_functions) {
        check_conflicts(&args, &filters, &view).with_context(|| {
            format!(
                "checking {} against the data directory",
                args.file.display()
            )
        })?;
    }

    let started = Instant::now();
    let position = Arc::new(AtomicU64::new(0));
    let (rx, decoder) = spawn_decoder(&args.file, position.clone())?;
    let bar = progress::bar(size, "bytes");
    let mut imp = Importer {
        store: &store,
        view: &view,
        filters,
        existing,
        nonempty,
        dry_run: args.dry_run,
        batch: store.batch(),
        current: Current::None,
        stats: Stats::default(),
    };
    let mut finished = false;
    for events in rx.iter() {
        let events = events.with_context(|| format!("reading {}", args.file.display()))?;
        for ev in events {
            finished |= imp.on_event(ev)?;
        }
        bar.set_position(position.load(Ordering::Relaxed));
        bar.set_message(format!("{} keys", imp.stats.keys()));
    }
    let _ = decoder.join();
    if !finished {
        bail!("{} ended before its EOF marker", args.file.display());
    }
    imp.flush(true)?;
    if !args.dry_run {
        store
            .flush_all()
            .context("flushing the imported data to disk")?;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let s = &imp.stats;
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    let by_type: Vec<String> = s.imported.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "{verb} {} keys ({}) with {} elements from {} in {secs:.2}s: {:.0} keys/s, {:.1} MB/s",
        s.keys(),
        if by_type.is_empty() {
            "none".into()
        } else {
            by_type.join(", ")
        },
        s.elements,
        args.file.display(),
        per_sec(s.keys(), secs),
        per_sec(size, secs) / 1e6,
    );
    println!(
        "skipped: {} expired, {} already present, {} filtered out, {} empty",
        s.expired, s.existing, s.filtered, s.empty
    );
    if s.functions > 0 {
        println!("function libraries: {}", s.functions);
    }
    if s.expired_fields + s.dropped_field_ttls > 0 {
        println!(
            "hash fields with their own TTL: {} already expired and left out, {} imported without their TTL",
            s.expired_fields, s.dropped_field_ttls
        );
    }
    if let Some(rss) = crate::peak_rss() {
        println!("peak RSS: {:.1} MB", rss as f64 / 1e6);
    }
    Ok(())
}
