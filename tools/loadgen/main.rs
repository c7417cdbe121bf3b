//! `basalt-loadgen`: a GET/SET load generator for Basalt and Redis (any RESP server).
//!
//! Issues GET and SET over `--connections` connections, each with `--pipeline` requests in
//! flight, choosing keys uniformly, by Zipf(s), or from a hot/cold split, for a number of requests
//! or seconds. Reports throughput, p50/p99/p99.9 latency (overall, and for the hot keys of a
//! hot/cold split), the server's peak RSS (from /proc, given `--server-pid`), and the hot-key
//! cache hit ratio over the run (from INFO, when the server reports it).
//!
//! ```text
//! basalt-loadgen --port 6379 --keys 1000000 --load            # fill key:0..N-1 with SET
//! basalt-loadgen --port 6379 --keys 1000000 --dist zipf:0.99 --seconds 20 --server-pid 1234
//! ```
//! The last line of output is `RESULT key=value ...` for scripts. Only loopback is expected:
//! the tool connects where it is told and nowhere else.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How keys are chosen.
#[derive(Clone, Copy, Debug)]
enum Dist {
    Uniform,
    /// Zipf with exponent s over ranks 1..=n.
    Zipf(f64),
    /// `frac` of the requests go to the first `hot` share of the keys.
    HotCold {
        frac: f64,
        hot: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Get,
    Set,
    /// GET with this probability, SET otherwise.
    Mix(f64),
}

#[derive(Clone, Debug)]
struct Opts {
    host: String,
    port: u16,
    connections: usize,
    pipeline: usize,
    keys: u64,
    value_size: usize,
    dist: Dist,
    op: Op,
    requests: u64,
    seconds: f64,
    warmup: f64,
    load: bool,
    server_pid: Option<u32>,
    seed: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: basalt-loadgen [--host H] [--port P] [--connections C] [--pipeline P] \
         [--keys N] [--value-size B] [--dist uniform|zipf:S|hotcold:FRAC:HOT] \
         [--op get|set|mix:GETFRAC] [--requests N | --seconds S] [--warmup S] [--load] \
         [--server-pid PID] [--seed N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 6379,
        connections: 50,
        pipeline: 1,
        keys: 100_000,
        value_size: 100,
        dist: Dist::Uniform,
        op: Op::Get,
        requests: 0,
        seconds: 10.0,
        warmup: 0.0,
        load: false,
        server_pid: None,
        seed: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let val = |i: usize| args.get(i + 1).cloned().unwrap_or_else(|| usage());
    let num = |s: String| s.parse::<f64>().unwrap_or_else(|_| usage());
    while i < args.len() {
        match args[i].as_str() {
            "--host" => o.host = val(i),
            "--port" => o.port = num(val(i)) as u16,
            "--connections" => o.connections = (num(val(i)) as usize).max(1),
            "--pipeline" => o.pipeline = (num(val(i)) as usize).max(1),
            "--keys" => o.keys = (num(val(i)) as u64).max(1),
            "--value-size" => o.value_size = num(val(i)) as usize,
            "--requests" => o.requests = num(val(i)) as u64,
            "--seconds" => o.seconds = num(val(i)),
            "--warmup" => o.warmup = num(val(i)),
            "--server-pid" => o.server_pid = Some(num(val(i)) as u32),
            "--seed" => o.seed = num(val(i)) as u64,
            "--dist" => {
                let v = val(i);
                let parts: Vec<&str> = v.split(':').collect();
                o.dist = match parts.as_slice() {
                    ["uniform"] => Dist::Uniform,
                    ["zipf", s] => Dist::Zipf(num(s.to_string())),
                    ["hotcold", f, h] => Dist::HotCold {
                        frac: num(f.to_string()),
                        hot: num(h.to_string()),
                    },
                    _ => usage(),
                };
            }
            "--op" => {
                let v = val(i);
                o.op = match v.split_once(':') {
                    None if v == "get" => Op::Get,
                    None if v == "set" => Op::Set,
                    Some(("mix", f)) => Op::Mix(num(f.to_string())),
                    _ => usage(),
                };
            }
            "--load" => {
                o.load = true;
                i += 1;
                continue;
            }
            _ => usage(),
        }
        i += 2;
    }
    o
}

/// Zipf(s) over 1..=n by rejection from a continuous approximation of its inverse CDF.
struct Zipf {
    s: f64,
    t: f64,
    q: f64,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Self {
        let n = n as f64;
        let t = if s != 1.0 {
            (n.powf(1.0 - s) - s) / (1.0 - s)
        } else {
            1.0 + n.ln()
        };
        let q = if s != 1.0 { 1.0 / (1.0 - s) } else { 0.0 };
        Self { s, t, q }
    }

