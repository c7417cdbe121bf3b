//! Byte layouts of keys and metadata values in the column families.
//!
//! Multi-byte integers are big-endian so RocksDB's bytewise order is the logical order. Every user
//! key lives under a one-byte (physical) database index.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `meta` | db · user key | [`Meta`] |
//! | `data` | db · keylen(u32) · user key · version(u64) · sub-key | type-specific |
//! | `zscore` | db · keylen(u32) · user key · version(u64) · score(8) · member | empty |
//! | `expire` | db · expire-at ms(u64) · user key | empty |
//! | `default` | server records (schema version, key counts, version high-water mark, db map) | |
//!
//! A stream's sub-keys start with a tag byte so each kind is one contiguous range: `1` entries
//! (`ms · seq`), `2` groups (by name), `3` consumers, `4` group PELs and `5` per-consumer PEL
//! indexes (the last three under the group's number); its metadata carries a header after the
//! collection header. `types::streams::layout` has the details.

use super::StoreError;

pub const CF_META: &str = "meta";
pub const CF_DATA: &str = "data";
pub const CF_ZSCORE: &str = "zscore";
pub const CF_EXPIRE: &str = "expire";

/// Bumped whenever an on-disk layout changes; a data directory of a newer version is refused,
/// one of an older version this build can read is upgraded in place when opened.
///
/// - v1: strings inline, hashes, lists, sets and sorted sets.
/// - v2: adds fragmented strings (the `FRAGMENTED` flag) and streams. Every v1 value reads the
///   same under v2, so a v1 directory is upgraded by rewriting the record; a v1 build would
///   misread a fragmented string, hence the refusal the other way.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest schema this build opens (and upgrades).
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// The type of a key, as stored in its metadata. Values are part of the on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    String = 1,
    Hash = 2,
    List = 3,
    Set = 4,
    ZSet = 5,
    Stream = 6,
}

impl ValueType {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::String,
            2 => Self::Hash,
            3 => Self::List,
            4 => Self::Set,
            5 => Self::ZSet,
            6 => Self::Stream,
            _ => return None,
        })
    }

    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Hash => "hash",
            Self::List => "list",
            Self::Set => "set",
            Self::ZSet => "zset",
            Self::Stream => "stream",
        }
    }

    /// Parses a TYPE name (as SCAN's TYPE option takes it).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => Self::String,
            b"hash" => Self::Hash,
            b"list" => Self::List,
            b"set" => Self::Set,
            b"zset" => Self::ZSet,
            b"stream" => Self::Stream,
            _ => return None,
        })
    }
}

/// Length of the header every metadata value starts with: type, flags, expire-at.
pub const META_HEADER: usize = 10;
/// Length of the collection header: the common header, version and element count.
pub const COLLECTION_HEADER: usize = META_HEADER + 16;
/// Flag of a string whose bytes live in `data` as fragments (see `storage::strings`); its
/// metadata is the common header, version and length, as long as a collection header.
pub const FLAG_FRAGMENTED: u8 = 1;
/// Length of a fragmented string's metadata.
pub const FRAGMENTED_HEADER: usize = COLLECTION_HEADER;

/// A decoded metadata value, owning its bytes.
///
/// Layout: type(u8) · flags(u8) · expire-at ms (u64, 0 = none), then for an inline string the
/// value's bytes, for a fragmented string (flag [`FLAG_FRAGMENTED`]) version(u64) · length(u64),
/// and for collections version(u64) · count(u64) · type-specific fields. Inline strings carry no
/// version: they have no sub-keys, so the sixteen bytes would be dead weight on the most common
/// key type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    bytes: Vec<u8>,
    ty: ValueType,
}

impl Meta {
    /// Validates and wraps a stored metadata value.
    pub fn decode(bytes: Vec<u8>) -> Result<Self, StoreError> {
        if bytes.len() < META_HEADER {
            return Err(StoreError::Corrupt("metadata value too short"));
        }
        let ty = ValueType::from_u8(bytes[0]).ok_or(StoreError::Corrupt("unknown value type"))?;
        if ty == ValueType::String {
            match bytes[1] {
                0 => {}
                FLAG_FRAGMENTED if bytes.len() == FRAGMENTED_HEADER => {}
                FLAG_FRAGMENTED => return Err(StoreError::Corrupt("fragmented string metadata")),
                _ => return Err(StoreError::Corrupt("unknown string flags")),
            }
        } else if bytes.len() < COLLECTION_HEADER {
            return Err(StoreError::Corrupt("collection metadata too short"));
        }
        Ok(Self { bytes, ty })
    }

