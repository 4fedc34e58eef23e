//! The BACKUP statements: BACKUP SNAPSHOT (every check of docs/jobs.md, "Statements and their checks": then one
//! journal record of a PENDING job), SHOW BACKUP, CANCEL BACKUP and SHOW SNAPSHOT. The job itself
//! runs in `backup/driver.rs`.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::SqlError;
use crate::fe::catalog::DatabaseRecord;
use crate::fe::cluster::repository::repository_dir;
use crate::fe::jobs::backup::job::{BackupJob, BackupObject, BackupState};
use crate::fe::jobs::backup::layout;
use crate::fe::jobs::limits::{MAX_TIMEOUT_S, MIN_TIMEOUT_S, check_label};
use crate::fe::jobs::limits::{job_database, label_matches};
use crate::fe::jobs::runtime::JobRuntime;
use crate::fe::jobs::state::JobState;
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;
use crate::fe::session::{QueryOutput, Session};
use crate::fe::{Fe, FeEdit, FeState};
use crate::repository::{self, RepoStore};
use crate::sql::ast::{Backup, BackupObjects, BackupTableRef, LabelFilter};

/// Doris's `backup_job_default_timeout_ms`: one day.
pub const DEFAULT_TIMEOUT_S: u64 = 86_400;
/// Tablets one job may back up (Doris's `max_backup_tablets_per_job`).
pub const MAX_TABLETS_PER_JOB: usize = 300_000;

pub const SHOW_BACKUP_COLUMNS: [&str; 14] = [
    "JobId",
    "SnapshotName",
    "DbName",
    "State",
    "BackupObjs",
    "CreateTime",
    "SnapshotFinishedTime",
    "UploadFinishedTime",
    "FinishedTime",
    "UnfinishedTasks",
    "Progress",
    "TaskErrMsg",
    "Status",
    "Timeout",
];

