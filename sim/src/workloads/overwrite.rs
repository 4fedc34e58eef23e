//! A restore over a table that answers queries meanwhile (once faults stop): the partitions it
//! overwrites answer with their old rows until the commit and with the backup's rows after it,
//! never a mix of the two, and never with an error that lasts. Then the table equals the load
//! table it was backed up from.
//!
//! It runs after the restore checks, which leave `rdb.final_copy` equal to `w.events`: new rows
//! go into `w.events` (both partitions), a second backup takes them, and its restore overwrites
//! `final_copy` while a reader polls it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use palo_node::fe::QueryOutput;

use crate::client::{query_until_ok, sql_on};
use crate::cluster::SimCluster;
use crate::workloads::restores::{RestoreModel, TARGET_DB, query_or_ok, snapshot_timestamp, wait_backup, wait_newest};

/// The table the restore checks leave equal to `w.events`.
const TABLE: &str = "final_copy";
/// The second backup of `w.events`, taken after new rows went in.
const LABEL: &str = "final_overwrite";
/// The load number of the new rows (no load of the workloads reaches it).
const NEW_LOAD: u64 = 999_999;
/// How long the reader may see errors in a row before it counts as an error that lasts.
const MAX_ERROR_RUN: Duration = Duration::from_secs(10);
/// Pause between two reads of the table.
const POLL_MS: u64 = 150;

/// What one read of the table saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Old,
    New,
    Error,
    /// Neither the old rows nor the new: a mix, or rows from nowhere.
    Other,
}

/// Sorted rows of a result set.
fn sorted(output: QueryOutput) -> Option<Vec<Vec<Option<String>>>> {
    match output {
        QueryOutput::Rows { mut rows, .. } => {
            rows.sort();
            Some(rows)
        }
        QueryOutput::Ok { .. } => None,
    }
}

/// The overwrite invariant (see the module doc).
pub async fn check(cluster: &SimCluster, model: &mut RestoreModel) -> Result<(), String> {
    let select = format!("SELECT id, load, v FROM {TARGET_DB}.{TABLE}");
    let old = sorted_rows(cluster, &select).await?;
    // New rows in both partitions of w.events (ids below 1 000 000 are p0's, the rest p1's).
    let insert = format!("INSERT INTO w.events VALUES (999999, {NEW_LOAD}, 'new'), (1999999, {NEW_LOAD}, 'new')");
    query_or_ok(cluster, &insert, &[]).await?;
    let backup = format!("BACKUP SNAPSHOT w.{LABEL} TO {} ON (events)", crate::workloads::backups::REPOSITORY);
    query_or_ok(cluster, &backup, &["already exist"]).await?;
    wait_backup(cluster, LABEL).await?;
    let new = sorted_rows(cluster, "SELECT id, load, v FROM w.events").await?;
    if new == old {
        return Err("the new rows of w.events changed nothing a restore could show".into());
    }
    let ts = snapshot_timestamp(&cluster.client, &cluster.fe_addr(), &cluster.recorder, LABEL)
        .await
        .ok_or("the overwrite's backup is not shown OK by SHOW SNAPSHOT")?;

    let done = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_while(cluster, select.clone(), old.clone(), new.clone(), done.clone()));
    let restore = format!(
        "RESTORE SNAPSHOT {TARGET_DB}.{LABEL} FROM {} ON (events AS {TABLE}) PROPERTIES (\"backup_timestamp\" = \
         \"{ts}\", \"replication_num\" = \"2\")",
        crate::workloads::backups::REPOSITORY
    );
    query_or_ok(cluster, &restore, &[]).await?;
    let (state, status) = wait_newest(cluster, model).await?;
    done.store(true, Ordering::Relaxed);
    let seen = reader.await.map_err(|e| format!("the reader's task failed: {e}"))?;
    if state != "FINISHED" {
        return Err(format!("the restore over {TARGET_DB}.{TABLE} ended {state} with {status}"));
    }
    judge(&seen)?;
    let after = sorted_rows(cluster, &select).await?;
    if after != new {
        return Err(format!(
            "{TARGET_DB}.{TABLE} holds {} rows after the restore over it, the backup {} (the overwritten partitions \
             kept their old rows)",
            after.len(),
            new.len()
        ));
    }
    let count = |s: Seen| seen.iter().filter(|(x, _)| *x == s).count();
    crate::invariants::Invariant::Overwrite.checked(seen.len() as u64);
    cluster.event(format!(
        "check: a restore over {TARGET_DB}.{TABLE} answered {} reads with the old rows, then {} with the new, {} \
         errors, never a mix",
        count(Seen::Old),
        count(Seen::New),
        count(Seen::Error)
    ));
    Ok(())
}

async fn sorted_rows(cluster: &SimCluster, select: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let (_, mut rows) = query_until_ok(cluster, select).await?;
    rows.sort();
    Ok(rows)
}

/// Reads `select` until `done`: what each read saw, and when.
fn read_while(
    cluster: &SimCluster,
    select: String,
    old: Vec<Vec<Option<String>>>,
    new: Vec<Vec<Option<String>>>,
    done: Arc<AtomicBool>,
) -> impl std::future::Future<Output = Vec<(Seen, Duration)>> + 'static {
    let (client, fe_addr, recorder) = (cluster.client.clone(), cluster.fe_addr(), cluster.recorder.clone());
    async move {
        let mut seen = Vec::new();
        while !done.load(Ordering::Relaxed) {
            let read = sql_on(&client, fe_addr.clone(), recorder.clone(), select.clone()).await;
            let what = match read.ok().and_then(sorted) {
                None => Seen::Error,
                Some(rows) if rows == old => Seen::Old,
                Some(rows) if rows == new => Seen::New,
                Some(_) => Seen::Other,
            };
            seen.push((what, recorder.now()));
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
        seen
    }
}

/// Old rows, then new ones; never a mix; no run of errors longer than [`MAX_ERROR_RUN`].
fn judge(seen: &[(Seen, Duration)]) -> Result<(), String> {
    let mut saw_new = false;
    let mut errors_since: Option<Duration> = None;
    for (what, at) in seen {
        match what {
            Seen::Other => {
                return Err(format!("a read at {:.1}s saw neither the old rows nor the new", at.as_secs_f64()));
            }
            Seen::Old if saw_new => {
                return Err(format!("a read at {:.1}s saw the old rows after one saw the new", at.as_secs_f64()));
            }
            Seen::New => saw_new = true,
            Seen::Old | Seen::Error => {}
        }
        if *what == Seen::Error {
            let since = *errors_since.get_or_insert(*at);
            if *at - since > MAX_ERROR_RUN {
                return Err(format!(
                    "reads failed from {:.1}s to {:.1}s: the table refused queries while restored",
                    since.as_secs_f64(),
                    at.as_secs_f64()
                ));
            }
        } else {
            errors_since = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn old_then_new_passes_and_a_mix_or_a_step_back_fails() {
        assert!(judge(&[(Seen::Old, at(1)), (Seen::Error, at(2)), (Seen::New, at(3))]).is_ok());
        assert!(judge(&[(Seen::Old, at(1)), (Seen::Other, at(2))]).is_err());
        assert!(judge(&[(Seen::New, at(1)), (Seen::Old, at(2))]).is_err());
        let errors: Vec<(Seen, Duration)> = (0..=11).map(|s| (Seen::Error, at(s))).collect();
        assert!(judge(&errors).unwrap_err().contains("refused queries"));
    }
}
