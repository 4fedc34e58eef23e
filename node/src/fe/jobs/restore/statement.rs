//! The RESTORE statements: RESTORE SNAPSHOT (every check of docs/jobs.md, "Statements and their checks": the snapshot's
//! `__info` and `__meta` read and the whole plan tried against the catalog, so a schema mismatch
//! is refused at once; then one journal record of a PENDING job), SHOW RESTORE and CANCEL
//! RESTORE. The job itself runs in `restore/driver.rs`.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::SqlError;
use crate::fe::Fe;
use crate::fe::catalog::placement::{MAX_REPLICATION_NUM, current_load};
use crate::fe::jobs::backup::layout::{self, BackupJobInfo, BackupMeta, META_FORMAT_VERSION};
use crate::fe::jobs::holds::job_running_in;
use crate::fe::jobs::limits::MAX_TIMEOUT_S;
use crate::fe::jobs::limits::MIN_TIMEOUT_S;
use crate::fe::jobs::limits::check_label;
use crate::fe::jobs::limits::{job_database, label_matches};
use crate::fe::jobs::restore::job::{RestoreJob, RestoreObject, RestoreState};
use crate::fe::jobs::restore::plan::{self, PlanRequest};
use crate::fe::jobs::runtime::JobRuntime;
use crate::fe::jobs::state::JobState;
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;
use crate::fe::session::{QueryOutput, Session};
use crate::repository::RepoStore;
use crate::sql::ast::{BackupObjects, BackupTableRef, LabelFilter, Restore};

/// Doris's `backup_job_default_timeout_ms`, for restores too: one day.
pub const DEFAULT_TIMEOUT_S: u64 = 86_400;
/// Doris's default replica allocation for restored tables.
pub const DEFAULT_REPLICATION_NUM: u16 = 3;
/// The oldest `__meta` format this build reads.
pub const MIN_META_VERSION: u32 = 1;

pub const SHOW_RESTORE_COLUMNS: [&str; 19] = [
    "JobId",
    "Label",
    "Timestamp",
    "DbName",
    "State",
    "AllowLoad",
    "ReplicationNum",
    "ReplicaAllocation",
    "RestoreObjs",
    "CreateTime",
    "MetaPreparedTime",
    "SnapshotFinishedTime",
    "DownloadFinishedTime",
    "FinishedTime",
    "UnfinishedTasks",
    "Progress",
    "TaskErrMsg",
    "Status",
    "Timeout",
];

/// The PROPERTIES of a RESTORE, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreProperties {
    pub backup_timestamp: String,
    pub replication_num: u16,
    pub reserve_replica: bool,
    pub allow_load: bool,
    pub timeout_s: u64,
    pub meta_version: Option<u32>,
}

fn boolean(key: &str, value: &str) -> Result<bool, SqlError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SqlError::doris(format!("Invalid boolean property {key} value: {value}"))),
    }
}

