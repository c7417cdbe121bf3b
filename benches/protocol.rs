//! Protocol hot path: framing a pipelined burst of requests, encoding replies, and the command
//! table lookup that dispatch does for every request.
//!
//! Run with `cargo bench --bench protocol` (the bench profile inherits `release`).

use basalt::commands::Table;
use basalt::protocol::request::{Limits, RequestParser, Step};
use basalt::protocol::Reply;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const PIPELINE: usize = 16;
const VALUE_LEN: usize = 64;

const LIMITS: Limits = Limits {
    max_bulk_len: 512 * 1024 * 1024,
    authenticated: true,
};

/// `PIPELINE` requests `SET key:<n> <64-byte value>` back to back, as redis-benchmark -P 16 sends.
fn set_pipeline() -> Vec<u8> {
    let value = [b'x'; VALUE_LEN];
    let mut buf = Vec::new();
    for n in 0..PIPELINE {
        let key = format!("key:{n:012}");
        buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        buf.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        buf.extend_from_slice(format!("${VALUE_LEN}\r\n").as_bytes());
        buf.extend_from_slice(&value);
        buf.extend_from_slice(b"\r\n");
    }
    buf
}

/// Frames every request in `buf` the way the connection loop does; returns (requests, args seen).
fn parse_basalt(parser: &mut RequestParser, buf: &[u8]) -> (usize, usize) {
    let (mut off, mut requests, mut args) = (0, 0, 0);
    loop {
        match parser.parse(&buf[off..], LIMITS) {
            Ok(Step::Request { consumed, .. }) => {
                requests += 1;
                args += black_box(parser.args()).len();
                off += consumed;
            }
            Ok(Step::Skip { consumed }) => off += consumed,
            Ok(Step::Incomplete) => return (requests, args),
            Err(e) => panic!("benchmark input rejected: {e}"),
        }
    }
}

/// The same buffer through redis-protocol's zero-copy (range) decoder.
fn parse_redis_protocol(buf: &[u8]) -> usize {
    let mut off = 0;
    let mut requests = 0;
    while let Some((frame, consumed)) =
        redis_protocol::resp2::decode::decode_range(&buf[off..]).expect("valid RESP")
    {
        black_box(&frame);
        requests += 1;
        off += consumed;
    }
    requests
}

fn parsing(c: &mut Criterion) {
    let buf = set_pipeline();
    let mut parser = RequestParser::default();
    assert_eq!(parse_basalt(&mut parser, &buf), (PIPELINE, 3 * PIPELINE));
    assert_eq!(parse_redis_protocol(&buf), PIPELINE);

    let mut g = c.benchmark_group("parse_pipeline_16_set");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    g.bench_function("basalt_request_parser", |b| {
        b.iter(|| parse_basalt(&mut parser, black_box(&buf)))
    });
    g.bench_function("redis_protocol_decode_range", |b| {
        b.iter(|| parse_redis_protocol(black_box(&buf)))
    });
    g.finish();
}

fn encoding(c: &mut Criterion) {
    let array = Reply::Array(
        (0..PIPELINE)
            .map(|_| Reply::Bulk(Bytes::from(vec![b'x'; VALUE_LEN])))
            .collect(),
    );
    // The connection reuses one output buffer; so do we.
    let mut out = Vec::with_capacity(16 * 1024);
    let mut g = c.benchmark_group("reply_encode");
    g.bench_function("array_16_bulk_64", |b| {
        b.iter(|| {
            out.clear();
            black_box(&array).encode(&mut out, false);
            out.len()
        })
    });
    g.bench_function("ok", |b| {
        b.iter(|| {
            out.clear();
            black_box(&Reply::Ok).encode(&mut out, false);
            out.len()
        })
    });
    g.finish();
}

fn dispatch_lookup(c: &mut Criterion) {
    let table = Table::get();
    assert!(table.lookup(b"SET").is_some());
    c.bench_function("command_table_lookup_SET", |b| {
        b.iter(|| table.lookup(black_box(b"SET")).is_some())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = parsing, encoding, dispatch_lookup
}
criterion_main!(benches);
