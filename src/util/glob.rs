//! Redis glob-style matching (KEYS, SCAN MATCH, PSUBSCRIBE, ...).
//!
//! A line-by-line port of Redis 7.0's `stringmatchlen` (src/util.c),
//! quirks included, because clients can see every difference in which keys a
//! pattern selects. Where the C code reads one byte past the end of the
//! pattern it sees the terminating NUL of its string; [`byte_at`] reproduces
//! that by returning 0 past the end.

/// Redis gives up (reports "no match") beyond this many nested `*`s; it bounds
/// recursion depth, and matching it keeps results identical.
const MAX_NESTING: u32 = 1000;

/// Reports whether `string` matches the glob `pattern`, exactly as Redis 7.0's
/// `stringmatchlen(pattern, string, nocase)`.
///
/// Syntax: `*` (any run), `?` (one byte), `[abc]`, `[^abc]`, `[a-z]` (ends may
/// be reversed), `\x` (literal `x`, also inside brackets). With `nocase`,
/// ASCII letters compare case-insensitively, except a `\`-escaped byte inside
/// brackets, which Redis compares exactly. Quirks kept from Redis:
/// - an empty `string` matches only an empty pattern (`*` does not match it);
/// - an unclosed `[` class runs to the end of the pattern (`[a` matches `a`);
/// - `[]` never matches, and `[^]` (or a trailing `[^`) matches any byte;
/// - range ends compare as C `char`, which is signed on x86-64, so bytes
///   0x80..=0xFF sort below ASCII (`[a-\xff]` covers 0x00..=`a` and 0xFF);
/// - more than 1000 nested `*` groups make the match fail.
///
/// Runs in O(len(pattern) * len(string)): once the tail after a `*` has
/// failed at every position of the string, no earlier `*` can help, so the
/// whole search stops (Redis's `skipLongerMatches`).
#[must_use]
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, string, nocase, &mut skip_longer_matches, 0)
}

/// `pattern[i]`, or the C string terminator (0) past the end.
fn byte_at(pattern: &[u8], i: usize) -> u8 {
    pattern.get(i).copied().unwrap_or(0)
}

/// C `tolower` on a (possibly negative) `char` value in the "C" locale.
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// A byte as C's signed `char` (x86-64), for range comparisons.
fn signed_char(b: u8) -> i32 {
    i32::from(b as i8)
}