/// PROPERTIES ("backup_timestamp", "replication_num", "allow_load", "timeout", "reserve_replica",
/// "meta_version") with Doris's errors.
pub fn restore_properties(properties: &[(String, String)]) -> Result<RestoreProperties, SqlError> {
    let mut out = RestoreProperties {
        backup_timestamp: String::new(),
        replication_num: DEFAULT_REPLICATION_NUM,
        reserve_replica: false,
        allow_load: false,
        timeout_s: DEFAULT_TIMEOUT_S,
        meta_version: None,
    };
    let mut unknown = Vec::new();
    for (key, value) in properties {
        match key.to_ascii_lowercase().as_str() {
            "backup_timestamp" => out.backup_timestamp = value.trim().to_string(),
            "replication_num" | "replication_allocation" => {
                // Doris's allocation form is "tag.location.default: 3"; Palo has one location tag,
                // so an allocation over several tags is refused, not read as its last count.
                if value.contains(',') {
                    return Err(SqlError::doris(format!(
                        "Invalid {key} value: {value}; Palo places replicas in one location: give one count"
                    )));
                }
                let n = value.rsplit(':').next().and_then(|n| n.trim().parse::<u16>().ok());
                out.replication_num = n.filter(|n| (1..=MAX_REPLICATION_NUM).contains(n)).ok_or_else(|| {
                    SqlError::doris(format!(
                        "Invalid {key} value: {value}; give a whole number from 1 to {MAX_REPLICATION_NUM}"
                    ))
                })?;
            }
            "reserve_replica" => out.reserve_replica = boolean(key, value)?,
            "allow_load" => out.allow_load = boolean(key, value)?,
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
                out.timeout_s = secs;
            }
            "meta_version" => {
                let v: u32 = value
                    .trim()
                    .parse()
                    .map_err(|_| SqlError::doris(format!("Invalid meta_version value: {value}; give a number")))?;
                if v < MIN_META_VERSION {
                    return Err(SqlError::doris(format!(
                        "Could not set meta version to {v} since it is lower than minimum required version \
                         {MIN_META_VERSION}"
                    )));
                }
                if v > META_FORMAT_VERSION {
                    return Err(SqlError::doris(format!(
                        "Could not set meta version to {v} since it is higher than the newest this Palo reads \
                         ({META_FORMAT_VERSION})"
                    )));
                }
                out.meta_version = Some(v);
            }
            _ => unknown.push(key.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(SqlError::doris(format!("Unknown restore job properties: [{}]", unknown.join(", "))));
    }
    if out.backup_timestamp.is_empty() {
        return Err(SqlError::doris(
            "Missing backup_timestamp property; SHOW SNAPSHOT ON repo WHERE SNAPSHOT = \"label\" shows it",
        ));
    }
    Ok(out)
}

/// Refuses what Doris refuses in the table references of a RESTORE.
fn check_refs(refs: &[BackupTableRef], exclude: bool) -> Result<(), SqlError> {
    let mut tables = BTreeSet::new();
    for r in refs {
        let name = &r.table.table;
        if r.table.database.is_some() {
            return Err(SqlError::doris(format!(
                "Cannot specify database name on restore objects: {name}. Specify database name before label"
            )));
        }
        if exclude && r.alias.is_some() {
            return Err(SqlError::doris("The table alias in exclude clause does not make sense"));
        }
        if !tables.insert(name.as_str()) {
            return Err(SqlError::doris(format!("Duplicated table: {name}")));
        }
        let mut partitions = BTreeSet::new();
        for p in &r.partitions {
            if !partitions.insert(p.as_str()) {
                return Err(SqlError::doris(format!("Duplicated partition: {p} of table {name}")));
            }
        }
    }
    let mut targets = BTreeSet::new();
    for r in refs {
        let target = r.alias.as_deref().unwrap_or(&r.table.table);
        if let Some(alias) = &r.alias {
            plan::check_target_name(alias).map_err(SqlError::doris)?;
            // An alias may not name another listed table (it would restore two tables into one).
            if alias != &r.table.table && tables.contains(alias.as_str()) {
                return Err(SqlError::doris(format!("Duplicated alias name: {alias}")));
            }
        }
        if !targets.insert(target) {
            return Err(SqlError::doris(format!("Duplicated alias name: {target}")));
        }
    }
    Ok(())
}

/// The tables (and partitions) a RESTORE takes from the snapshot.
fn resolve_objects(label: &str, info: &BackupJobInfo, objects: &BackupObjects) -> Result<Vec<RestoreObject>, SqlError> {
    let in_snapshot = |table: &str, partitions: &[String]| -> Result<(), SqlError> {
        let t = info
            .backup_objects
            .get(table)
            .ok_or_else(|| SqlError::doris(format!("Table {table} does not exist in snapshot {label}")))?;
        for p in partitions {
            if !t.partitions.contains_key(p) {
                return Err(SqlError::doris(format!("Partition {p} of table {table} does not exist in snapshot")));
            }
        }
        Ok(())
    };
    let resolved: Vec<RestoreObject> = match objects {
        BackupObjects::All => info
            .backup_objects
            .keys()
            .map(|t| RestoreObject { table: t.clone(), partitions: Vec::new(), alias: None })
            .collect(),
        BackupObjects::On(refs) => {
            check_refs(refs, false)?;
            let mut out = Vec::new();
            for r in refs {
                in_snapshot(&r.table.table, &r.partitions)?;
                out.push(RestoreObject {
                    table: r.table.table.clone(),
                    partitions: r.partitions.clone(),
                    alias: r.alias.clone().filter(|a| a != &r.table.table),
                });
            }
            out.sort_by(|a, b| a.table.cmp(&b.table));
            out
        }
        BackupObjects::Exclude(refs) => {
            check_refs(refs, true)?;
            for r in refs {
                in_snapshot(&r.table.table, &r.partitions)?;
            }
            let excluded: BTreeMap<&str, &BackupTableRef> = refs.iter().map(|r| (r.table.table.as_str(), r)).collect();
            let mut out = Vec::new();
            for (name, table) in &info.backup_objects {
                match excluded.get(name.as_str()) {
                    Some(r) if r.partitions.is_empty() => {}
                    Some(r) => {
                        let kept: Vec<String> =
                            table.partitions.keys().filter(|p| !r.partitions.contains(p)).cloned().collect();
                        if !kept.is_empty() {
                            out.push(RestoreObject { table: name.clone(), partitions: kept, alias: None });
                        }
                    }
                    None => out.push(RestoreObject { table: name.clone(), partitions: Vec::new(), alias: None }),
                }
            }
            out
        }
    };
    if resolved.is_empty() {
        return Err(SqlError::doris(format!("no valid tables found to restore from snapshot {label}")));
    }
    Ok(resolved)
}

/// SHOW RESTORE's RestoreObjs: the snapshot's brief, only what is restored, aliases shown.
fn objects_json(info: &BackupJobInfo, objects: &[RestoreObject]) -> String {
    let tables: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| {
            let partitions: Vec<String> = if o.partitions.is_empty() {
                info.backup_objects.get(&o.table).map(|t| t.partitions.keys().cloned().collect()).unwrap_or_default()
            } else {
                o.partitions.clone()
            };
            let mut table = serde_json::json!({"name": o.table, "partition_names": partitions});
            if let Some(alias) = &o.alias {
                table["alias"] = serde_json::json!(alias);
            }
            table
        })
        .collect();
    serde_json::json!({
        "name": info.name,
        "database": info.database,
        "backup_time": info.backup_time,
        "content": info.content,
        "olap_table_list": tables,
        "view_list": [],
        "odbc_table_list": [],
        "odbc_resource_list": [],
    })
    .to_string()
}

