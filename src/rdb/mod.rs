//! RDB codecs: the low-level pieces (errors, CRC64) that the RDB reader and writer, the
//! `basalt-rdb` tool and DUMP/RESTORE build on. Redis's source (rdb.c, crc64.c) is the authority.

pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod ziplist;
pub mod zipmap;

/// Why decoding RDB bytes failed; every variant names the byte offset so a bad file can be
/// located with a hex dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// The input ended before a complete value was read.
    #[error("truncated at offset {offset} while reading {what}")]
    Truncated {
        /// Byte offset where more input was needed.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The bytes do not follow the format.
    #[error("corrupt at offset {offset}: {what}")]
    Corrupt {
        /// Byte offset of the offending data.
        offset: usize,
        /// What was expected.
        what: &'static str,
    },
}
