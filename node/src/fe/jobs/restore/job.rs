//! The RESTORE job as the journal keeps it: its states, the legal moves between them, the plan it
//! builds (new tables, partitions and tablets), and what the catalog does at each journaled move.
//!
//! ```text
//! PENDING -> SNAPSHOTING -> DOWNLOAD -> DOWNLOADING -> COMMIT -> COMMITTING -> FINISHED
//!    \___________\______________\___________\___________\___________\_______-> CANCELLED
//! ```
//!
//! Where the catalog changes (all in [`RestoreJob::apply_to_catalog`], so replay does the same):
//! - PENDING -> SNAPSHOTING carries the plan: tables the job creates and partitions it adds to
//!   existing tables enter the catalog at once (visible, refused to queries and loads while the
//!   job runs); partitions it overwrites keep their tablets and their data. Every id of the plan
//!   (tables, partitions, the new tablets and replicas) is claimed by this record, before any
//!   tablet exists on a backend.
//! - -> FINISHED is the commit point: overwritten partitions switch to the new tablets at the
//!   backed-up version, in this one record. Nothing before it touched live data, so a cancel,
//!   timeout or crash before it leaves every target as it was; after it there is nothing left
//!   to do but release (snapshots, old tablets), which is idempotent.
//! - -> CANCELLED (once the plan is in) removes the tables and partitions the job created.
//!
//! [`RestoreJobs::apply`] asserts the state graph on every record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fe::catalog::{Catalog, PartitionRecord, RangeRecord, TableRecord, TabletRecord};
use crate::fe::jobs::state::JobState;
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::MAX_TASK_ERRORS;
use crate::fe::jobs::status::drop_oldest_ended;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RestoreState {
    Pending,
    Snapshoting,
    Download,
    Downloading,
    Commit,
    Committing,
    Finished,
    Cancelled,
}

impl JobState for RestoreState {
    const KIND: &'static str = "restore";
    const ALL: &'static [RestoreState] = &[
        RestoreState::Pending,
        RestoreState::Snapshoting,
        RestoreState::Download,
        RestoreState::Downloading,
        RestoreState::Commit,
        RestoreState::Committing,
        RestoreState::Finished,
        RestoreState::Cancelled,
    ];
    const FINISHED: RestoreState = RestoreState::Finished;
    const CANCELLED: RestoreState = RestoreState::Cancelled;

    fn name(self) -> &'static str {
        match self {
            RestoreState::Pending => "PENDING",
            RestoreState::Snapshoting => "SNAPSHOTING",
            RestoreState::Download => "DOWNLOAD",
            RestoreState::Downloading => "DOWNLOADING",
            RestoreState::Commit => "COMMIT",
            RestoreState::Committing => "COMMITTING",
            RestoreState::Finished => "FINISHED",
            RestoreState::Cancelled => "CANCELLED",
        }
    }
}

/// A table the RESTORE asked for, by its name in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreObject {
    pub table: String,
    /// Empty: every partition the snapshot holds.
    pub partitions: Vec<String>,
    pub alias: Option<String>,
}

impl RestoreObject {
    /// The name the table has in the target database.
    pub fn target(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.table)
    }
}

/// One new tablet: where its data comes from and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletPlan {
    pub source_tablet_id: i64,
    /// The backed-up tablet's directory in the repository.
    pub remote_dir: String,
    /// Its files as `__info` lists them (`name.<md5>`).
    pub files: Vec<String>,
    /// The new tablet and its replicas (new ids).
    pub tablet: TabletRecord,
}

/// One partition the job fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlan {
    pub source_partition_id: i64,
    /// The partition's id in the target table (new, or the existing one it overwrites).
    pub partition_id: i64,
    pub name: String,
    pub range: Option<RangeRecord>,
    /// The backed-up version: what the partition is at once the job finishes.
    pub version: u64,
    /// An existing partition whose tablets are switched to the new ones at the commit; otherwise
    /// the job created the partition (in an existing table, or with its table).
    pub overwrites: bool,
    /// In bucket order, paired by position with the backed-up tablets.
    pub tablets: Vec<TabletPlan>,
}

