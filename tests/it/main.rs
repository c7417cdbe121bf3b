//! Integration tests for the `basalt` binary, in one test binary so RocksDB is linked once.
//!
//! Run: `CARGO_TARGET_DIR=$HOME/.cache/basalt-target cargo test --release --test it`
//! (add `-- --nocapture` to see the differential command counts).
//!
//! Modules:
//! - `harness`: start/stop/restart servers (Basalt and a reference redis-server), `raw` commands
//!   returning comparable `Reply` values, raw-socket helpers.
//! - `differential`: seeded random string/key/expiry command streams replayed on Basalt and on a
//!   real redis-server, replies compared exactly; plus a SCAN coverage test.
//! - `diff_hashes`, `diff_lists`, `diff_sets`, `diff_zsets`: the same, one generator per
//!   collection family.
//! - `diff_bitmaps`: bitmap commands (SETBIT ... BITFIELD) compared with redis-server.
//! - `bitmaps`: bitmap commands with their errors, a 512 MB sparse bitmap, and string values
//!   across the inline/fragmented switch (model, RENAME/COPY/MOVE/expiry/restart, DUMP, export).
//! - `diff_hll`: HyperLogLog commands and raw values compared byte for byte with redis-server.
//! - `geo`, `diff_geo`: GEO commands per command with their errors, RESP3 bytes, STORE keys,
//!   events; and a seeded random GEO stream (RESP2 and RESP3) compared with redis-server.
//! - `smoke`: basic end-to-end tests (PING, binary safety, persistence, kill -9, concurrency,
//!   malformed RESP, AUTH).
//! - `admin`, `concurrency`, `lists`: server commands, concurrent read-modify-writes, lists.
//! - `blocking`: BLPOP and friends with several clients (order, wake-ups, timeouts, cleanup).
//! - `pubsub`: SUBSCRIBE/PUBLISH and friends with several clients over RESP2 and RESP3, output
//!   buffer limits for slow subscribers, and a transcript compared with redis-server.
//! - `big_delete`: DEL of a 1,000,000-field hash and the compaction that reclaims it.
//! - `notifications`: keyspace notifications per family, flag filtering, expiry events,
//!   CONFIG round trip, and the event stream compared with redis-server.
//! - `transactions`, `diff_transactions`: MULTI/EXEC/WATCH, isolation from concurrent readers,
//!   and random transactions compared with redis-server.
//! - `acl`, `tracking`: ACL users and client-side caching, transcripts compared with redis-server.
//! - `redis_py`: redis-py's client classes driven against Basalt.
//! - `ops`: SLOWLOG, LATENCY, MONITOR, CLIENT PAUSE, DEBUG and MEMORY.
//! - `rdb`: `basalt-rdb` import/export/inspect and DUMP/RESTORE against redis-server.
//! - `cache`: the hot-key cache against a model under concurrent writes, cache on/off
//!   differential, the memory budget's RSS bound, CONFIG SET maxmemory.
//! - `streams`, `diff_streams`: stream commands with their errors, blocking reads, RESP3,
//!   notifications, and random command streams compared with redis-server.
//! - `scripting`, `diff_scripting`: EVAL/FCALL and friends, BUSY and SCRIPT KILL with several
//!   clients, functions across a restart; a corpus of scripts and function libraries compared
//!   with redis-server.

mod acl;
mod admin;
mod big_delete;
mod bitmaps;
mod blocking;
mod cache;
mod concurrency;
mod diff_bitmaps;
mod diff_geo;
mod diff_hashes;
mod diff_hll;
mod diff_lists;
mod diff_scripting;
mod diff_sets;
mod diff_streams;
mod diff_transactions;
mod diff_zsets;
mod differential;
mod geo;
mod harness;
mod lists;
mod notifications;
mod ops;
mod pubsub;
mod rdb;
mod redis_py;
mod scripting;
mod smoke;
mod streams;
mod tracking;
mod transactions;