/// Reads and checks the snapshot's `__info_<ts>` and `__meta`.
pub(crate) async fn read_snapshot(
    store: &dyn RepoStore,
    repo: &str,
    label: &str,
    timestamp: &str,
    meta_version: Option<u32>,
) -> Result<(BackupJobInfo, BackupMeta), String> {
    let info = layout::read_info(store, repo, label, timestamp).await.map_err(|e| {
        format!("Failed to get info of snapshot '{label}' because: {e}. Maybe specified wrong backup timestamp")
    })?;
    let version = meta_version.unwrap_or(info.meta_version);
    let meta = layout::read_meta(store, repo, label, version)
        .await
        .map_err(|e| format!("Failed to get meta of snapshot '{label}' because: {e}"))?;
    Ok((info, meta))
}

/// `[OK]`-style cell of a boolean.
fn bool_cell(b: bool) -> Option<String> {
    Some(if b { "true" } else { "false" }.to_string())
}

impl Fe {
    pub(crate) async fn restore(&self, session: &Session, stmt: Restore) -> Result<QueryOutput, SqlError> {
        let db_name = job_database(session, stmt.database.clone())?;
        check_label(&stmt.label)?;
        let props = restore_properties(&stmt.properties)?;
        let state = self.state().await;
        let db = state.catalog.databases.get(&db_name).ok_or_else(|| SqlError::unknown_database(&db_name))?;
        let repo = state
            .catalog
            .repositories
            .get(&stmt.repository)
            .ok_or_else(|| SqlError::doris(format!("Repository {} does not exist", stmt.repository)))?;
        if job_running_in(&state, db.id) {
            return Err(SqlError::doris("Can only run one backup or restore job of a database at same time"));
        }
        let store = self
            .repository_store(&state, repo)
            .map_err(|e| SqlError::doris(format!("Failed to get repository {}: {e}", repo.name)))?;
        let info =
            layout::read_info(store.as_ref(), &repo.name, &stmt.label, &props.backup_timestamp).await.map_err(|e| {
                SqlError::doris(format!(
                    "Failed to get info of snapshot '{}' because: {e}. Maybe specified wrong backup timestamp",
                    stmt.label
                ))
            })?;
        let objects = resolve_objects(&stmt.label, &info, &stmt.objects)?;
        let meta_version = props.meta_version.unwrap_or(info.meta_version);
        let meta = layout::read_meta(store.as_ref(), &repo.name, &stmt.label, meta_version)
            .await
            .map_err(|e| SqlError::doris(format!("Failed to get meta of snapshot '{}' because: {e}", stmt.label)))?;
        // The whole plan, tried now against the catalog as it is, so what would fail the job
        // (a schema mismatch, a range conflict, too few backends) is refused at once.
        let request = PlanRequest {
            label: &stmt.label,
            repo_name: &repo.name,
            objects: &objects,
            replication_num: props.replication_num,
            reserve_replica: props.reserve_replica,
        };
        let mut scratch_id = state.catalog.next_id;
        let alive = self.alive_backends(&state.membership);
        plan::plan(&request, &info, &meta, db, &alive, &mut current_load(&state), &mut scratch_id)
            .map_err(|e| SqlError::doris(e.message()))?;

        let _ddl = self.ddl_lock.lock().await;
        let mut durable = self.durable.lock().await;
        let current = &durable.state;
        let Some(db_now) = current.catalog.databases.get(&db_name).filter(|d| d.id == db.id) else {
            return Err(SqlError::unknown_database(&db_name));
        };
        if job_running_in(current, db_now.id) {
            return Err(SqlError::doris("Can only run one backup or restore job of a database at same time"));
        }
        let Some(repo_now) = current.catalog.repositories.get(&stmt.repository).filter(|r| r.id == repo.id) else {
            return Err(SqlError::doris(format!("Repository {} does not exist", stmt.repository)));
        };
        let job = RestoreJob {
            id: current.catalog.next_id,
            label: stmt.label.clone(),
            backup_timestamp: props.backup_timestamp.clone(),
            db_id: db_now.id,
            db_name: db_name.clone(),
            repo_id: repo_now.id,
            repo_name: repo_now.name.clone(),
            state: RestoreState::Pending,
            objects_json: objects_json(&info, &objects),
            objects,
            replication_num: props.replication_num,
            reserve_replica: props.reserve_replica,
            allow_load: props.allow_load,
            timeout_s: props.timeout_s,
            meta_version: props.meta_version,
            create_time_ms: crate::clock::now_ms(),
            meta_prepared_time_ms: None,
            snapshot_finished_time_ms: None,
            download_finished_time_ms: None,
            finished_time_ms: None,
            status: JobStatus::ok(),
            task_errors: Vec::new(),
            plan: Vec::new(),
            landings: Vec::new(),
        };
        self.submit_job(&mut durable, job).await
    }