/// One table the job fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablePlan {
    pub source_table_id: i64,
    pub source_name: String,
    pub table_id: i64,
    /// Its name in the target database (the alias, if one was given).
    pub name: String,
    /// The job creates the table (it did not exist).
    pub created: bool,
    /// A created table's definition (schema, distribution, replication; no partitions); for an
    /// existing one, its definition when the job began.
    pub definition: TableRecord,
    pub partitions: Vec<PartitionPlan>,
}

/// The version a restored partition has in the catalog: the backed-up one. (The simulator can
/// switch this to a bug, `restore-forgets-versions`, to show its checks catch it.)
fn catalog_version(p: &PartitionPlan) -> u64 {
    if palo_buggify::injected_bug(palo_buggify::Bug::RestoreForgetsVersions) { 1 } else { p.version }
}

impl TablePlan {
    fn partition_record(&self, p: &PartitionPlan, time_ms: u64) -> PartitionRecord {
        PartitionRecord {
            id: p.partition_id,
            name: p.name.clone(),
            range: p.range,
            visible_version: catalog_version(p),
            visible_version_time_ms: time_ms,
            tablets: p.tablets.iter().map(|t| t.tablet.clone()).collect(),
            recent_txns: BTreeMap::new(),
        }
    }

    /// The record of a table the job creates, with the partitions it restores.
    pub fn new_table_record(&self, time_ms: u64) -> TableRecord {
        assert!(self.created, "table {} is not created by the restore", self.name);
        let mut table = self.definition.clone();
        table.id = self.table_id;
        table.name = self.name.clone();
        table.partitions = self.partitions.iter().map(|p| self.partition_record(p, time_ms)).collect();
        table.partitions.sort_by_key(|p| p.range.map(|r| r.lower));
        table
    }

    /// Every new tablet of the plan.
    pub fn tablets(&self) -> impl Iterator<Item = (&PartitionPlan, &TabletPlan)> {
        self.partitions.iter().flat_map(|p| p.tablets.iter().map(move |t| (p, t)))
    }
}

/// The snapshot a new replica's files land in before they move into its tablet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landing {
    pub tablet_id: i64,
    pub backend_id: i64,
    /// As MakeSnapshot returned it (`snapshot/<name>`).
    pub path: String,
}

/// A RESTORE job: what it was asked, where it is, and what it has planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreJob {
    pub id: i64,
    pub label: String,
    /// Which `__info_<ts>` of the label (`yyyy-MM-dd-HH-mm-ss`).
    pub backup_timestamp: String,
    pub db_id: i64,
    pub db_name: String,
    pub repo_id: i64,
    pub repo_name: String,
    pub state: RestoreState,
    pub objects: Vec<RestoreObject>,
    /// Replicas of every tablet of the tables the job creates.
    pub replication_num: u16,
    /// Use the backed-up tables' replica counts instead of `replication_num`.
    pub reserve_replica: bool,
    /// Loads into the tables the job creates are taken while it runs.
    pub allow_load: bool,
    pub timeout_s: u64,
    /// The `__meta` format version to read (`None`: as `__info` says).
    pub meta_version: Option<u32>,
    /// SHOW RESTORE's RestoreObjs: the brief JSON of what is restored.
    pub objects_json: String,
    pub create_time_ms: u64,
    pub meta_prepared_time_ms: Option<u64>,
    pub snapshot_finished_time_ms: Option<u64>,
    pub download_finished_time_ms: Option<u64>,
    pub finished_time_ms: Option<u64>,
    pub status: JobStatus,
    /// The last task errors, `[what: message]`, at most [`MAX_TASK_ERRORS`].
    pub task_errors: Vec<String>,
    /// From SNAPSHOTING on.
    pub plan: Vec<TablePlan>,
    /// From DOWNLOAD on: one per replica of every new tablet.
    pub landings: Vec<Landing>,
}

impl RestoreJob {
    pub fn deadline_ms(&self) -> u64 {
        self.create_time_ms.saturating_add(self.timeout_s.saturating_mul(1_000))
    }

    pub fn note_task_error(&mut self, error: String) {
        if self.task_errors.len() >= MAX_TASK_ERRORS {
            self.task_errors.remove(0);
        }
        self.task_errors.push(error);
    }