    fn inv_cdf(&self, p: f64) -> f64 {
        let pt = p * self.t;
        if pt <= 1.0 {
            pt
        } else if self.s != 1.0 {
            (pt * (1.0 - self.s) + self.s).powf(self.q)
        } else {
            (pt - 1.0).exp()
        }
    }

    /// A rank in 1..=n (1 is the most frequent).
    fn sample(&self, rng: &mut SmallRng) -> u64 {
        loop {
            let inv_b = self.inv_cdf(rng.random::<f64>());
            let x = (inv_b + 1.0).floor();
            let mut ratio = x.powf(-self.s);
            if x > 1.0 {
                ratio *= inv_b.powf(self.s);
            }
            if rng.random::<f64>() < ratio {
                return x as u64;
            }
        }
    }
}

/// Chooses key indexes; ranks are scattered over the key space so hot keys are not neighbours
/// in RocksDB's order (which would make the block cache look better than it is).
struct Chooser {
    n: u64,
    dist: Dist,
    zipf: Option<Zipf>,
    /// Multiplier of the rank -> index permutation (coprime with n).
    mult: u64,
}

impl Chooser {
    fn new(n: u64, dist: Dist) -> Self {
        let zipf = match dist {
            Dist::Zipf(s) => Some(Zipf::new(n, s)),
            _ => None,
        };
        let mut mult = 2_654_435_761 % n.max(2);
        while mult < 2 || gcd(mult, n) != 1 {
            mult += 1;
        }
        Self {
            n,
            dist,
            zipf,
            mult: if n < 3 { 1 } else { mult },
        }
    }