    pub(crate) async fn show_restore(
        &self,
        session: &Session,
        database: Option<String>,
        filter: Option<LabelFilter>,
    ) -> Result<QueryOutput, SqlError> {
        let (state, db_id) = self.job_statement_state(session, database).await?;
        let runtime = self.job_runtime_snapshot();
        let time = |ms: Option<u64>| ms.map(crate::clock::format_datetime);
        let rows = state
            .restore
            .jobs
            .values()
            .filter(|j| j.db_id == db_id)
            .filter(|j| label_matches(filter.as_ref(), &j.label))
            .map(|j| {
                let [unfinished, progress, errors] = JobRuntime::shown(&runtime, j.id, j.state, &j.task_errors);
                let replication = j.replication_num;
                vec![
                    Some(j.id.to_string()),
                    Some(j.label.clone()),
                    Some(j.backup_timestamp.clone()),
                    Some(j.db_name.clone()),
                    Some(j.state.name().to_string()),
                    bool_cell(j.allow_load),
                    Some(replication.to_string()),
                    Some(format!("tag.location.default: {replication}")),
                    Some(j.objects_json.clone()),
                    time(Some(j.create_time_ms)),
                    time(j.meta_prepared_time_ms),
                    time(j.snapshot_finished_time_ms),
                    time(j.download_finished_time_ms),
                    time(j.finished_time_ms),
                    unfinished,
                    progress,
                    errors,
                    Some(j.status.to_string()),
                    Some(j.timeout_s.to_string()),
                ]
            })
            .collect();
        Ok(QueryOutput::Rows { columns: SHOW_RESTORE_COLUMNS.iter().map(|c| c.to_string()).collect(), rows })
    }

