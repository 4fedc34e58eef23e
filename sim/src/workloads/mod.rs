//! What the simulated client does while the nemesis strikes, one room per kind of work: membership
//! changes, loads, backups, restores and the big tables; each with the model of what was
//! acknowledged and the checks that run once the faults stop. Restores read the backups' repository
//! and the loads' table; nothing here imports the driver (`workload.rs`).

pub mod backups;
pub mod big_tables;
pub mod loads;
pub mod membership;
pub mod restores;
