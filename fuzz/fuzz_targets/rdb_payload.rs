//! Fuzzes the DUMP payload reader (RESTORE's input): the same decoders as an RDB file, behind a
//! two-byte version and a CRC-64 trailer. The fuzzer cannot forge a CRC-64, so the target
//! frames the input itself: the first byte picks the RDB version, the rest is the object, and
//! the trailer is computed, so every input reaches the decoders. Any input must end in events
//! or an error.
#![no_main]

#[path = "../../src/rdb/mod.rs"]
#[allow(dead_code, unused_imports)]
mod rdb;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&version, body)) = data.split_first() else {
        return;
    };
    let mut payload = Vec::with_capacity(body.len() + 10);
    payload.extend_from_slice(body);
    payload.extend_from_slice(&u16::from(version % 13).to_le_bytes());
    let crc = rdb::crc64::crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let mut reader =
        rdb::reader::Reader::payload(&payload).expect("a framed payload passes the footer check");
    for _ in 0..(payload.len() + 16) * 4 {
        match reader.next() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("payload reader produced more events than its input can hold");
});
