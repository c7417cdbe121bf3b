//! The data types as typed operations over storage. No RESP in here: operations take parsed
//! arguments and return typed results or a [`TypeError`].

pub mod bitmaps;
pub mod collection;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod keyspace;
pub mod lists;
pub mod rdb;
pub mod sets;
pub mod streams;
pub mod strings;
pub mod zsets;

use crate::storage::StoreError;

/// Errors of the data-type operations; the display text is Redis's error line.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooBig,
    /// A string that is not a HyperLogLog given to a PF* command.
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// A HyperLogLog whose sparse encoding does not add up.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    InvalidHll,
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// Result alias of the data-type operations.
pub type Result<T, E = TypeError> = std::result::Result<T, E>;