    /// Every backend holding a new replica (where the job's tablets and snapshots are).
    pub fn backends(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .plan
            .iter()
            .flat_map(|t| t.tablets())
            .flat_map(|(_, t)| t.tablet.replicas.iter().map(|r| r.backend_id))
            .chain(self.landings.iter().map(|l| l.backend_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether the job holds `table_id` of its database (from SNAPSHOTING until it ends).
    pub fn holds_table(&self, table_id: i64) -> Option<&TablePlan> {
        if self.state.is_done() {
            return None;
        }
        self.plan.iter().find(|t| t.table_id == table_id)
    }

    /// The tablets of overwritten partitions as they are in `catalog` now: what the commit
    /// replaces (dropped once the job has finished).
    pub fn overwritten_tablets(&self, catalog: &Catalog) -> Vec<TabletRecord> {
        let mut out = Vec::new();
        let Some(db) = catalog.database_by_id(self.db_id) else {
            return out;
        };
        for t in self.plan.iter().filter(|t| !t.created) {
            let Some(table) = db.tables.values().find(|x| x.id == t.table_id) else { continue };
            for p in t.partitions.iter().filter(|p| p.overwrites) {
                if let Some(existing) = table.partitions.iter().find(|x| x.id == p.partition_id) {
                    out.extend(existing.tablets.iter().cloned());
                }
            }
        }
        out
    }

    /// What the job's record does to the catalog, moving from `from` (`None`: a new job) to its
    /// state. See the module doc.
    pub fn apply_to_catalog(&self, from: Option<RestoreState>, catalog: &mut Catalog) {
        match (from, self.state) {
            (Some(RestoreState::Pending), RestoreState::Snapshoting) => self.add_to_catalog(catalog),
            (Some(_), RestoreState::Finished) => self.switch(catalog),
            (Some(from), RestoreState::Cancelled) if from > RestoreState::Pending => self.remove_from_catalog(catalog),
            _ => {}
        }
    }

    /// What each state holds, asserted on every record (at commit and at replay): from
    /// DOWNLOAD on, a landing snapshot for every replica of every planned tablet; from COMMIT on,
    /// the downloads' end. A cancelled job holds whatever it had.
    fn assert_state_data(&self) {
        if self.state == RestoreState::Cancelled {
            return;
        }
        if self.state > RestoreState::Snapshoting {
            assert!(self.snapshot_finished_time_ms.is_some(), "restore job {} has no snapshot time", self.id);
            let landed: std::collections::BTreeSet<(i64, i64)> =
                self.landings.iter().map(|l| (l.tablet_id, l.backend_id)).collect();
            for (_, t) in self.plan.iter().flat_map(|t| t.tablets()) {
                for r in &t.tablet.replicas {
                    assert!(
                        landed.contains(&(t.tablet.id, r.backend_id)),
                        "restore job {} is {} without a landing of tablet {} on backend {}",
                        self.id,
                        self.state.name(),
                        t.tablet.id,
                        r.backend_id
                    );
                }
            }
        }
        if self.state > RestoreState::Downloading {
            assert!(self.download_finished_time_ms.is_some(), "restore job {} has no download time", self.id);
        }
    }

    fn add_to_catalog(&self, catalog: &mut Catalog) {
        assert!(!self.plan.is_empty(), "restore job {} moved to SNAPSHOTING without a plan", self.id);
        let time_ms = self.meta_prepared_time_ms.unwrap_or(self.create_time_ms);
        let mut max_id = self.id;
        for t in &self.plan {
            if t.created {
                max_id = max_id.max(t.table_id);
            }
            for (p, tablet) in t.tablets() {
                if !p.overwrites {
                    max_id = max_id.max(p.partition_id);
                }
                max_id = max_id.max(tablet.tablet.id);
                for r in &tablet.tablet.replicas {
                    max_id = max_id.max(r.id);
                }
            }
        }
        let first_new = self.plan.iter().flat_map(|t| t.tablets()).map(|(_, t)| t.tablet.id).min();
        assert!(
            first_new.is_none_or(|id| id >= catalog.next_id),
            "restore job {} plans tablet ids below the catalog's next id {}",
            self.id,
            catalog.next_id
        );
        catalog.next_id = catalog.next_id.max(max_id + 1);
        let db = catalog
            .database_by_id_mut(self.db_id)
            .unwrap_or_else(|| panic!("restore job {} plans into missing database {}", self.id, self.db_id));
        for t in &self.plan {
            if t.created {
                assert!(!db.tables.contains_key(&t.name), "restore job {} creates table {} twice", self.id, t.name);
                db.tables.insert(t.name.clone(), std::sync::Arc::new(t.new_table_record(time_ms)));
                continue;
            }
            let table = db
                .tables
                .values_mut()
                .find(|x| x.id == t.table_id)
                .map(std::sync::Arc::make_mut)
                .unwrap_or_else(|| panic!("restore job {} plans into missing table {}", self.id, t.table_id));
            for p in t.partitions.iter().filter(|p| !p.overwrites) {
                assert!(
                    table.partitions.iter().all(|x| x.name != p.name),
                    "restore job {} adds partition {} twice",
                    self.id,
                    p.name
                );
                table.partitions.push(t.partition_record(p, time_ms));
            }
            table.partitions.sort_by_key(|p| p.range.map(|r| r.lower));
        }
    }

    /// The commit point: overwritten partitions take the new tablets at the backed-up version.
    fn switch(&self, catalog: &mut Catalog) {
        let time_ms = self.finished_time_ms.unwrap_or(self.create_time_ms);
        let db = catalog
            .database_by_id_mut(self.db_id)
            .unwrap_or_else(|| panic!("restore job {} commits into missing database {}", self.id, self.db_id));
        for t in self.plan.iter().filter(|t| !t.created) {
            let table = db
                .tables
                .values_mut()
                .find(|x| x.id == t.table_id)
                .map(std::sync::Arc::make_mut)
                .unwrap_or_else(|| panic!("restore job {} commits into missing table {}", self.id, t.table_id));
            for p in t.partitions.iter().filter(|p| p.overwrites) {
                let partition = table.partitions.iter_mut().find(|x| x.id == p.partition_id).unwrap_or_else(|| {
                    panic!("restore job {} commits into missing partition {}", self.id, p.partition_id)
                });
                assert_eq!(partition.tablets.len(), p.tablets.len(), "restore job {}: tablet counts differ", self.id);
                if !palo_buggify::injected_bug(palo_buggify::Bug::RestoreCommitKeepsOldTablets) {
                    partition.tablets = p.tablets.iter().map(|t| t.tablet.clone()).collect();
                }
                partition.visible_version = catalog_version(p);
                partition.visible_version_time_ms = time_ms;
                partition.recent_txns.clear();
            }
        }
    }

    /// Undoes [`RestoreJob::add_to_catalog`]: the tables and partitions the job created go.
    fn remove_from_catalog(&self, catalog: &mut Catalog) {
        if palo_buggify::injected_bug(palo_buggify::Bug::RestoreCancelKeepsTables) {
            return;
        }
        let Some(db) = catalog.database_by_id_mut(self.db_id) else {
            panic!("restore job {} is cancelled in missing database {}", self.id, self.db_id)
        };
        for t in &self.plan {
            if t.created {
                let before = db.tables.len();
                db.tables.retain(|_, x| x.id != t.table_id);
                assert_eq!(before, db.tables.len() + 1, "restore job {}: created table {} is gone", self.id, t.name);
                continue;
            }
            let Some(table) = db.tables.values_mut().find(|x| x.id == t.table_id).map(std::sync::Arc::make_mut) else {
                panic!("restore job {}: table {} is gone before the cancel", self.id, t.name)
            };
            for p in t.partitions.iter().filter(|p| !p.overwrites) {
                let before = table.partitions.len();
                table.partitions.retain(|x| x.id != p.partition_id);
                assert_eq!(before, table.partitions.len() + 1, "restore job {}: partition {} is gone", self.id, p.name);
            }
        }
    }
}

/// Every retained restore job, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreJobs {
    pub jobs: BTreeMap<i64, std::sync::Arc<RestoreJob>>,
}

impl RestoreJobs {
    /// The job of `db_id` that has not ended, if any (there is at most one).
    pub fn running_in(&self, db_id: i64) -> Option<&RestoreJob> {
        self.jobs.values().find(|j| j.db_id == db_id && !j.state.is_done()).map(|j| &**j)
    }

    pub fn uses_repository(&self, repo_id: i64) -> bool {
        self.jobs.values().any(|j| j.repo_id == repo_id && !j.state.is_done())
    }

    /// The running job holding a table of `db_id`, with its plan of the table.
    pub fn holding(&self, db_id: i64, table_id: i64) -> Option<(&RestoreJob, &TablePlan)> {
        let job = self.running_in(db_id)?;
        job.holds_table(table_id).map(|t| (job, t))
    }

    /// Every (tablet, backend) replica of the running jobs' new tablets, for lookups in bulk
    /// (one per heartbeat round, not one per reported tablet).
    pub fn running_replicas(&self) -> std::collections::BTreeSet<(i64, i64)> {
        self.jobs
            .values()
            .filter(|j| !j.state.is_done())
            .flat_map(|j| j.plan.iter())
            .flat_map(|t| t.tablets())
            .flat_map(|(_, t)| t.tablet.replicas.iter().map(|r| (t.tablet.id, r.backend_id)))
            .collect()
    }

    /// A new job or a job's next state, with its effect on `catalog`. Asserts the state graph;
    /// `other_running` says whether another job (a backup) runs in the database.
    pub fn apply(&mut self, job: &RestoreJob, catalog: &mut Catalog, other_running: bool) {
        let from = match self.jobs.get(&job.id) {
            Some(old) => {
                assert!(
                    old.state.may_move_to(job.state),
                    "restore job {} moved from {} to {}",
                    job.id,
                    old.state.name(),
                    job.state.name()
                );
                assert_eq!((old.db_id, &old.label), (job.db_id, &job.label), "restore job {} changed identity", job.id);
                if old.state > RestoreState::Pending {
                    assert_eq!(old.plan, job.plan, "restore job {} changed its plan", job.id);
                }
                Some(old.state)
            }
            None => {
                assert_eq!(job.state, RestoreState::Pending, "restore job {} starts in {}", job.id, job.state.name());
                assert!(
                    self.running_in(job.db_id).is_none() && !other_running,
                    "a second running job in database {} (restore job {})",
                    job.db_id,
                    job.id
                );
                None
            }
        };
        assert_eq!(
            job.status.is_ok(),
            job.state != RestoreState::Cancelled,
            "restore job {}: only a cancelled job has a failed status",
            job.id
        );
        job.assert_state_data();
        job.apply_to_catalog(from, catalog);
        let mut kept = job.clone();
        if kept.state.is_done() {
            // An ended job's plan is not needed any more (SHOW RESTORE shows RestoreObjs).
            kept.plan.clear();
            kept.landings.clear();
        }
        self.jobs.insert(job.id, std::sync::Arc::new(kept));
        drop_oldest_ended(&mut self.jobs, job.db_id, |j| j.db_id, |j| j.state.is_done());
    }
}

impl crate::fe::jobs::journaled::JournaledJob for RestoreJob {
    type State = RestoreState;

    fn id(&self) -> i64 {
        self.id
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn state(&self) -> RestoreState {
        self.state
    }

    fn set_state(&mut self, state: RestoreState) {
        self.state = state;
    }

    fn task_errors(&self) -> &[String] {
        &self.task_errors
    }

    fn note_task_error(&mut self, error: String) {
        RestoreJob::note_task_error(self, error);
    }

    fn journaled(state: &crate::fe::FeState, job_id: i64) -> Option<&Self> {
        state.restore.jobs.get(&job_id).map(|j| &**j)
    }

    fn record(self) -> crate::fe::FeEdit {
        crate::fe::FeEdit::RestoreJob { job: Box::new(self) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fe::catalog::{CatalogEdit, DatabaseRecord, DistributionRecord, ReplicaRecord};
    use crate::fe::jobs::status::StatusCode;
    use crate::schema::{Column, ColumnType, KeysType, Schema};

    fn definition(id: i64, name: &str) -> TableRecord {
        TableRecord {
            id,
            name: name.into(),
            schema: Schema {
                columns: vec![Column {
                    name: "k".into(),
                    ty: ColumnType::BigInt,
                    nullable: false,
                    default: None,
                    comment: String::new(),
                    aggregation: None,
                    is_key: true,
                }],
                keys_type: KeysType::Duplicate,
            },
            partition_column: None,
            distribution: DistributionRecord { hash_columns: vec!["k".into()], buckets: 1 },
            replication_num: 1,
            partitions: Vec::new(),
            comment: String::new(),
        }
    }

    fn tablet(id: i64) -> TabletPlan {
        TabletPlan {
            source_tablet_id: 5,
            remote_dir: "r".into(),
            files: vec![],
            tablet: TabletRecord { id, replicas: vec![ReplicaRecord { id: id + 1, backend_id: 10_001 }] },
        }
    }

    fn job(state: RestoreState, plan: Vec<TablePlan>) -> RestoreJob {
        RestoreJob {
            id: 30_000,
            label: "l".into(),
            backup_timestamp: "2024-01-01-00-00-00".into(),
            db_id: 20_001,
            db_name: "d".into(),
            repo_id: 1,
            repo_name: "r".into(),
            state,
            objects: vec![],
            replication_num: 1,
            reserve_replica: false,
            allow_load: false,
            timeout_s: 86_400,
            meta_version: None,
            objects_json: String::new(),
            create_time_ms: 0,
            meta_prepared_time_ms: None,
            snapshot_finished_time_ms: None,
            download_finished_time_ms: None,
            finished_time_ms: None,
            status: if state == RestoreState::Cancelled {
                JobStatus::error(StatusCode::CommonError, "user cancelled")
            } else {
                JobStatus::ok()
            },
            task_errors: vec![],
            plan,
            landings: vec![],
        }
    }

    fn landings_of(plan: &[TablePlan]) -> Vec<Landing> {
        let tablets = plan.iter().flat_map(|t| t.tablets()).map(|(_, t)| &t.tablet);
        tablets
            .flat_map(|t| t.replicas.iter().map(move |r| (t.id, r.backend_id)))
            .map(|(tablet_id, backend_id)| Landing { tablet_id, backend_id, path: format!("snapshot/{tablet_id}") })
            .collect()
    }

    /// A catalog with table `t` (id 20_002) of one partition (20_003) with tablet 20_004.
    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.apply(&CatalogEdit::CreateDatabase(DatabaseRecord { id: 20_001, name: "d".into(), tables: BTreeMap::new() }));
        let mut t = definition(20_002, "t");
        t.partitions.push(PartitionRecord {
            id: 20_003,
            name: "t".into(),
            range: None,
            visible_version: 7,
            visible_version_time_ms: 0,
            tablets: vec![TabletRecord {
                id: 20_004,
                replicas: vec![ReplicaRecord { id: 20_005, backend_id: 10_001 }],
            }],
            recent_txns: BTreeMap::from([(7, 99)]),
        });
        c.apply(&CatalogEdit::CreateTable { db_id: 20_001, table: t });
        c
    }

    fn plan() -> Vec<TablePlan> {
        vec![
            // Overwrite t's partition with tablet 30_010.
            TablePlan {
                source_table_id: 1,
                source_name: "t".into(),
                table_id: 20_002,
                name: "t".into(),
                created: false,
                definition: definition(20_002, "t"),
                partitions: vec![PartitionPlan {
                    source_partition_id: 2,
                    partition_id: 20_003,
                    name: "t".into(),
                    range: None,
                    version: 3,
                    overwrites: true,
                    tablets: vec![tablet(30_010)],
                }],
            },
            // Create t2 with partition 30_002 and tablet 30_003.
            TablePlan {
                source_table_id: 1,
                source_name: "t".into(),
                table_id: 30_001,
                name: "t2".into(),
                created: true,
                definition: definition(1, "t"),
                partitions: vec![PartitionPlan {
                    source_partition_id: 2,
                    partition_id: 30_002,
                    name: "t2".into(),
                    range: None,
                    version: 3,
                    overwrites: false,
                    tablets: vec![tablet(30_003)],
                }],
            },
        ]
    }

    /// A job with a plan survives a journal record (an internally tagged enum) and an image.
    #[test]
    fn a_job_round_trips_through_a_journal_record_and_an_image() {
        let mut j = job(RestoreState::Downloading, plan());
        j.landings.push(Landing { tablet_id: 30_010, backend_id: 10_001, path: "snapshot/1.0.60".into() });
        let edit = crate::fe::FeEdit::RestoreJob { job: Box::new(j.clone()) };
        let bytes = serde_json::to_vec(&edit).expect("encodes");
        let back: crate::fe::FeEdit = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(back, edit);
        let mut jobs = RestoreJobs::default();
        jobs.jobs.insert(j.id, std::sync::Arc::new(j));
        let bytes = serde_json::to_vec(&jobs).expect("encodes");
        assert_eq!(serde_json::from_slice::<RestoreJobs>(&bytes).expect("decodes"), jobs);
    }

    #[test]
    fn the_state_graph() {
        let mut state = RestoreState::Pending;
        let mut path = vec![state.name()];
        while let Some(next) = state.next() {
            assert!(state.may_move_to(next));
            assert!(state.may_move_to(RestoreState::Cancelled));
            state = next;
            path.push(state.name());
        }
        assert_eq!(path.join(" "), "PENDING SNAPSHOTING DOWNLOAD DOWNLOADING COMMIT COMMITTING FINISHED");
        assert!(!RestoreState::Finished.may_move_to(RestoreState::Cancelled));
        assert!(!RestoreState::Commit.may_move_to(RestoreState::Download));
        crate::fe::jobs::state::check_state_list::<RestoreState>();
    }

    /// The plan enters the catalog at SNAPSHOTING; the commit switches the overwritten
    /// partition to the new tablet at the backed-up version.
    #[test]
    fn plan_then_commit() {
        let mut c = catalog();
        let mut jobs = RestoreJobs::default();
        jobs.apply(&job(RestoreState::Pending, vec![]), &mut c, false);
        let mut j = job(RestoreState::Snapshoting, plan());
        jobs.apply(&j, &mut c, false);
        let db = c.database_by_id(20_001).unwrap();
        assert_eq!(db.tables["t2"].partitions[0].tablets[0].id, 30_003);
        assert_eq!(db.tables["t2"].partitions[0].visible_version, 3);
        assert_eq!(db.tables["t"].partitions[0].tablets[0].id, 20_004, "untouched before the commit");
        assert_eq!(c.next_id, 30_011 + 1);
        assert!(jobs.holding(20_001, 20_002).is_some() && jobs.running_replicas().contains(&(30_010, 10_001)));
        // What SNAPSHOTING and DOWNLOADING leave: a landing of every replica, and their times.
        j.landings = landings_of(&j.plan);
        j.snapshot_finished_time_ms = Some(1);
        j.download_finished_time_ms = Some(2);
        for s in [
            RestoreState::Download,
            RestoreState::Downloading,
            RestoreState::Commit,
            RestoreState::Committing,
            RestoreState::Finished,
        ] {
            j.state = s;
            jobs.apply(&j, &mut c, false);
        }
        let t = &c.database_by_id(20_001).unwrap().tables["t"];
        assert_eq!(t.partitions[0].tablets[0].id, 30_010);
        assert_eq!(t.partitions[0].visible_version, 3, "the backed-up version, even going back");
        assert!(t.partitions[0].recent_txns.is_empty());
        assert!(jobs.holding(20_001, 20_002).is_none() && jobs.running_replicas().is_empty());
    }

    /// A record of DOWNLOAD without the landing of a planned replica is a bug, at commit and at
    /// replay alike.
    #[test]
    #[should_panic(expected = "without a landing of tablet")]
    fn download_without_landings_is_a_bug() {
        let mut c = catalog();
        let mut jobs = RestoreJobs::default();
        jobs.apply(&job(RestoreState::Pending, vec![]), &mut c, false);
        let mut j = job(RestoreState::Snapshoting, plan());
        jobs.apply(&j, &mut c, false);
        j.landings = landings_of(&j.plan);
        j.landings.pop();
        j.snapshot_finished_time_ms = Some(1);
        j.state = RestoreState::Download;
        jobs.apply(&j, &mut c, false);
    }

    /// A cancel after the plan removes what the job created and leaves the rest as it was.
    #[test]
    fn cancel_rolls_back() {
        let mut c = catalog();
        let before = c.database_by_id(20_001).unwrap().clone();
        let mut jobs = RestoreJobs::default();
        jobs.apply(&job(RestoreState::Pending, vec![]), &mut c, false);
        let mut j = job(RestoreState::Snapshoting, plan());
        jobs.apply(&j, &mut c, false);
        j.state = RestoreState::Cancelled;
        j.status = JobStatus::error(StatusCode::CommonError, "user cancelled, current state: SNAPSHOTING");
        jobs.apply(&j, &mut c, false);
        assert_eq!(c.database_by_id(20_001).unwrap(), &before);
    }

    #[test]
    #[should_panic(expected = "a second running job")]
    fn one_job_per_database() {
        let mut c = catalog();
        let mut jobs = RestoreJobs::default();
        jobs.apply(&job(RestoreState::Pending, vec![]), &mut c, true);
    }
}
