//! Small helpers with Redis's exact semantics: number parsing and formatting, glob matching, time.

pub mod csort;
pub mod geohash;
pub mod glob;
pub mod num;
pub mod time;
