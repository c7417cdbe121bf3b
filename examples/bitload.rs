//! A small load generator in the manner of `redis-benchmark`, for commands whose random numbers
//! must be plain integers: redis-benchmark replaces `__rand_int__` with a zero-padded 12-digit
//! number, which SETBIT, GETBIT and BITFIELD refuse as an offset (`000000123456` is not an
//! integer to Redis). Here `__rand_int__` becomes a uniform random integer in `[0, range)`
//! written without padding.
//!
//! ```text
//! cargo run --release --example bitload -- --port 6379 -c 50 -n 200000 -P 1 -r 1000000 \
//!     SETBIT bitmap __rand_int__ 1
//! ```
//! Prints one line: `<requests/s> <requests> <seconds>`. Exits non-zero if any reply was an
//! error (and prints the first one), so a refused command is never reported as a throughput.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Options {
    host: String,
    port: u16,
    clients: usize,
    requests: u64,
    pipeline: usize,
    range: u64,
    command: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: bitload [--host H] [--port P] [-c clients] [-n requests] [-P pipeline] \
         [-r range] COMMAND ARGS... (__rand_int__ is replaced by a random integer below range)"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 6379,
        clients: 50,
        requests: 100_000,
        pipeline: 1,
        range: 1_000_000,
        command: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--host" | "-h" => o.host = value(),
            "--port" | "-p" => o.port = value().parse().unwrap_or_else(|_| usage()),
            "-c" => o.clients = value().parse().unwrap_or_else(|_| usage()),
            "-n" => o.requests = value().parse().unwrap_or_else(|_| usage()),
            "-P" => o.pipeline = value().parse().unwrap_or_else(|_| usage()),
            "-r" => o.range = value().parse().unwrap_or_else(|_| usage()),
            _ => {
                o.command.push(a);
                o.command.extend(args.by_ref());
            }
        }
    }
    if o.command.is_empty() || o.clients == 0 || o.pipeline == 0 || o.range == 0 {
        usage();
    }
    o
}

/// xorshift64*: fast, and good enough to spread offsets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Appends one request, with `__rand_int__` replaced, in RESP.
fn encode(out: &mut Vec<u8>, command: &[String], rng: &mut Rng, range: u64) {
    out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
    for word in command {
        let arg = if word.contains("__rand_int__") {
            word.replace("__rand_int__", &rng.below(range).to_string())
        } else {
            word.clone()
        };
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The length of the complete reply at the start of `b`, or None if more bytes are needed.
/// The second value is the text of the first error inside it, if any.
fn reply_len(b: &[u8]) -> Option<(usize, Option<String>)> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let line = &b[1..line_end];
    let head = line_end + 2;
    let number = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    match b.first()? {
        b'+' | b':' | b'_' | b',' | b'#' => Some((head, None)),
        b'-' => Some((head, Some(String::from_utf8_lossy(line).into_owned()))),
        b'$' => {
            let n = number()?;
            if n < 0 {
                return Some((head, None));
            }
            let end = head + n as usize + 2;
            (b.len() >= end).then_some((end, None))
        }
        b'*' | b'%' | b'~' => {
            let mut n = number()?.max(0) as usize;
            if b[0] == b'%' {
                n *= 2;
            }
            let mut at = head;
            let mut first_err = None;
            for _ in 0..n {
                let (len, e) = reply_len(&b[at..])?;
                first_err = first_err.or(e);
                at += len;
            }
            Some((at, first_err))
        }
        _ => Some((head, Some("unparsable reply".into()))),
    }
}

fn client(o: &Options, requests: u64, seed: u64, error: &Mutex<Option<String>>) -> u64 {
    let mut s = TcpStream::connect((o.host.as_str(), o.port)).unwrap_or_else(|e| {
        eprintln!("bitload: cannot connect to {}:{}: {e}", o.host, o.port);
        std::process::exit(1)
    });
    let _ = s.set_nodelay(true);
    let mut rng = Rng(seed | 1);
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    let mut done = 0;
    while done < requests {
        let batch = (o.pipeline as u64).min(requests - done);
        out.clear();
        for _ in 0..batch {
            encode(&mut out, &o.command, &mut rng, o.range);
        }
        if s.write_all(&out).is_err() {
            break;
        }
        let mut got = 0;
        while got < batch {
            match reply_len(&buf) {
                Some((len, err)) => {
                    if let Some(e) = err {
                        error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                    }
                    buf.drain(..len);
                    got += 1;
                }
                None => match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return done + got,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                },
            }
        }
        done += batch;
    }
    done
}

fn main() {
    let o = Arc::new(parse_args());
    let error = Arc::new(Mutex::new(None));
    let total = Arc::new(AtomicU64::new(0));
    let per = o.requests / o.clients as u64;
    let extra = o.requests % o.clients as u64;
    let started = Instant::now();
    let threads: Vec<_> = (0..o.clients)
        .map(|i| {
            let (o, error, total) = (o.clone(), error.clone(), total.clone());
            let n = per + u64::from((i as u64) < extra);
            std::thread::spawn(move || {
                let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1);
                total.fetch_add(client(&o, n, seed, &error), Ordering::Relaxed);
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let secs = started.elapsed().as_secs_f64();
    let n = total.load(Ordering::Relaxed);
    if let Some(e) = error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        eprintln!("bitload: the server replied with an error: {e}");
        std::process::exit(1);
    }
    if n < o.requests {
        eprintln!("bitload: only {n} of {} requests completed", o.requests);
        std::process::exit(1);
    }
    println!("{:.0} {n} {secs:.3}", n as f64 / secs);
}
