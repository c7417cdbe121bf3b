//! `basalt-rdb inspect`: what an RDB file holds, without loading it anywhere.

use crate::{open_rdb, printable, progress};
use anyhow::{Context, Result};
use basalt::rdb::{types, Chunk, Event, Reader};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The RDB file to describe.
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// How many of the biggest keys to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

/// One of the biggest keys.
struct Big {
    bytes: u64,
    db: u64,
    key: Vec<u8>,
    kind: &'static str,
    elements: u64,
}

#[derive(Default)]
struct DbStats {
    keys: u64,
    /// (type, encoding) -> keys.
    by_encoding: BTreeMap<(&'static str, &'static str), u64>,
    with_ttl: u64,
}

#[derive(Default)]
struct Report {
    version: u32,
    aux: Vec<(String, String)>,
    dbs: BTreeMap<u64, DbStats>,
    functions: u64,
    empty: u64,
    biggest: Vec<Big>,
    /// TTL buckets relative to now: expired, < 1 h, < 1 day, < 7 days, later.
    ttl: [u64; 5],
    min_expire: Option<i64>,
    max_expire: Option<i64>,
    checksum: Option<u64>,
    bytes: u64,
}

const TTL_BUCKETS: [&str; 5] = ["expired", "under 1h", "under 1d", "under 7d", "later"];

impl Report {
    fn keep_biggest(&mut self, big: Big, top: usize) {
        if top == 0 {
            return;
        }
        if self.biggest.len() == top {
            if self.biggest.last().is_some_and(|b| b.bytes >= big.bytes) {
                return;
            }
            self.biggest.pop();
        }
        let at = self.biggest.partition_point(|b| b.bytes >= big.bytes);
        self.biggest.insert(at, big);
    }

    fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "RDB version {}, {} bytes", self.version, self.bytes);
        match self.checksum {
            None => o.push_str("checksum: none (RDB < 5)\n"),
            Some(0) => o.push_str("checksum: disabled when saved\n"),
            Some(c) => {
                let _ = writeln!(o, "checksum: {c:016x} (verified)");
            }
        }
        for (k, v) in &self.aux {
            let _ = writeln!(o, "aux {k} = {v}");
        }
        for (db, s) in &self.dbs {
            let _ = writeln!(o, "db {db}: {} keys, {} with a TTL", s.keys, s.with_ttl);
            for ((t, e), n) in &s.by_encoding {
                let _ = writeln!(o, "  {t:<7} {e:<18} {n}");
            }
        }
        let _ = writeln!(o, "function libraries: {}", self.functions);
        if self.empty > 0 {
            let _ = writeln!(o, "empty keys (skipped by loaders): {}", self.empty);
        }
        let ttl: Vec<String> = TTL_BUCKETS
            .iter()
            .zip(self.ttl)
            .map(|(b, n)| format!("{b} {n}"))
            .collect();
        let _ = writeln!(o, "TTLs: {}", ttl.join(", "));
        if let (Some(lo), Some(hi)) = (self.min_expire, self.max_expire) {
            let _ = writeln!(o, "expiry times (unix ms): earliest {lo}, latest {hi}");
        }
        if !self.biggest.is_empty() {
            o.push_str("biggest keys (serialized bytes):\n");
            for b in &self.biggest {
                let _ = writeln!(
                    o,
                    "  {:>12}  db {}  {:<6} {:>10} elements  \"{}\"",
                    b.bytes,
                    b.db,
                    b.kind,
                    b.elements,
                    printable(&b.key)
                );
            }
        }
        o
    }

    fn json(&self) -> String {
        let mut o = String::from("{");
        let _ = write!(o, "\"version\":{},\"bytes\":{},", self.version, self.bytes);
        let _ = write!(
            o,
            "\"checksum\":{},",
            self.checksum
                .map_or("null".to_string(), |c| format!("\"{c:016x}\""))
        );
        o.push_str("\"aux\":{");
        let aux: Vec<String> = self
            .aux
            .iter()
            .map(|(k, v)| format!("{}:{}", json_str(k.as_bytes()), json_str(v.as_bytes())))
            .collect();
        o.push_str(&aux.join(","));
        o.push_str("},\"databases\":{");
        let dbs: Vec<String> = self
            .dbs
            .iter()
            .map(|(db, s)| {
                let enc: Vec<String> = s
                    .by_encoding
                    .iter()
                    .map(|((t, e), n)| {
                        format!("{{\"type\":\"{t}\",\"encoding\":\"{e}\",\"keys\":{n}}}")
                    })
                    .collect();
                format!(
                    "\"{db}\":{{\"keys\":{},\"with_ttl\":{},\"encodings\":[{}]}}",
                    s.keys,
                    s.with_ttl,
                    enc.join(",")
                )
            })
            .collect();
        o.push_str(&dbs.join(","));
        let ttl: Vec<String> = TTL_BUCKETS
            .iter()
            .zip(self.ttl)
            .map(|(b, n)| format!("\"{b}\":{n}"))
            .collect();
        let _ = write!(
            o,
            "}},\"functions\":{},\"empty_keys\":{},\"ttl\":{{{}}},",
            self.functions,
            self.empty,
            ttl.join(",")
        );
        let big: Vec<String> = self
            .biggest
            .iter()
            .map(|b| {
                format!(
                    "{{\"db\":{},\"key\":{},\"type\":\"{}\",\"elements\":{},\"bytes\":{}}}",
                    b.db,
                    json_str(&b.key),
                    b.kind,
                    b.elements,
                    b.bytes
                )
            })
            .collect();
        let _ = write!(o, "\"biggest\":[{}]}}", big.join(","));
        o
    }
}

