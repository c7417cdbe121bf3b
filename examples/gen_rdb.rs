//! Writes an RDB file of N mixed keys for the import/export benchmark (`tools/bench-rdb.sh`):
//! 60% strings (a third of them integers), 10% each of small hashes, lists, sets and sorted sets
//! (the compact encodings Redis uses for such keys), and a TTL on one key in ten.
//!
//! Usage: `cargo run --release --example gen_rdb -- OUT.rdb [KEYS]` (default 1,000,000 keys).

use basalt::rdb::Writer;
use std::io::BufWriter;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: gen_rdb OUT.rdb [KEYS]"))?;
    let n: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let file = std::fs::File::create(&out)?;
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, file), 10)?;
    w.aux(b"redis-ver", b"7.0.15")?;
    w.select_db(0)?;
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64)
        + 86_400_000;
    for i in 0..n {
        let key = format!("key:{i:010}");
        let ttl = (i % 10 == 0).then_some(later + i as i64);
        match i % 10 {
            0..=3 => w.string(
                key.as_bytes(),
                ttl,
                format!("value-{i}-{}", i * 31).as_bytes(),
            )?,
            4 | 5 => w.string(key.as_bytes(), ttl, (i * 7).to_string().as_bytes())?,
            6 => {
                w.begin_hash(key.as_bytes(), ttl, 5)?;
                for f in 0..5 {
                    w.field(
                        format!("field{f}").as_bytes(),
                        format!("v{}", i + f).as_bytes(),
                    )?;
                }
                w.end()?;
            }
            7 => {
                w.begin_list(key.as_bytes(), ttl, 5)?;
                for e in 0..5 {
                    w.item(format!("item-{}", i + e).as_bytes())?;
                }
                w.end()?;
            }
            8 => {
                w.begin_set(key.as_bytes(), ttl, 5)?;
                for m in 0..5 {
                    w.member((i * 5 + m).to_string().as_bytes())?;
                }
                w.end()?;
            }
            _ => {
                w.begin_zset(key.as_bytes(), ttl, 5)?;
                for m in 0..5 {
                    w.scored(format!("member{m}").as_bytes(), (i + m) as f64 / 2.0)?;
                }
                w.end()?;
            }
        }
    }
    w.finish()?;
    Ok(())
}
