//! Streams between storage and the RDB model (import and export).
