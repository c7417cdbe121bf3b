//! Pub/Sub throughput: P publishers send PUBLISH (pipelined in batches) to one channel that S
//! subscribers read; prints messages published and delivered per second. Used by
//! `tools/bench-pubsub.sh` against Basalt and redis-server side by side.
//!
//! `cargo run --release --example pubsub_bench -- PORT [PUBLISHERS] [SUBSCRIBERS] [MESSAGES] [SIZE]`
//! (MESSAGES per publisher, SIZE payload bytes).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Instant;

const BATCH: usize = 100;

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("usage: pubsub_bench PORT [PUB] [SUB] [MESSAGES] [SIZE]"))?;
    let (publishers, subscribers) = (arg(&args, 2, 4), arg(&args, 3, 4));
    let (messages, size) = (arg(&args, 4, 50_000), arg(&args, 5, 32));
    let total = publishers * messages;
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let start = Arc::new(Barrier::new(publishers + subscribers + 1));

    let subs: Vec<_> = (0..subscribers)
        .map(|_| {
            let (ready, start) = (ready.clone(), start.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut s = TcpStream::connect(("127.0.0.1", port))?;
                s.write_all(b"SUBSCRIBE bench\r\n")?;
                let mut r = BufReader::with_capacity(1 << 16, s);
                // The confirmation: *3, $9, subscribe, $5, bench, :1.
                let mut line = String::new();
                for _ in 0..6 {
                    line.clear();
                    r.read_line(&mut line)?;
                }
                ready.wait();
                start.wait();
                // Count message frames by their header; keep a tail across reads so a header
                // split between two reads is still seen.
                let needle = b"$7\r\nmessage\r\n";
                let mut seen = 0usize;
                let mut buf = vec![0u8; 1 << 16];
                let mut tail: Vec<u8> = Vec::new();
                while seen < total {
                    let n = r.read(&mut buf)?;
                    anyhow::ensure!(n > 0, "subscriber disconnected after {seen} messages");
                    let mut chunk = std::mem::take(&mut tail);
                    chunk.extend_from_slice(&buf[..n]);
                    seen += chunk.windows(needle.len()).filter(|w| w == needle).count();
                    let keep = (needle.len() - 1).min(chunk.len());
                    tail = chunk[chunk.len() - keep..].to_vec();
                }
                Ok(())
            })
        })
        .collect();
    ready.wait();

    let payload = "x".repeat(size);
    let pubs: Vec<_> = (0..publishers)
        .map(|_| {
            let start = start.clone();
            let payload = payload.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let s = TcpStream::connect(("127.0.0.1", port))?;
                s.set_nodelay(true)?;
                let mut w = s.try_clone()?;
                let mut r = BufReader::new(s);
                let cmd = format!(
                    "*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n${}\r\n{payload}\r\n",
                    payload.len()
                );
                let batch = cmd.repeat(BATCH);
                start.wait();
                let mut sent = 0;
                let mut line = String::new();
                while sent < messages {
                    let n = BATCH.min(messages - sent);
                    if n == BATCH {
                        w.write_all(batch.as_bytes())?;
                    } else {
                        w.write_all(cmd.repeat(n).as_bytes())?;
                    }
                    for _ in 0..n {
                        line.clear();
                        r.read_line(&mut line)?;
                        anyhow::ensure!(line.starts_with(':'), "PUBLISH replied {line:?}");
                    }
                    sent += n;
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    for p in pubs {
        p.join()
            .map_err(|_| anyhow::anyhow!("publisher panicked"))??;
    }
    let published = t.elapsed();
    for s in subs {
        s.join()
            .map_err(|_| anyhow::anyhow!("subscriber panicked"))??;
    }
    let delivered = t.elapsed();
    let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "published_per_sec={:.0} delivered_per_sec={:.0} publishers={publishers} subscribers={subscribers} messages={total} size={size}",
        rate(total, published),
        rate(total * subscribers, delivered)
    );
    Ok(())
}
