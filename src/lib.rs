//! Basalt: a Redis-compatible server whose data lives in RocksDB.
//!
//! Data flows one way: [`server`] (connections) -> [`protocol`] (framing) -> [`commands`]
//! (arguments, arity, dispatch) -> [`types`] (the operations) -> [`storage`] (encoding, locks,
//! RocksDB), and back up as typed results that commands turn into replies.

pub mod commands;
pub mod config;
pub mod protocol;
pub mod rdb;
pub mod scripting;
pub mod server;
pub mod storage;
pub mod types;
pub mod util;
