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
pub mod second_cluster;
pub mod snapshot;

use std::time::Duration;

use palo_node::fe::jobs::state::JobState;
use palo_node::repository::{self, RepoStore};

/// Once faults stop, every member must be shown alive within this much simulated time.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(30);

/// The timeout of every job the workloads submit.
pub const JOB_TIMEOUT_S: u64 = 900;
/// A job running when the faults stopped ends within this much simulated time of the heal (and a
/// job sent later, of its sending): FINISHED, or CANCELLED for a cause of its own, never by its
/// timeout, which this bound is far below. (It was 1 000 s, past the timeout, so a job that made
/// no progress at all passed: seeds 10463, 10173, 11671 sat in UPLOADING until their timeout.)
///
/// What such a job may still wait on once every fault is healed, each at most once in a row:
/// heartbeats showing every backend alive again (`LIVENESS_BOUND`, 30 s); one backoff of a
/// step, a transfer task or a snapshot round (`driver::MAX_RETRY_MS`, 30 s: the backoff is
/// capped, and after the heal attempts stop failing); one call sent before the heal that runs
/// out its own timeout instead of failing fast (the longest a driver waits on that heartbeats do
/// not cut is `agent::BATCH_TIMEOUTS`, 120 s; store and broker calls are 30 s; uploads and
/// downloads are cut as soon as their backend is shown dead); and the work itself, seconds for
/// the load table (60 s of slack).
pub const PROGRESS_BOUND: Duration = Duration::from_secs(
    LIVENESS_BOUND.as_secs()
        + palo_node::fe::jobs::driver::MAX_RETRY_MS / 1_000
        + palo_node::fe::cluster::agent::BATCH_TIMEOUTS.request_ms / 1_000
        + 60,
);
const _: () = assert!(PROGRESS_BOUND.as_secs() * 2 < JOB_TIMEOUT_S, "a timeout must never pass the bound");

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
