//! The holds a running restore puts on its tables: no loads, no DDL, and reads only of what is
//! not being replaced. Loads, queries and DDL ask here before they act.

use std::collections::BTreeSet;

use crate::error::SqlError;
use crate::fe::FeState;
use crate::fe::catalog::TableRef;
use crate::fe::jobs::state::JobState;

/// Whether a backup or a restore runs in the database.
pub(crate) fn job_running_in(state: &FeState, db_id: i64) -> bool {
    state.backup.running_in(db_id).is_some() || state.restore.running_in(db_id).is_some()
}

/// Loads into a table a restore holds are refused, except into the tables it creates when it
/// was asked to take loads (`allow_load`).
pub(crate) fn check_load_allowed(state: &FeState, at: TableRef, table: &str) -> Result<(), SqlError> {
    match state.restore.holding(at.db_id, at.table_id) {
        Some((job, plan)) if !(plan.created && job.allow_load) => {
            let hint = if plan.created {
                " (a RESTORE with PROPERTIES (\"allow_load\" = \"true\") takes loads into the tables it creates)"
            } else {
                ""
            };
            Err(SqlError::doris(format!(
                "Table {table} is being restored by job {} (state {}); loads are refused until it ends{hint}",
                job.id,
                job.state.name()
            )))
        }
        _ => Ok(()),
    }
}

/// Reads of partitions a running restore created are refused (they fill only at its commit);
/// partitions it overwrites still hold their old data until then and can be read.
pub(crate) fn check_read_allowed(
    state: &FeState,
    at: TableRef,
    table: &str,
    partition_ids: impl IntoIterator<Item = i64>,
) -> Result<(), SqlError> {
    let Some((job, plan)) = state.restore.holding(at.db_id, at.table_id) else {
        return Ok(());
    };
    let filling: BTreeSet<i64> = plan.partitions.iter().filter(|p| !p.overwrites).map(|p| p.partition_id).collect();
    if partition_ids.into_iter().any(|id| filling.contains(&id)) {
        return Err(SqlError::doris(format!(
            "Table {table} is being restored by job {} (state {}); it can be read once the restore finishes",
            job.id,
            job.state.name()
        )));
    }
    Ok(())
}

/// Table DDL on a table a restore holds is refused.
pub(crate) fn check_ddl_allowed(state: &FeState, at: TableRef, table: &str) -> Result<(), SqlError> {
    match state.restore.holding(at.db_id, at.table_id) {
        Some((job, _)) => Err(SqlError::doris(format!(
            "Table {table}'s state is not NORMAL: RESTORE (job {}, state {}); wait for it to end or CANCEL RESTORE",
            job.id,
            job.state.name()
        ))),
        None => Ok(()),
    }
}