    /// Encodes a string value with its expiry.
    pub fn encode_string(value: &[u8], expire_at: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_HEADER + value.len());
        v.push(ValueType::String as u8);
        v.push(0);
        v.extend_from_slice(&expire_at.to_be_bytes());
        v.extend_from_slice(value);
        v
    }

    /// Encodes a fragmented string: its bytes are `len` bytes in `data` fragments under `version`.
    pub fn encode_fragmented(expire_at: u64, version: u64, len: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(FRAGMENTED_HEADER);
        v.push(ValueType::String as u8);
        v.push(FLAG_FRAGMENTED);
        v.extend_from_slice(&expire_at.to_be_bytes());
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(&len.to_be_bytes());
        v
    }

    /// Encodes a collection header; type-specific fields are appended by the caller.
    pub fn encode_collection(ty: ValueType, expire_at: u64, version: u64, count: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(COLLECTION_HEADER + 16);
        v.push(ty as u8);
        v.push(0);
        v.extend_from_slice(&expire_at.to_be_bytes());
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(&count.to_be_bytes());
        v
    }

    pub fn ty(&self) -> ValueType {
        self.ty
    }

    /// Absolute expiry in Unix milliseconds; 0 when the key does not expire.
    pub fn expire_at(&self) -> u64 {
        read_u64(&self.bytes[2..10])
    }

    /// Whether the key has logically expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        let at = self.expire_at();
        at != 0 && at <= now_ms
    }

    /// Rewrites the expiry in place (the caller re-stores the bytes).
    pub fn set_expire_at(&mut self, at: u64) {
        self.bytes[2..10].copy_from_slice(&at.to_be_bytes());
    }

    /// Whether this is a string whose bytes live in `data` fragments.
    pub fn is_fragmented(&self) -> bool {
        self.ty == ValueType::String && self.bytes[1] == FLAG_FRAGMENTED
    }

    /// The bytes of an inline string; None for a fragmented one (read it through
    /// `storage::strings`). Meaningless for other types.
    pub fn inline_value(&self) -> Option<&[u8]> {
        (!self.is_fragmented()).then(|| &self.bytes[META_HEADER..])
    }

    /// The length of a string value in bytes, inline or fragmented: O(1).
    pub fn string_len(&self) -> u64 {
        if self.is_fragmented() {
            read_u64(&self.bytes[18..26])
        } else {
            (self.bytes.len() - META_HEADER) as u64
        }
    }

    /// Whether sub-keys in `data`/`zscore` carry this value's version: every collection, and a
    /// fragmented string.
    pub fn has_subkeys(&self) -> bool {
        self.ty != ValueType::String || self.is_fragmented()
    }

    /// The version that a collection's (or a fragmented string's) sub-keys carry.
    pub fn version(&self) -> u64 {
        read_u64(&self.bytes[10..18])
    }

    /// The number of elements of a collection.
    pub fn count(&self) -> u64 {
        read_u64(&self.bytes[18..26])
    }

    /// Type-specific bytes after a collection's header (e.g. a list's head and tail).
    pub fn extra(&self) -> &[u8] {
        self.bytes.get(COLLECTION_HEADER..).unwrap_or_default()
    }

    /// The full encoded value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the metadata, returning its encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads a big-endian u64 from exactly eight bytes.
pub fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// `meta` key: db · user key.
pub fn meta_key(db: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(db);
    k.extend_from_slice(key);
    k
}

/// `expire` index key: db · expire-at · user key.
pub fn expire_key(db: u8, at: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.push(db);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// Splits an `expire` index key into (db, expire-at, user key).
pub fn parse_expire_key(k: &[u8]) -> Option<(u8, u64, &[u8])> {
    if k.len() < 9 {
        return None;
    }
    Some((k[0], read_u64(&k[1..9]), &k[9..]))
}

/// Prefix shared by every sub-key of one collection version: db · keylen · user key · version.
pub fn data_prefix(db: u8, key: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(13 + key.len() + 16);
    k.push(db);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// A parsed `data`/`zscore` key.
#[derive(Debug, PartialEq, Eq)]
pub struct DataKey<'a> {
    pub db: u8,
    pub key: &'a [u8],
    pub version: u64,
    pub sub: &'a [u8],
}

/// Parses a `data`/`zscore` key; None if it is malformed.
pub fn parse_data_key(k: &[u8]) -> Option<DataKey<'_>> {
    let db = *k.first()?;
    let len = u32::from_be_bytes(k.get(1..5)?.try_into().ok()?) as usize;
    let key = k.get(5..5 + len)?;
    let version = read_u64(k.get(5 + len..13 + len)?);
    Some(DataKey {
        db,
        key,
        version,
        sub: &k[13 + len..],
    })
}