fn bytes_eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn match_impl(
    pattern: &[u8],
    string: &[u8],
    nocase: bool,
    skip_longer_matches: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let plen = pattern.len();
    // Invariants: p <= plen, s <= string.len().
    let mut p = 0usize;
    let mut s = 0usize;
    while p < plen && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p < plen && byte_at(pattern, p + 1) == b'*' {
                    p += 1;
                }
                if plen - p == 1 {
                    return true;
                }
                while s < string.len() {
                    if match_impl(
                        &pattern[p + 1..],
                        &string[s..],
                        nocase,
                        skip_longer_matches,
                        nesting + 1,
                    ) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    s += 1;
                }
                // The rest of the pattern matches nowhere in the rest of the
                // string, so letting an earlier `*` swallow more cannot help.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                let c = string[s];
                p += 1;
                let not = byte_at(pattern, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let rem = plen - p;
                    let pc = byte_at(pattern, p);
                    if pc == b'\\' && rem >= 2 {
                        p += 1;
                        // Escaped bytes compare exactly, even with nocase.
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if pc == b']' {
                        break;
                    } else if rem == 0 {
                        // Unclosed class: step back so the shared advance
                        // below lands exactly on the end of the pattern.
                        p -= 1;
                        break;
                    } else if rem >= 3 && pattern[p + 1] == b'-' {
                        let mut start = signed_char(pattern[p]);
                        let mut end = signed_char(pattern[p + 2]);
                        let mut ch = signed_char(c);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = c_tolower(start);
                            end = c_tolower(end);
                            ch = c_tolower(ch);
                        }
                        p += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if bytes_eq(pc, c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            first => {
                let mut pc = first;
                if first == b'\\' && plen - p >= 2 {
                    p += 1;
                    pc = pattern[p];
                }
                if !bytes_eq(pc, string[s], nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while byte_at(pattern, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p == plen && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    /// (pattern, string, expected) with nocase = false; every row was checked
    /// against `KEYS pattern` on redis-server 7.0.15. (`KEYS *` itself skips
    /// matching and lists every key, even "", which `*` does not match.)
    const CASE_SENSITIVE: &[(&[u8], &[u8], bool)] = &[
        (b"*", b"anything", true),
        (b"**", b"", false),
        (b"", b"", true),
        (b"", b"a", false),
        (b"a", b"", false),
        (b"a*", b"a", true),
        (b"a*", b"ab", true),
        (b"a*", b"ba", false),
        (b"*a", b"ba", true),
        (b"h?llo", b"hello", true),
        (b"h?llo", b"hllo", false),
        (b"?", b"\x00", true),
        (b"?", b"ab", false),
        (b"*?", b"a", true),
        (b"h*llo", b"heeeello", true),
        (b"h[ae]llo", b"hallo", true),
        (b"h[ae]llo", b"hillo", false),
        (b"h[^e]llo", b"hallo", true),
        (b"h[^e]llo", b"hello", false),
        (b"h[a-b]llo", b"hbllo", true),
        (b"h[a-b]llo", b"hcllo", false),
        (b"[z-a]", b"a", true),
        (b"[z-a]", b"m", true),
        (b"[A-a]", b"[", true),
        (b"[A-a]", b"b", false),
        (b"[a-]", b"]", true),
        (b"[a-]", b"^", true),
        (b"[a-]", b"-", false),
        (b"[-a]", b"-", true),
        (b"[a", b"a", true),
        (b"[^a", b"a", false),
        (b"[^a", b"b", true),
        (b"[", b"[", false),
        (b"[^", b"x", true),
        (b"[]", b"]", false),
        (b"[]]", b"]", false),
        (b"[^]", b"]", true),
        (b"[\\]", b"]", true),
        (b"[\\", b"\\", true),
        (b"[\\]]", b"]", true),
        (b"[\\-]", b"-", true),
        (b"\\", b"\\", true),
        (b"a\\", b"a\\", true),
        (b"a\\", b"a", false),
        (b"\\*", b"*", true),
        (b"\\*", b"a", false),
        (b"\\?", b"?", true),
        (b"\\[a]", b"[a]", true),
        (b"*\\", b"\\", true),
        (b"[\x00]", b"\x00", true),
        (b"\x00", b"\x00", true),
        (b"[\x80-\xff]", b"\x80", true),
        (b"[\x80-\xff]", b"\xff", true),
        (b"[\x80-\xff]", b"a", false),
        // C `char` is signed: 0xff is -1, so this range is -1..='a'.
        (b"[a-\xff]", b"\xff", true),
        (b"[a-\xff]", b"\x00", true),
        (b"[a-\xff]", b"A", true),
        (b"[a-\xff]", b"\x80", false),
        (b"[a-\xff]", b"b", false),
        (b"Hello", b"hello", false),
        (b"*.txt", b"file.txt", true),
        (b"*.txt", b"file.txt.bak", false),
        (b"user:*:name", b"user:42:name", true),
        (b"user:*:name", b"user:42:email", false),
        (b"*a*b*c*", b"xaybzc", true),
        (b"*a*b*c*", b"xaybz", false),
    ];

    #[test]
    fn matches_redis_keys() {
        for &(p, s, want) in CASE_SENSITIVE {
            assert_eq!(
                glob_match(p, s, false),
                want,
                "pattern {:?} string {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn nocase() {
        // Checked with `CONFIG GET pattern` (which matches case-insensitively).
        assert!(glob_match(b"MAXMEM*", b"maxmemory", true));
        assert!(!glob_match(b"MAXMEM*", b"maxmemory", false));
        assert!(glob_match(b"*[M]*", b"maxmemory", true));
        assert!(glob_match(b"[L-N]axmemory", b"maxmemory", true));
        assert!(glob_match(b"M?XMEMORY", b"maxmemory", true));
        // The range ends are swapped before lowering, so [Z-a] becomes
        // 'z'..='a': empty. Likewise [^A-Z] excludes every letter.
        assert!(!glob_match(b"[Z-a]axmemory", b"maxmemory", true));
        assert!(!glob_match(b"[^A-Z]*", b"maxmemory", true));
        // A backslash-escaped byte inside a class compares exactly.
        assert!(!glob_match(b"[\\M]axmemor?", b"maxmemory", true));
        assert!(glob_match(b"[\\m]AXMEMOR?", b"maxmemory", true));
        assert!(glob_match(b"\\MAXMEMOR?", b"maxmemory", true));
        // Redis itself: stringmatchlen("*", "") is false.
        assert!(!glob_match(b"*", b"", true));
    }

    #[test]
    fn nesting_limit_matches_redis() {
        // Against a 1200-byte "aaa...": Redis answers yes up to 1000 nested
        // '*' groups and no beyond (the 1001st recursion level gives up).
        let s = vec![b'a'; 1200];
        for (n, want) in [(999, true), (1000, true), (1001, false), (1002, false)] {
            assert_eq!(glob_match(&b"*a".repeat(n), &s, false), want, "*a x {n}");
        }
        for (n, want) in [(1000, true), (1001, true), (1002, false)] {
            assert_eq!(glob_match(&b"a*".repeat(n), &s, false), want, "a* x {n}");
        }
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let start = std::time::Instant::now();
        let s = vec![b'a'; 100_000];
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*a*a*a*b", &s, false));
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*?b", &s, true));
        assert!(glob_match(&[b'*'; 100_000], &s, false));
        assert!(!glob_match(&[b'*'; 100_000], b"", false));
        let mut stars = vec![b'*'; 100_000];
        stars.push(b'b');
        assert!(!glob_match(&stars, &s, false));
        // Deep nesting cannot overflow the stack: depth stops at 1000.
        assert!(!glob_match(&b"*a".repeat(50_000), &s, false));
        assert!(!glob_match(&b"*?".repeat(50_000), &s[..1000], false));
        let long_string: Vec<u8> = b"ab".repeat(20_000);
        assert!(!glob_match(b"*[ab]*[ab]*[ab]*[ab]*c", &long_string, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
