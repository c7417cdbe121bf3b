//! Script bodies by SHA1, for EVALSHA, SCRIPT LOAD/EXISTS/FLUSH.
//!
//! Bodies are shared by every thread; each thread's Lua state compiles a body once and keeps
//! the compiled function (see `engine`), so EVALSHA never recompiles. Memory is bounded: past
//! [`MAX_EVAL_SCRIPTS`] scripts or [`MAX_EVAL_BYTES`] bytes that arrived by EVAL, the least
//! recently used of those are forgotten (an EVALSHA of one answers NOSCRIPT and clients fall back
//! to EVAL, as they do after a restart). Scripts loaded with SCRIPT LOAD are kept until SCRIPT
//! FLUSH, as in Redis.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// EVAL-loaded scripts kept before the least recently used are forgotten.
pub const MAX_EVAL_SCRIPTS: usize = 10_000;
/// Bytes of EVAL-loaded script bodies kept before the least recently used are forgotten.
pub const MAX_EVAL_BYTES: usize = 64 << 20;

/// Script flags from an EVAL shebang (`#!lua flags=...`) or a function's registration.
pub mod flags {
    /// `no-writes`: the script may not call write commands.
    pub const NO_WRITES: u32 = 1 << 0;
    /// `allow-oom`.
    pub const ALLOW_OOM: u32 = 1 << 1;
    /// `allow-stale`.
    pub const ALLOW_STALE: u32 = 1 << 2;
    /// `no-cluster`.
    pub const NO_CLUSTER: u32 = 1 << 3;
    /// `allow-cross-slot-keys`.
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// A script without a shebang: Redis 6 compatible, writes allowed unless run by EVAL_RO.
    pub const EVAL_COMPAT: u32 = 1 << 5;

    /// Flag names in Redis's order (FUNCTION LIST).
    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    /// The flag a name stands for.
    pub fn by_name(name: &[u8]) -> Option<u32> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|&(f, _)| f)
    }
}

/// A script known by its SHA1.
pub struct Script {
    pub sha: [u8; 40],
    pub body: Arc<[u8]>,
    /// Shebang flags ([`flags`]).
    pub flags: u32,
    /// Bytes of the shebang line, which are not compiled (its newline is, keeping line numbers).
    pub shebang_len: usize,
    /// Loaded by SCRIPT LOAD: never forgotten before SCRIPT FLUSH.
    pinned: bool,
    last_used: AtomicU64,
}

impl Script {
    /// A script not (yet) in the cache, to compile before it is added.
    pub fn new(sha: [u8; 40], body: &[u8], flags: u32, shebang_len: usize) -> Script {
        Script {
            sha,
            body: Arc::from(body),
            flags,
            shebang_len,
            pinned: false,
            last_used: AtomicU64::new(0),
        }
    }

    /// The Lua source to compile.
    pub fn code(&self) -> &[u8] {
        &self.body[self.shebang_len..]
    }
}

/// Parses an EVAL script's shebang (Redis 7's `evalExtractShebangFlags`): the flags and the
/// length of the line, or the error Redis answers. A body without a shebang is compatible mode.
pub fn parse_shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, 0));
    }
    let end = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| "ERR Invalid script shebang".to_string())?;
    let line = &body[..end];
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        ));
    }
    let mut out = 0;
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        for name in list.split(|&b| b == b',').filter(|n| !n.is_empty()) {
            out |= flags::by_name(name).ok_or_else(|| {
                format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(name)
                )
            })?;
        }
    }
    Ok((out, end))
}

#[derive(Default)]
struct Inner {
    scripts: HashMap<[u8; 40], Arc<Script>>,
    /// Bytes of bodies that arrived by EVAL (not pinned).
    eval_bytes: usize,
    eval_count: usize,
}

/// The shared table of script bodies.
#[derive(Default)]
pub struct ScriptCache {
    inner: RwLock<Inner>,
    clock: AtomicU64,
    /// Bumped by SCRIPT FLUSH: threads drop their compiled functions when they see a new value.
    generation: AtomicU64,
}

impl ScriptCache {
    /// The script with this SHA1 (40 hex digits, any case), marking it used.
    pub fn get(&self, sha: &[u8]) -> Option<Arc<Script>> {
        let key = normalize(sha)?;
        let inner = self.inner.read();
        let script = inner.scripts.get(&key)?;
        script.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        Some(Arc::clone(script))
    }

    /// Whether a script with this SHA1 is known.
    pub fn contains(&self, sha: &[u8]) -> bool {
        normalize(sha).is_some_and(|k| self.inner.read().scripts.contains_key(&k))
    }

