//! Palo's node code: the frontend (FE), backend (BE) and broker roles, and the seams that let
//! the same code run as real processes and inside the deterministic simulator.
//!
//! Architecture invariant: nothing here names madsim, reads the OS clock outside `clock`, or
//! touches the OS file system outside `disk::RealDisk`. Time, tasks, network and randomness come
//! from `tokio`/`tonic` (madsim's under `--cfg madsim`), bytes on disk from [`disk::Disk`].

pub mod be;
pub mod broker;
pub mod client;
pub mod clock;
pub mod config;
pub mod disk;
pub mod error;
pub mod fe;
pub mod journal;
pub mod query;
pub mod repository;
pub mod row_codec;
pub mod rpc;
pub mod schema;
pub mod shutdown;
pub mod signal;
pub mod sql;
pub mod standalone;
pub mod table;

/// The version string every role reports.
pub const VERSION: &str = concat!("palo-", env!("CARGO_PKG_VERSION"));
