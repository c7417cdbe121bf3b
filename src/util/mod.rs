//! Small helpers with Redis's exact semantics: number parsing and formatting, glob matching, time.

pub mod csort;
pub mod geohash;
pub mod glob;
pub mod num;
pub mod time;

/// The allocator the `basalt` binary installs (INFO's `mem_allocator`).
pub const ALLOCATOR: &str = if cfg!(all(target_os = "linux", not(target_env = "musl"))) {
    "jemalloc-5.3.0"
} else {
    "libc"
};
