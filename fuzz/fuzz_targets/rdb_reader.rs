//! Fuzzes the streaming RDB file reader: any input must end in events or an error, never a
//! panic, a hang or an allocation the input's length cannot justify.
//!
//! `src/rdb` depends on nothing but std, thiserror and itoa, so it is compiled here by path instead of
//! through the `basalt` crate: the fuzz build (with sanitizer flags) then never has to compile
//! RocksDB's C++ again.
#![no_main]

#[path = "../../src/rdb/mod.rs"]
#[allow(dead_code, unused_imports)]
mod rdb;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The fuzzer cannot forge a CRC-64, so half the inputs get the "no checksum" trailer (zero,
    // which Redis and the reader accept) to let the decoders behind the check see the bytes.
    let mut owned;
    let input = if data.first().is_some_and(|b| b & 1 == 1) && data.len() > 9 {
        owned = data.to_vec();
        let n = owned.len();
        owned[n - 8..].fill(0);
        &owned[..]
    } else {
        data
    };
    let Ok(mut reader) = rdb::Reader::new(input) else {
        return;
    };
    // Every event consumes input, so the loop ends; the bound is a guard against a regression
    // that would make it spin.
    for _ in 0..(input.len() + 16) * 4 {
        match reader.next() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("reader produced more events than its input can hold");
});