    pub(crate) async fn cancel_restore(
        &self,
        session: &Session,
        database: Option<String>,
    ) -> Result<QueryOutput, SqlError> {
        let (state, db_id) = self.job_statement_state(session, database).await?;
        let Some(job) = state.restore.running_in(db_id) else {
            return Err(SqlError::doris("No restore job is currently running"));
        };
        let why = |s: RestoreState| {
            JobStatus::error(StatusCode::CommonError, format!("user cancelled, current state: {}", s.name()))
        };
        match self.cancel_restore_job(job.id, why).await {
            Ok(()) => Ok(QueryOutput::Ok { affected_rows: 0 }),
            Err(RestoreCancelError::AlreadyDone(state)) => Err(SqlError::doris(format!(
                "Failed to cancel job: Job with label {} can not be cancelled. state: {}",
                job.label,
                state.name()
            ))),
            Err(RestoreCancelError::Journal(e)) => Err(e),
        }
    }
}

/// Why a restore was not cancelled.
#[derive(Debug)]
pub(crate) enum RestoreCancelError {
    AlreadyDone(RestoreState),
    Journal(SqlError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::TableName;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn message(e: SqlError) -> String {
        e.message.trim_start_matches("errCode = 2, detailMessage = ").to_string()
    }

    #[test]
    fn properties_are_checked_like_doris() {
        let ts = ("backup_timestamp", "2024-01-01-00-00-00");
        let p = restore_properties(&props(&[ts])).unwrap();
        assert_eq!((p.replication_num, p.allow_load, p.timeout_s), (3, false, DEFAULT_TIMEOUT_S));
        let p = restore_properties(&props(&[
            ts,
            ("replication_num", "1"),
            ("allow_load", "true"),
            ("timeout", "3600"),
            ("reserve_replica", "false"),
            ("meta_version", "1"),
        ]))
        .unwrap();
        assert_eq!((p.replication_num, p.allow_load, p.timeout_s, p.meta_version), (1, true, 3600, Some(1)));
        assert!(message(restore_properties(&[]).unwrap_err()).starts_with("Missing backup_timestamp property"));
        assert_eq!(
            message(restore_properties(&props(&[ts, ("allow_load", "yes")])).unwrap_err()),
            "Invalid boolean property allow_load value: yes"
        );
        assert_eq!(
            message(restore_properties(&props(&[ts, ("a", "1"), ("b", "2")])).unwrap_err()),
            "Unknown restore job properties: [a, b]"
        );
        assert_eq!(
            message(restore_properties(&props(&[ts, ("timeout", "60")])).unwrap_err()),
            "timeout must be at least 10 min"
        );
        assert!(
            message(restore_properties(&props(&[ts, ("meta_version", "0")])).unwrap_err())
                .starts_with("Could not set meta version to 0 since it is lower than minimum required version 1")
        );
        assert!(restore_properties(&props(&[ts, ("replication_num", "9")])).is_err());
        assert!(
            restore_properties(&props(&[ts, ("replication_allocation", "tag.location.a: 2, tag.location.b: 1")]))
                .is_err()
        );
        assert_eq!(
            restore_properties(&props(&[ts, ("replication_allocation", "tag.location.default: 2")]))
                .unwrap()
                .replication_num,
            2
        );
    }

    fn tref(t: &str, alias: Option<&str>) -> BackupTableRef {
        BackupTableRef {
            table: TableName { database: None, table: t.into() },
            partitions: vec![],
            alias: alias.map(String::from),
        }
    }

    #[test]
    fn references_are_checked_like_doris() {
        assert!(check_refs(&[tref("a", Some("b")), tref("c", None)], false).is_ok());
        assert_eq!(
            message(check_refs(&[tref("a", Some("x")), tref("b", Some("x"))], false).unwrap_err()),
            "Duplicated alias name: x"
        );
        assert_eq!(
            message(check_refs(&[tref("a", Some("b")), tref("b", None)], false).unwrap_err()),
            "Duplicated alias name: b"
        );
        assert_eq!(
            message(check_refs(&[tref("a", Some("b"))], true).unwrap_err()),
            "The table alias in exclude clause does not make sense"
        );
        assert_eq!(message(check_refs(&[tref("a", None), tref("a", None)], false).unwrap_err()), "Duplicated table: a");
    }
}