    /// Adds a script whose body compiled (`pinned` for SCRIPT LOAD) and returns it; an existing
    /// entry is kept (and pinned if asked).
    pub fn insert(
        &self,
        sha: [u8; 40],
        body: &[u8],
        flags: u32,
        shebang_len: usize,
        pinned: bool,
    ) -> Arc<Script> {
        let mut inner = self.inner.write();
        if let Some(existing) = inner.scripts.get(&sha) {
            if pinned && !existing.pinned {
                let upgraded = Arc::new(Script {
                    sha,
                    body: Arc::clone(&existing.body),
                    flags: existing.flags,
                    shebang_len: existing.shebang_len,
                    pinned: true,
                    last_used: AtomicU64::new(self.clock.fetch_add(1, Ordering::Relaxed)),
                });
                inner.eval_bytes -= existing.body.len();
                inner.eval_count -= 1;
                inner.scripts.insert(sha, Arc::clone(&upgraded));
                return upgraded;
            }
            return Arc::clone(existing);
        }
        let script = Arc::new(Script {
            sha,
            body: Arc::from(body),
            flags,
            shebang_len,
            pinned,
            last_used: AtomicU64::new(self.clock.fetch_add(1, Ordering::Relaxed)),
        });
        inner.scripts.insert(sha, Arc::clone(&script));
        if !pinned {
            inner.eval_bytes += body.len();
            inner.eval_count += 1;
            if inner.eval_count > MAX_EVAL_SCRIPTS || inner.eval_bytes > MAX_EVAL_BYTES {
                evict(&mut inner, &sha);
            }
        }
        script
    }

    /// SCRIPT FLUSH.
    pub fn flush(&self) {
        *self.inner.write() = Inner::default();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Changes with every SCRIPT FLUSH.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Number of scripts (INFO memory's `number_of_cached_scripts`).
    pub fn len(&self) -> usize {
        self.inner.read().scripts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of script bodies held.
    pub fn bytes(&self) -> usize {
        self.inner
            .read()
            .scripts
            .values()
            .map(|s| s.body.len())
            .sum()
    }
}

/// Forgets the least recently used quarter of the EVAL-loaded scripts (never `keep`, the one
/// just added).
fn evict(inner: &mut Inner, keep: &[u8; 40]) {
    let mut candidates: Vec<(u64, [u8; 40], usize)> = inner
        .scripts
        .values()
        .filter(|s| !s.pinned && &s.sha != keep)
        .map(|s| (s.last_used.load(Ordering::Relaxed), s.sha, s.body.len()))
        .collect();
    candidates.sort_unstable();
    let target = (inner.eval_count / 4).max(1);
    for (_, sha, len) in candidates.into_iter().take(target) {
        inner.scripts.remove(&sha);
        inner.eval_bytes -= len;
        inner.eval_count -= 1;
    }
}

/// A SHA1 as the table's key: 40 hex digits, lowercased; None for anything else.
fn normalize(sha: &[u8]) -> Option<[u8; 40]> {
    let arr: [u8; 40] = sha.try_into().ok()?;
    Some(arr.map(|c| c.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_parse_as_redis_does() {
        assert_eq!(parse_shebang(b"return 1"), Ok((flags::EVAL_COMPAT, 0)));
        assert_eq!(parse_shebang(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(
            parse_shebang(b"#!lua  flags=no-writes,allow-oom  \nx"),
            Ok((flags::NO_WRITES | flags::ALLOW_OOM, 34))
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=bad\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse_shebang(b"#!lua name=x\n").unwrap_err(),
            "ERR Unknown lua shebang option: name=x"
        );
        assert_eq!(
            parse_shebang(b"#! lua\n").unwrap_err(),
            "ERR Unexpected engine in script shebang: #!"
        );
        assert_eq!(
            parse_shebang(b"#!lua").unwrap_err(),
            "ERR Invalid script shebang"
        );
    }

    #[test]
    fn eval_scripts_are_bounded_and_loaded_ones_pinned() {
        let cache = ScriptCache::default();
        let pinned = crate::scripting::sha1_hex(b"pinned");
        cache.insert(pinned, b"pinned", 0, 0, true);
        for i in 0..MAX_EVAL_SCRIPTS + 10 {
            let body = format!("return {i}");
            let sha = crate::scripting::sha1_hex(body.as_bytes());
            cache.insert(sha, body.as_bytes(), 0, 0, false);
        }
        assert!(cache.len() <= MAX_EVAL_SCRIPTS + 1);
        assert!(cache.contains(&pinned));
        // The most recent one survives; the oldest went.
        let last = format!("return {}", MAX_EVAL_SCRIPTS + 9);
        assert!(cache.contains(&crate::scripting::sha1_hex(last.as_bytes())));
        assert!(!cache.contains(&crate::scripting::sha1_hex(b"return 0")));
        // Case-insensitive lookup, wrong lengths refused.
        let upper = pinned.map(|c| c.to_ascii_uppercase());
        assert!(cache.get(&upper).is_some());
        assert!(cache.get(b"abc").is_none());
        let g = cache.generation();
        cache.flush();
        assert!(cache.is_empty() && cache.generation() != g);
    }
}