/// A JSON string; bytes outside printable ASCII are escaped as `\u00XX`, one per byte.
fn json_str(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\u{c:04x}");
            }
        }
    }
    s.push('"');
    s
}

pub fn run(args: InspectArgs) -> Result<()> {
    let (src, size) = open_rdb(&args.file)?;
    let mut reader =
        Reader::new(src).with_context(|| format!("reading {}", args.file.display()))?;
    let bar = progress::bar(size, "bytes");
    let now = basalt::util::time::now_ms() as i64;
    let mut report = Report {
        version: reader.version(),
        ..Report::default()
    };
    let mut current: Option<(basalt::rdb::KeyHeader, u64)> = None;
    let mut seen = 0u64;
    while let Some(ev) = reader
        .next()
        .with_context(|| format!("reading {}", args.file.display()))?
    {
        match ev {
            Event::Aux { key, value } => report.aux.push((
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            )),
            Event::Function(_) => report.functions += 1,
            Event::Key(h) => current = Some((h, 0)),
            Event::Chunk(c) => {
                if let Some((_, n)) = &mut current {
                    *n += match c {
                        Chunk::StreamMeta(_) => 0,
                        c => c.len() as u64,
                    };
                }
            }
            Event::KeyEnd => {
                let Some((h, elements)) = current.take() else {
                    continue;
                };
                if elements == 0 && h.kind != basalt::rdb::Kind::Stream {
                    report.empty += 1;
                    continue;
                }
                let s = report.dbs.entry(h.db).or_default();
                s.keys += 1;
                *s.by_encoding
                    .entry((h.kind.name(), types::encoding_name(h.rdb_type)))
                    .or_default() += 1;
                if let Some(at) = h.expire_ms {
                    s.with_ttl += 1;
                    let left = at - now;
                    let bucket = match left {
                        l if l <= 0 => 0,
                        l if l < 3_600_000 => 1,
                        l if l < 86_400_000 => 2,
                        l if l < 7 * 86_400_000 => 3,
                        _ => 4,
                    };
                    report.ttl[bucket] += 1;
                    report.min_expire = Some(report.min_expire.map_or(at, |m| m.min(at)));
                    report.max_expire = Some(report.max_expire.map_or(at, |m| m.max(at)));
                }
                let bytes = (reader.position() - h.offset) as u64;
                report.keep_biggest(
                    Big {
                        bytes,
                        db: h.db,
                        key: h.key,
                        kind: h.kind.name(),
                        elements,
                    },
                    args.top,
                );
                seen += 1;
                if seen.is_multiple_of(4096) {
                    bar.set_position(reader.position() as u64);
                }
            }
            Event::Eof { checksum } => report.checksum = checksum,
            Event::SelectDb(_) | Event::ResizeDb { .. } => {}
        }
    }
    bar.finish_and_clear();
    report.bytes = reader.position() as u64 + 8 * u64::from(report.version >= 5);
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