/// Order-preserving encoding of a double: bytewise order of the result equals numeric order
/// (-inf < ... < -0.0 = 0.0 < ... < inf). Used for the `zscore` index.
pub fn encode_score(score: f64) -> [u8; 8] {
    // -0.0 and 0.0 compare equal as scores; store both as 0.0.
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Inverse of [`encode_score`].
pub fn decode_score(b: [u8; 8]) -> f64 {
    let ordered = u64::from_be_bytes(b);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

/// The smallest key strictly after every key starting with `prefix`, or None if there is none
/// (the prefix is all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        let m = Meta::decode(Meta::encode_string(b"hello", 42)).unwrap();
        assert_eq!(m.ty(), ValueType::String);
        assert_eq!(m.expire_at(), 42);
        assert_eq!(m.inline_value(), Some(&b"hello"[..]));
        assert_eq!(
            (m.string_len(), m.is_fragmented(), m.has_subkeys()),
            (5, false, false)
        );
        assert!(m.is_expired(42));
        assert!(!m.is_expired(41));

        let c = Meta::decode(Meta::encode_collection(ValueType::Hash, 0, 7, 3)).unwrap();
        assert_eq!(
            (c.ty(), c.version(), c.count(), c.expire_at()),
            (ValueType::Hash, 7, 3, 0)
        );
        assert!(!c.is_expired(u64::MAX));

        let f = Meta::decode(Meta::encode_fragmented(9, 77, 1 << 32)).unwrap();
        assert_eq!(f.ty(), ValueType::String);
        assert!(f.is_fragmented() && f.has_subkeys());
        assert_eq!(
            (f.expire_at(), f.version(), f.string_len()),
            (9, 77, 1 << 32)
        );
        assert_eq!(f.inline_value(), None);
    }

    #[test]
    fn corrupt_meta_is_an_error() {
        assert!(Meta::decode(vec![1, 0]).is_err());
        assert!(Meta::decode(vec![99; 30]).is_err());
        assert!(Meta::decode(Meta::encode_string(b"", 0)[..10].to_vec()).is_ok());
        assert!(Meta::decode(vec![2; 12]).is_err());
        // A fragmented string's metadata has exactly its header; unknown string flags are refused.
        let mut f = Meta::encode_fragmented(0, 1, 2);
        f.push(0);
        assert!(Meta::decode(f).is_err());
        assert!(Meta::decode(Meta::encode_fragmented(0, 1, 2)[..20].to_vec()).is_err());
        let mut odd = Meta::encode_string(b"abc", 0);
        odd[1] = 2;
        assert!(Meta::decode(odd).is_err());
    }

    #[test]
    fn data_keys_parse_and_sort_by_key_then_version() {
        let mut a = data_prefix(0, b"k", 1);
        a.extend_from_slice(b"field");
        let p = parse_data_key(&a).unwrap();
        assert_eq!(
            (p.db, p.key, p.version, p.sub),
            (0, &b"k"[..], 1, &b"field"[..])
        );
        assert!(data_prefix(0, b"k", 1) < data_prefix(0, b"k", 2));
        // The length prefix keeps "k" and "k\0..." sub-keys from interleaving.
        assert!(data_prefix(0, b"k", u64::MAX) < data_prefix(0, b"k\0", 0));
        assert!(parse_data_key(&[0, 0, 0, 0, 9, b'x']).is_none());
    }

    #[test]
    fn expire_keys_sort_by_time_within_db() {
        assert!(expire_key(0, 5, b"z") < expire_key(0, 6, b"a"));
        assert!(expire_key(0, u64::MAX, b"z") < expire_key(1, 0, b""));
        assert_eq!(
            parse_expire_key(&expire_key(3, 9, b"k")),
            Some((3, 9, &b"k"[..]))
        );
    }

    #[test]
    fn score_encoding_preserves_order() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -0.0,
            0.0,
            1e-300,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(
                encode_score(w[0]) <= encode_score(w[1]),
                "{} {}",
                w[0],
                w[1]
            );
        }
        for x in xs {
            assert_eq!(
                decode_score(encode_score(x)),
                if x == 0.0 { 0.0 } else { x }
            );
        }
    }

    #[test]
    fn prefix_end_handles_carry() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