/// The timeout of PROPERTIES ("type", "timeout"), with Doris's errors.
fn backup_timeout_s(properties: &[(String, String)]) -> Result<u64, SqlError> {
    let mut timeout_s = DEFAULT_TIMEOUT_S;
    let mut unknown = Vec::new();
    for (key, value) in properties {
        match key.to_ascii_lowercase().as_str() {
            "type" => match value.to_ascii_lowercase().as_str() {
                "full" => {}
                "incremental" => return Err(SqlError::doris("Currently does not support incremental backup")),
                _ => return Err(SqlError::doris(format!("Invalid backup job type: {value}; use full"))),
            },
            "timeout" => {
                let secs: u64 = value.trim().parse().map_err(|_| {
                    SqlError::doris(format!(
                        "Invalid timeout format: {value}; give whole seconds, at least {MIN_TIMEOUT_S}"
                    ))
                })?;
                if secs < MIN_TIMEOUT_S {
                    return Err(SqlError::doris("timeout must be at least 10 min"));
                }
                if secs > MAX_TIMEOUT_S {
                    return Err(SqlError::doris(format!("timeout must be at most {MAX_TIMEOUT_S} seconds (30 days)")));
                }
                timeout_s = secs;
            }
            _ => unknown.push(key.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(SqlError::doris(format!("Unknown backup job properties: [{}]", unknown.join(", "))));
    }
    Ok(timeout_s)
}

/// Refuses what Doris refuses in a table reference of BACKUP.
fn check_refs(refs: &[BackupTableRef]) -> Result<(), SqlError> {
    let mut seen = BTreeSet::new();
    for r in refs {
        let name = &r.table.table;
        if r.table.database.is_some() {
            return Err(SqlError::doris(format!(
                "Cannot specify database name on backup objects: {name}. Specify database name before label"
            )));
        }
        if r.alias.is_some() {
            return Err(SqlError::doris("Can not set alias for table in Backup Command"));
        }
        if !seen.insert(name.as_str()) {
            return Err(SqlError::doris(format!("Duplicated table: {name}")));
        }
        let mut partitions = BTreeSet::new();
        for p in &r.partitions {
            if !partitions.insert(p.as_str()) {
                return Err(SqlError::doris(format!("Duplicated partition: {p} of table {name}")));
            }
        }
    }
    Ok(())
}

/// The tables (and partitions) a BACKUP takes from `db`.
fn resolve_objects(db: &DatabaseRecord, objects: &BackupObjects) -> Result<Vec<BackupObject>, SqlError> {
    let resolved: Vec<BackupObject> = match objects {
        BackupObjects::All => {
            db.tables.keys().map(|t| BackupObject { table: t.clone(), partitions: Vec::new() }).collect()
        }
        BackupObjects::On(refs) => {
            check_refs(refs)?;
            let mut out = Vec::new();
            for r in refs {
                let name = &r.table.table;
                let table = db
                    .tables
                    .get(name)
                    .ok_or_else(|| SqlError::new(1051, "42S02", format!("Unknown table '{name}'")))?;
                for p in &r.partitions {
                    if !table.partitions.iter().any(|tp| &tp.name == p) {
                        return Err(SqlError::doris(format!("Unknown partition {p} in table {name}")));
                    }
                }
                out.push(BackupObject { table: name.clone(), partitions: r.partitions.clone() });
            }
            out.sort_by(|a, b| a.table.cmp(&b.table));
            out
        }
        BackupObjects::Exclude(refs) => {
            check_refs(refs)?;
            let excluded: BTreeMap<&str, &BackupTableRef> = refs.iter().map(|r| (r.table.table.as_str(), r)).collect();
            let mut out = Vec::new();
            for (name, table) in &db.tables {
                match excluded.get(name.as_str()) {
                    // A whole table excluded.
                    Some(r) if r.partitions.is_empty() => {}
                    // Some of its partitions excluded: the others, by name.
                    Some(r) => {
                        let kept: Vec<String> = table
                            .partitions
                            .iter()
                            .filter(|p| !r.partitions.contains(&p.name))
                            .map(|p| p.name.clone())
                            .collect();
                        if !kept.is_empty() {
                            out.push(BackupObject { table: name.clone(), partitions: kept });
                        }
                    }
                    None => out.push(BackupObject { table: name.clone(), partitions: Vec::new() }),
                }
            }
            out
        }
    };
    if resolved.is_empty() {
        return Err(SqlError::doris(format!("no valid tables found for backup in database {}", db.name)));
    }
    Ok(resolved)
}

/// `[db.t]` or `[db.t PARTITIONS (p1, p2)]`, joined by `, `: SHOW BACKUP's BackupObjs.
fn objects_text(db: &str, objects: &[BackupObject]) -> String {
    objects
        .iter()
        .map(|o| {
            if o.partitions.is_empty() {
                format!("[{db}.{}]", o.table)
            } else {
                format!("[{db}.{} PARTITIONS ({})]", o.table, o.partitions.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a label is taken in the repository: its owner marker, or a `__meta`/`__info` (a
/// snapshot written by Doris or an older cluster).
pub(crate) async fn label_taken(store: &dyn RepoStore, repo: &str, label: &str) -> Result<bool, repository::RepoError> {
    if store.exists(&layout::owner_path(repo, label)).await? {
        return Ok(true);
    }
    let dir = layout::snapshot_dir(repo, label);
    for prefix in [format!("{dir}/__info_"), format!("{dir}/__meta")] {
        if !store.list_shallow(&prefix).await?.files.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Fe {
    pub(crate) async fn backup(&self, session: &Session, stmt: Backup) -> Result<QueryOutput, SqlError> {
        let db_name = job_database(session, stmt.database.clone())?;
        check_label(&stmt.label)?;
        let timeout_s = backup_timeout_s(&stmt.properties)?;
        let state = self.state().await;
        let db = state.catalog.databases.get(&db_name).ok_or_else(|| SqlError::unknown_database(&db_name))?;
        let repo = state
            .catalog
            .repositories
            .get(&stmt.repository)
            .ok_or_else(|| SqlError::doris(format!("Repository {} does not exist", stmt.repository)))?;
        if repo.read_only {
            return Err(SqlError::doris(format!("Repository {} is read only", repo.name)));
        }
        let objects = resolve_objects(db, &stmt.objects)?;
        if crate::fe::jobs::holds::job_running_in(&state, db.id) {
            return Err(SqlError::doris("Can only run one backup or restore job of a database at same time"));
        }
        let store = self
            .repository_store(&state, repo)
            .map_err(|e| SqlError::doris(format!("Failed to get repository {}: {e}", repo.name)))?;
        let taken = label_taken(store.as_ref(), &repo.name, &stmt.label).await.map_err(|e| {
            SqlError::doris(format!(
                "Failed to list the snapshots of repository {}: {e}; retry when it is reachable",
                repo.name
            ))
        })?;
        if taken {
            return Err(SqlError::doris(format!("Snapshot with name '{}' already exist in repository", stmt.label)));
        }

        // The job takes a catalog id: wait for table DDL that is between choosing ids and
        // committing them (the simulator found a job and a partition with one id).
        let _ddl = self.ddl_lock.lock().await;
        let mut durable = self.durable.lock().await;
        let current = &durable.state;
        let Some(db_now) = current.catalog.databases.get(&db_name).filter(|d| d.id == db.id) else {
            return Err(SqlError::unknown_database(&db_name));
        };
        if crate::fe::jobs::holds::job_running_in(current, db_now.id) {
            return Err(SqlError::doris("Can only run one backup or restore job of a database at same time"));
        }
        let Some(repo_now) = current.catalog.repositories.get(&stmt.repository).filter(|r| r.id == repo.id) else {
            return Err(SqlError::doris(format!("Repository {} does not exist", stmt.repository)));
        };
        let job = BackupJob {
            id: current.catalog.next_id,
            label: stmt.label.clone(),
            db_id: db_now.id,
            db_name: db_name.clone(),
            repo_id: repo_now.id,
            repo_name: repo_now.name.clone(),
            state: BackupState::Pending,
            objects,
            timeout_s,
            create_time_ms: crate::clock::now_ms(),
            snapshot_finished_time_ms: None,
            upload_finished_time_ms: None,
            finished_time_ms: None,
            status: JobStatus::ok(),
            task_errors: Vec::new(),
            tables: Vec::new(),
            snapshots: BTreeMap::new(),
            uploaded: BTreeMap::new(),
        };
        self.submit_job(&mut durable, job).await
    }

    pub(crate) async fn show_backup(
        &self,
        session: &Session,
        database: Option<String>,
        filter: Option<LabelFilter>,
    ) -> Result<QueryOutput, SqlError> {
        let (state, db_id) = self.job_statement_state(session, database).await?;
        let runtime = self.job_runtime_snapshot();
        let rows = state
            .backup
            .jobs
            .values()
            .filter(|j| j.db_id == db_id)
            .filter(|j| label_matches(filter.as_ref(), &j.label))
            .map(|j| {
                let [unfinished, progress, errors] = JobRuntime::shown(&runtime, j.id, j.state, &j.task_errors);
                let time = |ms: Option<u64>| ms.map(crate::clock::format_datetime);
                vec![
                    Some(j.id.to_string()),
                    Some(j.label.clone()),
                    Some(j.db_name.clone()),
                    Some(j.state.name().to_string()),
                    Some(objects_text(&j.db_name, &j.objects)),
                    time(Some(j.create_time_ms)),
                    time(j.snapshot_finished_time_ms),
                    time(j.upload_finished_time_ms),
                    time(j.finished_time_ms),
                    unfinished,
                    progress,
                    errors,
                    Some(j.status.to_string()),
                    Some(j.timeout_s.to_string()),
                ]
            })
            .collect();
        Ok(QueryOutput::Rows { columns: SHOW_BACKUP_COLUMNS.iter().map(|c| c.to_string()).collect(), rows })
    }

    pub(crate) async fn cancel_backup(
        &self,
        session: &Session,
        database: Option<String>,
    ) -> Result<QueryOutput, SqlError> {
        let (state, db_id) = self.job_statement_state(session, database).await?;
        let Some(job) = state.backup.running_in(db_id) else {
            return Err(SqlError::doris("No backup job is currently running"));
        };
        let status = JobStatus::error(StatusCode::CommonError, "user cancelled");
        match self.cancel_backup_job(job.id, status).await {
            Ok(()) => Ok(QueryOutput::Ok { affected_rows: 0 }),
            Err(CancelError::AlreadyDone(state)) => Err(SqlError::doris(format!(
                "Failed to cancel job: Job with label {} can not be cancelled. state: {}",
                job.label,
                state.name()
            ))),
            Err(CancelError::Journal(e)) => Err(e),
        }
    }

    /// Ends a job as CANCELLED with `status` (one journal record), then releases its snapshots
    /// on every backend that answers (heartbeats release the rest later).
    pub(crate) async fn cancel_backup_job(&self, job_id: i64, status: JobStatus) -> Result<(), CancelError> {
        assert!(!status.is_ok(), "a cancel needs a reason");
        // Waits for an `__info` write in flight: the job then either finished (and cannot be
        // cancelled) or has not written it.
        let _info = self.backup_info_lock.lock().await;
        let (job, from) = {
            let mut durable = self.durable.lock().await;
            let Some(job) = durable.state.backup.jobs.get(&job_id) else {
                return Err(CancelError::AlreadyDone(BackupState::Cancelled));
            };
            if job.state.is_done() {
                return Err(CancelError::AlreadyDone(job.state));
            }
            let mut job = BackupJob::clone(job);
            let from = job.state;
            tracing::info!(job_id, label = %job.label, from = job.state.name(), %status, "fe: backup cancelled");
            job.state = BackupState::Cancelled;
            job.status = status;
            job.finished_time_ms = Some(crate::clock::now_ms());
            let edit = FeEdit::BackupJob { job: Box::new(job.clone()) };
            self.commit_locked(&mut durable, edit).await.map_err(CancelError::Journal)?;
            (job, from)
        };
        if from == BackupState::UploadInfo {
            self.remove_backup_info(&job).await;
        }
        self.release_backup_snapshots(&job).await;
        Ok(())
    }

    pub(crate) async fn show_snapshot(
        &self,
        repository: &str,
        snapshot: Option<String>,
        timestamp: Option<String>,
    ) -> Result<QueryOutput, SqlError> {
        let state = self.state().await;
        let repo = state
            .catalog
            .repositories
            .get(repository)
            .ok_or_else(|| SqlError::doris(format!("Repository {repository} does not exist")))?;
        let store = self
            .repository_store(&state, repo)
            .map_err(|e| SqlError::doris(format!("Failed to get repository {repository}: {e}")))?;
        let failed = |e: repository::RepoError| {
            SqlError::doris(format!("Failed to list snapshots in repository {repository}: {e}"))
        };
        match (snapshot, timestamp) {
            (Some(label), Some(ts)) => {
                let cancelled = cancelled_owner_here(store.as_ref(), &state, repo, &label).await;
                let (database, details, status) = match layout::read_info(store.as_ref(), &repo.name, &label, &ts).await
                {
                    _ if cancelled.is_some() => (
                        None,
                        None,
                        format!("ERROR: backup job {} of this cluster was cancelled", cancelled.unwrap_or_default()),
                    ),
                    Ok(info) => {
                        let details = serde_json::to_string_pretty(&info.brief()).unwrap_or_default();
                        (Some(info.database.clone()), Some(details), "OK".to_string())
                    }
                    Err(e) => (None, None, format!("Failed to get info: {e}")),
                };
                Ok(QueryOutput::Rows {
                    columns: ["Snapshot", "Timestamp", "Database", "Details", "Status"].map(String::from).to_vec(),
                    rows: vec![vec![Some(label), Some(ts), database, details, Some(status)]],
                })
            }
            (snapshot, _) => {
                // One level at a time: the labels, then each label's `__info` files, never the
                // tablet files beside them (10^5 and more per snapshot).
                let prefix = format!("{}/__ss_", repository_dir(&repo.name));
                let labels = store.list_shallow(&prefix).await.map_err(failed)?.dirs;
                let mut snapshots: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for dir in &labels {
                    let Some(label) = dir.strip_prefix(&prefix) else { continue };
                    if snapshot.as_ref().is_some_and(|s| s != label) {
                        continue;
                    }
                    let infos = snapshots.entry(label.to_string()).or_default();
                    let info_prefix = format!("{dir}/__info_");
                    for entry in store.list_shallow(&info_prefix).await.map_err(failed)?.files {
                        let info = &entry.path[info_prefix.len()..];
                        infos.push(match repository::split_md5(info) {
                            Some((ts, _)) => ts.to_string(),
                            None => format!("Invalid: __info_{info}"),
                        });
                    }
                }
                let mut rows = Vec::with_capacity(snapshots.len());
                for (label, infos) in snapshots {
                    let cancelled = cancelled_owner_here(store.as_ref(), &state, repo, &label).await;
                    rows.push(if let Some(job) = cancelled {
                        let why = format!("ERROR: backup job {job} of this cluster was cancelled");
                        vec![Some(label), None, Some(why)]
                    } else if infos.is_empty() {
                        vec![Some(label), None, Some("ERROR: No info file found".to_string())]
                    } else {
                        vec![Some(label), Some(infos.join("\n")), Some("OK".to_string())]
                    });
                }
                Ok(QueryOutput::Rows { columns: ["Snapshot", "Timestamp", "Status"].map(String::from).to_vec(), rows })
            }
        }
    }
}

/// The backup job of this cluster that wrote `label` to repository `repo_id` and was cancelled:
/// whatever of it is in the repository is not a snapshot.
pub(crate) fn cancelled_here(state: &FeState, repo_id: i64, label: &str) -> Option<i64> {
    state
        .backup
        .jobs
        .values()
        .find(|j| j.repo_id == repo_id && j.label == label && j.state == BackupState::Cancelled)
        .map(|j| j.id)
}

/// The cancelled backup job of this cluster that owns `label` in `repo` (its `__owner` names it):
/// whatever of the label is in the repository is that job's leftovers, not a snapshot. A job of
/// this cluster that lost the label to another job (of another cluster sharing the repository)
/// wrote nothing there: the winner's snapshot is shown as it is. When the owner cannot be read,
/// the label is shown as this cluster's cancelled job (never OK on a guess).
pub(crate) async fn cancelled_owner_here(
    store: &dyn RepoStore,
    state: &FeState,
    repo: &crate::fe::catalog::RepositoryRecord,
    label: &str,
) -> Option<i64> {
    let job = cancelled_here(state, repo.id, label)?;
    let owner = store.get(&layout::owner_path(&repo.name, label)).await.ok();
    match owner.and_then(|bytes| serde_json::from_slice::<layout::LabelOwner>(&bytes).ok()) {
        // Ours lost the label: the owner decides (another cluster's job, or another of ours).
        Some(owner) if owner.cluster_id != state.cluster_id || owner.job_id != job => {
            (owner.cluster_id == state.cluster_id).then(|| cancelled_here_by_id(state, owner.job_id)).flatten()
        }
        _ => Some(job),
    }
}

/// `job_id` if it is a cancelled backup job of this cluster.
fn cancelled_here_by_id(state: &FeState, job_id: i64) -> Option<i64> {
    state.backup.jobs.get(&job_id).filter(|j| j.state == BackupState::Cancelled).map(|j| j.id)
}

/// Why a cancel did not happen.
#[derive(Debug)]
pub(crate) enum CancelError {
    AlreadyDone(BackupState),
    Journal(SqlError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::TableName;

    fn tref(db: Option<&str>, t: &str, parts: &[&str], alias: Option<&str>) -> BackupTableRef {
        BackupTableRef {
            table: TableName { database: db.map(String::from), table: t.into() },
            partitions: parts.iter().map(|p| p.to_string()).collect(),
            alias: alias.map(String::from),
        }
    }

    #[test]
    fn labels_and_properties() {
        assert!(check_label("snapshot_2024-01-01:full").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label("a b").is_err());
        assert!(check_label(&"x".repeat(129)).is_err());
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(backup_timeout_s(&[]).unwrap(), DEFAULT_TIMEOUT_S);
        assert_eq!(backup_timeout_s(&p("timeout", "3600")).unwrap(), 3600);
        assert_eq!(
            backup_timeout_s(&p("timeout", "599")).unwrap_err().message,
            "errCode = 2, detailMessage = timeout must be at least 10 min"
        );
        assert!(backup_timeout_s(&p("timeout", "1h")).unwrap_err().message.contains("Invalid timeout format: 1h"));
        assert_eq!(
            backup_timeout_s(&p("type", "incremental")).unwrap_err().message,
            "errCode = 2, detailMessage = Currently does not support incremental backup"
        );
        assert_eq!(
            backup_timeout_s(&[("a".into(), "1".into()), ("b".into(), "2".into())]).unwrap_err().message,
            "errCode = 2, detailMessage = Unknown backup job properties: [a, b]"
        );
    }

    #[test]
    fn table_references_are_checked_like_doris() {
        let e = check_refs(&[tref(Some("d"), "t", &[], None)]).unwrap_err();
        assert_eq!(
            e.message,
            "errCode = 2, detailMessage = Cannot specify database name on backup objects: t. Specify database name before label"
        );
        let e = check_refs(&[tref(None, "t", &[], Some("x"))]).unwrap_err();
        assert_eq!(e.message, "errCode = 2, detailMessage = Can not set alias for table in Backup Command");
        let e = check_refs(&[tref(None, "t", &[], None), tref(None, "t", &["p"], None)]).unwrap_err();
        assert_eq!(e.message, "errCode = 2, detailMessage = Duplicated table: t");
    }
}