    /// (key index, whether it is in the hot set of a hot/cold split).
    fn pick(&self, rng: &mut SmallRng) -> (u64, bool) {
        let (rank, hot) = match self.dist {
            Dist::Uniform => (rng.random_range(0..self.n), false),
            Dist::Zipf(_) => {
                let z = self.zipf.as_ref().map_or(1, |z| z.sample(rng));
                (z.min(self.n) - 1, false)
            }
            Dist::HotCold { frac, hot } => {
                let h = ((self.n as f64 * hot) as u64).clamp(1, self.n);
                if rng.random::<f64>() < frac || h == self.n {
                    (rng.random_range(0..h), true)
                } else {
                    (rng.random_range(h..self.n), false)
                }
            }
        };
        (
            ((rank as u128 * self.mult as u128) % self.n as u128) as u64,
            hot,
        )
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn key_of(i: u64) -> String {
    format!("key:{i:012}")
}

/// Fills `out` with the value of key `i`: random alphanumerics drawn from a generator seeded by
/// the key, so values do not repeat across keys and compress about as well as random text (a
/// repeated byte would compress 200:1 and the dataset would not outgrow anything).
fn value_of(out: &mut Vec<u8>, size: usize, i: u64) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = SmallRng::seed_from_u64(i ^ 0x5eed_5eed);
    out.clear();
    out.extend((0..size).map(|_| ALPHABET[(rng.random::<u32>() % 62) as usize]));
}

fn push_bulk(out: &mut Vec<u8>, b: &[u8]) {
    let _ = write!(out, "${}\r\n", b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn push_get(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
    push_bulk(out, key);
}

fn push_set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    push_bulk(out, key);
    push_bulk(out, value);
}

/// Length of the first complete reply in `buf` and whether it is an error; None if incomplete.
/// Handles the reply types GET, SET and INFO produce (and arrays, for completeness).
fn reply_len(buf: &[u8]) -> Option<(usize, bool)> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let head = &buf[1..line_end];
    let after = line_end + 2;
    match buf.first()? {
        b'+' | b':' | b'_' | b',' | b'#' => Some((after, false)),
        b'-' => Some((after, true)),
        b'$' | b'=' => {
            let n: i64 = std::str::from_utf8(head).ok()?.parse().ok()?;
            if n < 0 {
                return Some((after, false));
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some((end, false))
        }
        b'*' => {
            let n: i64 = std::str::from_utf8(head).ok()?.parse().ok()?;
            let mut at = after;
            for _ in 0..n.max(0) {
                let (l, _) = reply_len(&buf[at..])?;
                at += l;
            }
            Some((at, false))
        }
        _ => Some((after, true)),
    }
}

/// Sends one command and returns its whole reply.
async fn roundtrip(conn: &mut TcpStream, req: &[u8]) -> std::io::Result<Vec<u8>> {
    conn.write_all(req).await?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    loop {
        if let Some((l, _)) = reply_len(&buf) {
            buf.truncate(l);
            return Ok(buf);
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// (hits, misses) of the hot-key cache from INFO stats, if the server reports them.
async fn cache_counters(o: &Opts) -> Option<(u64, u64)> {
    let mut c = TcpStream::connect((o.host.as_str(), o.port)).await.ok()?;
    let reply = roundtrip(&mut c, b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&reply);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
    };
    Some((field("hot_cache_hits")?, field("hot_cache_misses")?))
}

fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse::<u64>().ok()
    })
}

/// Fills key:0..n-1 with SETs, 128 to a pipeline, over the configured connections.
async fn load(o: &Opts) -> std::io::Result<()> {
    let start = Instant::now();
    let per = o.keys.div_ceil(o.connections as u64);
    let mut tasks = Vec::new();
    for c in 0..o.connections as u64 {
        let (lo, hi) = (c * per, ((c + 1) * per).min(o.keys));
        if lo >= hi {
            break;
        }
        let o = o.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect((o.host.as_str(), o.port)).await?;
            conn.set_nodelay(true)?;
            let mut out = Vec::new();
            let mut rd = Vec::new();
            let mut value = Vec::new();
            let mut i = lo;
            while i < hi {
                out.clear();
                let end = (i + 128).min(hi);
                for k in i..end {
                    value_of(&mut value, o.value_size, k);
                    push_set(&mut out, key_of(k).as_bytes(), &value);
                }
                conn.write_all(&out).await?;
                read_replies(&mut conn, &mut rd, (end - i) as usize).await?;
                i = end;
            }
            Ok::<_, std::io::Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(std::io::Error::other)??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "loaded {} keys of {} bytes in {:.1} s ({:.0} SET/s)",
        o.keys,
        o.value_size,
        secs,
        o.keys as f64 / secs
    );
    Ok(())
}

/// Reads until `n` replies have arrived; returns how many were errors. `buf` keeps any excess.
async fn read_replies(conn: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> std::io::Result<usize> {
    let mut got = 0;
    let mut errors = 0;
    let mut chunk = [0u8; 65536];
    while got < n {
        let mut at = 0;
        while got < n {
            match reply_len(&buf[at..]) {
                Some((l, err)) => {
                    at += l;
                    got += 1;
                    errors += usize::from(err);
                }
                None => break,
            }
        }
        buf.drain(..at);
        if got == n {
            break;
        }
        let r = conn.read(&mut chunk).await?;
        if r == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..r]);
    }
    Ok(errors)
}

/// Latencies in nanoseconds of one connection: all requests, and those on hot keys.
#[derive(Default)]
struct Samples {
    all: Vec<u64>,
    hot: Vec<u64>,
    errors: usize,
}

async fn worker(
    o: Arc<Opts>,
    id: u64,
    chooser: Arc<Chooser>,
    budget: Arc<AtomicU64>,
    deadline: Option<Instant>,
    measuring: Arc<AtomicBool>,
) -> std::io::Result<Samples> {
    let mut conn = TcpStream::connect((o.host.as_str(), o.port)).await?;
    conn.set_nodelay(true)?;
    let mut rng = SmallRng::seed_from_u64(o.seed.wrapping_mul(1_000_003).wrapping_add(id));
    let mut value = Vec::new();
    let mut out = Vec::new();
    let mut rd = Vec::new();
    let mut hot_flags = Vec::with_capacity(o.pipeline);
    let mut s = Samples::default();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let is_measuring = measuring.load(Ordering::Relaxed);
        if deadline.is_none() && is_measuring {
            let take = o.pipeline as u64;
            if budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    b.checked_sub(take)
                })
                .is_err()
            {
                break;
            }
        }
        out.clear();
        hot_flags.clear();
        for _ in 0..o.pipeline {
            let (k, hot) = chooser.pick(&mut rng);
            let key = key_of(k);
            let get = match o.op {
                Op::Get => true,
                Op::Set => false,
                Op::Mix(f) => rng.random::<f64>() < f,
            };
            if get {
                push_get(&mut out, key.as_bytes());
            } else {
                value_of(&mut value, o.value_size, k);
                push_set(&mut out, key.as_bytes(), &value);
            }
            hot_flags.push(hot);
        }
        let sent = Instant::now();
        conn.write_all(&out).await?;
        let errors = read_replies(&mut conn, &mut rd, o.pipeline).await?;
        let ns = sent.elapsed().as_nanos() as u64;
        if is_measuring {
            s.errors += errors;
            for &hot in &hot_flags {
                s.all.push(ns);
                if hot {
                    s.hot.push(ns);
                }
            }
        }
    }
    Ok(s)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

