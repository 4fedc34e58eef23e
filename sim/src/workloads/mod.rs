//! What the simulated client does while the nemesis strikes, one room per kind of work: membership
//! changes, loads, backups, restores and the big tables; each with the model of what was
//! acknowledged and the checks that run once the faults stop. Restores read the backups' repository
//! and the loads' table; nothing here imports the driver (`workload.rs`).

pub mod backups;
pub mod big_tables;
pub mod loads;
pub mod membership;
pub mod restores;

use palo_node::fe::jobs::state::JobState;

/// Whether `seen` can be the states of one job as SHOW printed them now and then (states may be
/// skipped between two looks, never gone back to, and nothing follows an end).
pub fn legal_sequence<S: JobState>(seen: &[S]) -> Result<(), String> {
    for pair in seen.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if !a.may_be_seen_after(b) {
            return Err(format!("moved from {} to {}", a.name(), b.name()));
        }
    }
    Ok(())
}
