//! Palo's deterministic simulator. Under `--cfg madsim` it runs real `palo-node` FE, BE and
//! broker code as nodes of a seeded world, injects faults chosen by the seed, and checks the
//! invariants after every seed. The same seed replays the same run exactly.
//!
//! Architecture invariant: the production binary never depends on this crate; this crate reaches
//! node code only through its public entry points and the `Disk` seam.

pub mod sim_disk;
pub mod trace;

#[cfg(madsim)]
pub mod client;
#[cfg(madsim)]
pub mod cluster;
pub mod coverage;
pub mod faults;
pub mod invariants;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod runner;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod shrink;
#[cfg(madsim)]
pub mod workload;
#[cfg(madsim)]
pub mod workloads;
#[cfg(madsim)]
pub mod world;

pub use sim_disk::{SimDisk, SimDiskFaults};