async fn run(o: Opts) -> std::io::Result<()> {
    if o.load {
        return load(&o).await;
    }
    let o = Arc::new(o);
    let chooser = Arc::new(Chooser::new(o.keys, o.dist));
    let measuring = Arc::new(AtomicBool::new(o.warmup <= 0.0));
    let budget = Arc::new(AtomicU64::new(o.requests));
    let by_time = o.requests == 0;
    let total_secs = o.warmup.max(0.0) + if by_time { o.seconds } else { 0.0 };
    let deadline = by_time.then(|| Instant::now() + Duration::from_secs_f64(total_secs));
    // RSS sampler: the highest VmRSS seen while the measured phase runs.
    let peak_run = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = o.server_pid.map(|pid| {
        let (peak, done, measuring) = (peak_run.clone(), done.clone(), measuring.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if measuring.load(Ordering::Relaxed) {
                    if let Some(kb) = proc_kb(pid, "VmRSS") {
                        peak.fetch_max(kb * 1024, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });
    let mut before = None;
    if o.warmup > 0.0 {
        let (m, o2) = (measuring.clone(), o.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(o2.warmup)).await;
            m.store(true, Ordering::Relaxed);
        });
    } else {
        before = cache_counters(&o).await;
    }
    let tasks: Vec<_> = (0..o.connections as u64)
        .map(|id| {
            tokio::spawn(worker(
                o.clone(),
                id,
                chooser.clone(),
                budget.clone(),
                deadline,
                measuring.clone(),
            ))
        })
        .collect();
    let mut start = Instant::now();
    if o.warmup > 0.0 {
        while !measuring.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        before = cache_counters(&o).await;
        start = Instant::now();
    }
    let mut all = Vec::new();
    let mut hot = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let s = t.await.map_err(std::io::Error::other)??;
        all.extend(s.all);
        hot.extend(s.hot);
        errors += s.errors;
    }
    let secs = start.elapsed().as_secs_f64();
    let after = cache_counters(&o).await;
    done.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.await;
    }
    all.sort_unstable();
    hot.sort_unstable();
    let rps = all.len() as f64 / secs;
    let hit_ratio = match (before, after) {
        (Some((h0, m0)), Some((h1, m1))) if h1 + m1 > h0 + m0 => {
            format!("{:.4}", (h1 - h0) as f64 / ((h1 + m1) - (h0 + m0)) as f64)
        }
        _ => "n/a".to_string(),
    };
    let hwm = o
        .server_pid
        .and_then(|p| proc_kb(p, "VmHWM"))
        .map_or(0, |kb| kb * 1024);
    let mb = |b: u64| format!("{:.1}", b as f64 / (1 << 20) as f64);
    println!(
        "{} requests in {:.2} s: {:.0} req/s; latency us p50 {:.0} p99 {:.0} p99.9 {:.0}; \
         hot keys p50 {:.0} p99 {:.0} p99.9 {:.0}; cache hit ratio {}; server RSS peak {} MB \
         (during run {} MB); errors {}",
        all.len(),
        secs,
        rps,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 0.999),
        percentile(&hot, 0.5),
        percentile(&hot, 0.99),
        percentile(&hot, 0.999),
        hit_ratio,
        mb(hwm),
        mb(peak_run.load(Ordering::Relaxed)),
        errors
    );
    println!(
        "RESULT rps={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} hot_p50_us={:.1} hot_p99_us={:.1} \
         hot_p999_us={:.1} hit_ratio={} rss_hwm={} rss_run_peak={} errors={}",
        rps,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 0.999),
        percentile(&hot, 0.5),
        percentile(&hot, 0.99),
        percentile(&hot, 0.999),
        hit_ratio,
        hwm,
        peak_run.load(Ordering::Relaxed),
        errors
    );
    Ok(())
}

