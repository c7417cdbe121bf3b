//! Server-side Lua scripting: EVAL scripts and FUNCTION libraries, run by Lua 5.1 as Redis 7
//! embeds it.
//!
//! - [`engine`]: one Lua state per execution thread with Redis's sandbox (read-only globals and
//!   libraries, no `os`/`io`/`loadfile`/`dofile`), the `redis` API and the libraries Redis loads.
//!   Commands a script calls go through a [`engine::Host`] the command layer implements, so this
//!   module knows nothing of the command table.
//! - [`convert`]: Redis's conversion rules between replies and Lua values, RESP2 and RESP3.
//! - [`cache`]: script bodies by SHA1 (EVAL, SCRIPT LOAD), bounded.
//! - [`functions`]: FUNCTION libraries: metadata, the registry, persistence, DUMP payloads.
//! - [`busy`]: the running script as other clients see it (BUSY, SCRIPT KILL, FUNCTION KILL).
//! - `cjson`, `cmsgpack`, `structlib`, `bit`: the libraries Redis adds, written in Rust.

pub mod busy;
pub mod cache;
pub mod convert;
pub mod engine;
pub mod functions;

mod bit;
mod cjson;
mod cmsgpack;
mod fmt;
mod structlib;

use std::sync::Arc;

/// The server's scripting state, shared by every connection.
pub struct Scripts {
    /// Script bodies known to EVALSHA.
    pub cache: cache::ScriptCache,
    /// Function libraries.
    pub functions: functions::Registry,
    /// The script running now, if any.
    pub busy: Arc<busy::Busy>,
}

impl Scripts {
    /// Empty state; `threshold_ms` is `busy-reply-threshold`.
    pub fn new(threshold_ms: u64) -> Scripts {
        let busy = Arc::new(busy::Busy::default());
        busy.set_threshold(threshold_ms);
        Scripts {
            cache: cache::ScriptCache::default(),
            functions: functions::Registry::default(),
            busy,
        }
    }
}

/// The SHA1 of a script body as 40 lowercase hex digits, as EVALSHA names it.
pub fn sha1_hex(body: &[u8]) -> [u8; 40] {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(body);
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        // SHA1 of "return 1", as SCRIPT LOAD answers it.
        assert_eq!(
            &sha1_hex(b"return 1"),
            b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
        assert_eq!(&sha1_hex(b""), b"da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
