//! What the simulated client does while the nemesis strikes, one room per kind of work: membership
//! changes, loads, backups, restores and the big tables; each with the model of what was
//! acknowledged and the checks that run once the faults stop. Restores read the backups' repository
//! and the loads' table; nothing here imports the driver (`workload.rs`).

pub mod backups;
pub mod big_tables;
pub mod loads;
pub mod membership;
pub mod overwrite;
pub mod restores;

use std::time::Duration;

use palo_node::fe::jobs::state::JobState;
use palo_node::repository::{self, RepoStore};

/// The timeout of every job the workloads submit.
pub const JOB_TIMEOUT_S: u64 = 900;
/// Once faults stop, every job must end within this much simulated time (past its timeout).
pub const END_BOUND: Duration = Duration::from_secs(1_000);
const _: () = assert!(END_BOUND.as_secs() > JOB_TIMEOUT_S);

/// A repository file's bytes, checked against the md5 its name carries.
pub async fn read_checked(store: &dyn RepoStore, path: &str) -> Result<Vec<u8>, String> {
    let bytes = store.get(path).await.map_err(|e| format!("{path}: {e}"))?;
    let (_, md5) = repository::split_md5(path).ok_or_else(|| format!("{path} has no md5"))?;
    let actual = repository::md5_hex(&bytes);
    if actual != md5 {
        return Err(format!("{path}: content md5 {actual} differs from its name"));
    }
    Ok(bytes)
}

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