fn main() {
    let o = parse_args();
    // One client thread: the load generator shares the machine with the server, and one thread
    // keeps its share of the CPU the same from run to run.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(o)) {
        eprintln!("basalt-loadgen: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_framed() {
        assert_eq!(reply_len(b"+OK\r\n"), Some((5, false)));
        assert_eq!(reply_len(b"-ERR x\r\n"), Some((8, true)));
        assert_eq!(reply_len(b"$-1\r\n"), Some((5, false)));
        assert_eq!(reply_len(b"$3\r\nabc\r\n+OK"), Some((9, false)));
        assert_eq!(reply_len(b"$3\r\nab"), None);
        assert_eq!(reply_len(b"*2\r\n:1\r\n$1\r\nx\r\n"), Some((15, false)));
        assert_eq!(reply_len(b"*2\r\n:1\r\n"), None);
    }

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let z = Zipf::new(1000, 0.99);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0u32; 1001];
        for _ in 0..100_000 {
            let r = z.sample(&mut rng);
            assert!((1..=1000).contains(&r));
            counts[r as usize] += 1;
        }
        // Rank 1 is about twice as frequent as rank 2 and ~10x rank 10.
        assert!(counts[1] > counts[2] * 3 / 2 && counts[1] < counts[2] * 3);
        assert!(counts[1] > counts[10] * 6);
    }

    #[test]
    fn chooser_covers_the_key_space_and_splits_hot_and_cold() {
        let c = Chooser::new(1000, Dist::Uniform);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50_000 {
            let (k, _) = c.pick(&mut rng);
            assert!(k < 1000);
            seen.insert(k);
        }
        assert_eq!(seen.len(), 1000);
        let c = Chooser::new(
            1000,
            Dist::HotCold {
                frac: 0.9,
                hot: 0.01,
            },
        );
        let (mut hot, mut keys) = (0, std::collections::HashSet::new());
        for _ in 0..10_000 {
            let (k, h) = c.pick(&mut rng);
            if h {
                hot += 1;
                keys.insert(k);
            }
        }
        assert!((8_500..9_500).contains(&hot));
        assert_eq!(keys.len(), 10);
    }
}
