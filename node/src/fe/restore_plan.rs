//! What a RESTORE builds (reference 4.3, with DESIGN.md section 5's commit): for every table it
//! restores, either a new table, or partitions of an existing table with the same schema, each
//! partition with new tablets (new ids, placed on backends) paired by bucket position with the
//! backed-up ones.
//!
//! Rules for an existing table of the target name: its schema, partition column and distribution
//! must equal the backed-up table's (`Table T already exist but with different schema`); a
//! backed-up partition of the same name must have the same range and the table the requested
//! replica count, and is overwritten at the commit; one that does not exist must not overlap any
//! existing range, and is added. Every message is Doris's.

use std::collections::BTreeMap;

use super::backup_job::{JobStatus, StatusCode};
use super::backup_meta::{self, BackupJobInfo, BackupMeta};
use super::catalog::{
    self, DatabaseRecord, MAX_PARTITIONS, MAX_TABLES_PER_DATABASE, MAX_TABLETS_PER_TABLE, TableRecord,
};
use super::membership::BackendRecord;
use super::restore_job::{PartitionPlan, RestoreObject, TablePlan, TabletPlan};
use super::table_ddl::{MAX_REPLICATION_NUM, place_replicas};

/// What a plan needs to know about the job.
pub struct PlanRequest<'a> {
    pub label: &'a str,
    pub repo_name: &'a str,
    pub objects: &'a [RestoreObject],
    pub replication_num: u16,
    pub reserve_replica: bool,
}

/// The most a plan may weigh, encoded: every record of the job carries it, and a journal record
/// is at most [`crate::journal::MAX_RECORD_BYTES`].
pub const MAX_PLAN_BYTES: usize = crate::journal::MAX_RECORD_BYTES / 2;

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The restore cannot be done as asked (a schema mismatch, a damaged snapshot, ...).
    Refused(JobStatus),
    /// Not now: too few backends are alive to place the replicas (after an FE restart, until
    /// heartbeats have run). A job waits; a statement is refused.
    NoBackends(String),
}

impl PlanError {
    pub fn message(&self) -> &str {
        match self {
            PlanError::Refused(status) => &status.message,
            PlanError::NoBackends(message) => message,
        }
    }
}

fn error(message: impl Into<String>) -> PlanError {
    PlanError::Refused(JobStatus::error(StatusCode::CommonError, message))
}

/// The plan of a restore into `db`. Ids come from `next_id` (advanced past every id used);
/// replicas go to `backends` (the alive ones), least loaded first by `load`.
pub fn plan(
    request: &PlanRequest<'_>,
    info: &BackupJobInfo,
    meta: &BackupMeta,
    db: &DatabaseRecord,
    backends: &[BackendRecord],
    load: &mut BTreeMap<i64, usize>,
    next_id: &mut i64,
) -> Result<Vec<TablePlan>, PlanError> {
    let plans = plan_tables(request, info, meta, db, backends, load, next_id)?;
    let weight = serde_json::to_vec(&plans).map(|b| b.len()).unwrap_or(usize::MAX);
    if weight > MAX_PLAN_BYTES {
        let tablets: usize = plans.iter().map(|t| t.tablets().count()).sum();
        let files: usize = plans.iter().flat_map(|t| t.tablets()).map(|(_, t)| t.files.len()).sum();
        return Err(error(format!(
            "the restore is too large for one job ({tablets} tablets, {files} files: a {weight}-byte plan, more than \
             {MAX_PLAN_BYTES}); restore fewer tables or partitions at a time"
        )));
    }
    Ok(plans)
}

/// Checks a table of `__meta` before anything is built from it: the repository is data from
/// outside, and a damaged or foreign snapshot must be refused, not restored into a table that
/// cannot work.
fn check_backed_up_table(label: &str, t: &TableRecord) -> Result<(), PlanError> {
    let bad = |why: String| error(format!("snapshot {label} is damaged: table {}: {why}", t.name));
    crate::be::tablet::validate_schema(&t.schema).map_err(bad)?;
    if !(1..=MAX_REPLICATION_NUM).contains(&t.replication_num) {
        return Err(bad(format!("replication_num {} is not from 1 to {MAX_REPLICATION_NUM}", t.replication_num)));
    }
    let buckets = t.distribution.buckets as usize;
    if buckets == 0 || t.partitions.len().saturating_mul(buckets) > MAX_TABLETS_PER_TABLE {
        return Err(bad(format!("{} partitions of {buckets} buckets", t.partitions.len())));
    }
    for c in &t.distribution.hash_columns {
        if t.schema.column_index(c).is_none() {
            return Err(bad(format!("distribution column {c} is not a column")));
        }
    }
    if t.partitions.is_empty() || t.partitions.len() > MAX_PARTITIONS {
        return Err(bad(format!("{} partitions", t.partitions.len())));
    }
    match &t.partition_column {
        None if t.partitions.len() != 1 || t.partitions[0].range.is_some() => {
            return Err(bad("an unpartitioned table must have one partition without a range".into()));
        }
        Some(c) if !t.schema.column_index(c).is_some_and(|i| t.schema.columns[i].is_key) => {
            return Err(bad(format!("partition column {c} is not a key column")));
        }
        _ => {}
    }
    let mut names = std::collections::BTreeSet::new();
    let mut tablet_ids = std::collections::BTreeSet::new();
    for (i, p) in t.partitions.iter().enumerate() {
        catalog::check_name("partition", &p.name).map_err(bad)?;
        if !names.insert(p.name.as_str()) {
            return Err(bad(format!("partition {} appears twice", p.name)));
        }
        if t.partition_column.is_some() {
            let Some(range) = p.range else {
                return Err(bad(format!("partition {} has no range", p.name)));
            };
            if t.partitions[..i].iter().filter_map(|o| o.range).any(|o| o.overlaps(&range)) {
                return Err(bad(format!("partition {} overlaps another", p.name)));
            }
        }
        if p.tablets.len() != buckets || !p.tablets.iter().all(|x| tablet_ids.insert(x.id)) {
            return Err(bad(format!("partition {} does not have {buckets} distinct tablets", p.name)));
        }
    }
    Ok(())
}

fn plan_tables(
    request: &PlanRequest<'_>,
    info: &BackupJobInfo,
    meta: &BackupMeta,
    db: &DatabaseRecord,
    backends: &[BackendRecord],
    load: &mut BTreeMap<i64, usize>,
    next_id: &mut i64,
) -> Result<Vec<TablePlan>, PlanError> {
    let mut plans = Vec::with_capacity(request.objects.len());
    let mut created_tables = 0usize;
    for object in request.objects {
        let label = request.label;
        let remote = meta
            .tables
            .iter()
            .find(|t| t.name == object.table)
            .ok_or_else(|| error(format!("Table {} does not exist in snapshot {label}", object.table)))?;
        let remote_info = info
            .backup_objects
            .get(&object.table)
            .ok_or_else(|| error(format!("Table {} does not exist in snapshot {label}", object.table)))?;
        check_backed_up_table(label, remote)?;
        let mut partitions = Vec::new();
        if object.partitions.is_empty() {
            partitions.extend(remote.partitions.iter());
        } else {
            for name in &object.partitions {
                let p = remote.partitions.iter().find(|p| &p.name == name).ok_or_else(|| {
                    error(format!("Partition {name} of table {} does not exist in snapshot", object.table))
                })?;
                partitions.push(p);
            }
        }
        let target = object.target();
        let replication = if request.reserve_replica { remote.replication_num } else { request.replication_num };
        let mut table_plan = match db.tables.get(target) {
            Some(local) => existing_table_plan(local, remote, target)?,
            None => {
                created_tables += 1;
                if db.tables.len() + created_tables > MAX_TABLES_PER_DATABASE {
                    return Err(error(format!("a database holds at most {MAX_TABLES_PER_DATABASE} tables")));
                }
                let table_id = *next_id;
                *next_id += 1;
                let mut definition = remote.clone();
                definition.partitions.clear();
                definition.replication_num = replication;
                TablePlan {
                    source_table_id: remote.id,
                    source_name: remote.name.clone(),
                    table_id,
                    name: target.to_string(),
                    created: true,
                    definition,
                    partitions: Vec::new(),
                }
            }
        };
        for p in partitions {
            let p_info = remote_info.partitions.get(&p.name).ok_or_else(|| {
                error(format!("Partition {} of table {} does not exist in snapshot", p.name, object.table))
            })?;
            if p_info.version != p.visible_version {
                return Err(error(format!(
                    "snapshot {label} is inconsistent: __info says partition {} is at version {}, __meta says {}",
                    p.name, p_info.version, p.visible_version
                )));
            }
            let index =
                p_info.indexes.get(&remote.name).or_else(|| p_info.indexes.values().next()).ok_or_else(|| {
                    error(format!("snapshot {label}: partition {} of table {} has no index", p.name, remote.name))
                })?;
            let order: Vec<i64> = if index.tablets_order.is_empty() {
                p.tablets.iter().map(|t| t.id).collect()
            } else {
                index.tablets_order.clone()
            };
            // Tablets pair with buckets by position: the order must name each tablet once.
            let mut sorted_order = order.clone();
            sorted_order.sort_unstable();
            let mut sorted_meta: Vec<i64> = p.tablets.iter().map(|t| t.id).collect();
            sorted_meta.sort_unstable();
            if sorted_order != sorted_meta {
                return Err(error(format!(
                    "snapshot {label} is damaged: the tablet order of partition {} of table {} does not name its \
                     tablets once each",
                    p.name, remote.name
                )));
            }
            if order.len() != remote.distribution.buckets as usize || order.len() != p.tablets.len() {
                return Err(error(format!(
                    "snapshot {label}: partition {} of table {} has {} tablets, but its table has {} buckets",
                    p.name,
                    remote.name,
                    order.len(),
                    remote.distribution.buckets
                )));
            }
            let (partition_id, name, overwrites, replicas) = if table_plan.created {
                let id = *next_id;
                *next_id += 1;
                let name = if remote.partition_column.is_none() { target.to_string() } else { p.name.clone() };
                (id, name, false, replication)
            } else {
                let local = &table_plan.definition;
                let existing = if local.partition_column.is_none() {
                    db.tables.get(target).and_then(|t| t.partitions.first())
                } else {
                    db.tables.get(target).and_then(|t| t.partitions.iter().find(|x| x.name == p.name))
                };
                if local.replication_num != replication {
                    return Err(error(format!(
                        "Partition {} in table {target} has different replication num '{}' with partition in \
                         repository, which is {replication}",
                        p.name, local.replication_num
                    )));
                }
                match existing {
                    Some(existing) => {
                        if existing.range != p.range && local.partition_column.is_some() {
                            return Err(error(format!(
                                "Partition {} in table {target} has different partition item with partition in \
                                 repository",
                                p.name
                            )));
                        }
                        if existing.tablets.len() != order.len() {
                            return Err(error(format!("Table {target} already exist but with different schema")));
                        }
                        (existing.id, existing.name.clone(), true, local.replication_num)
                    }
                    None if local.partition_column.is_none() => {
                        return Err(error(format!("No partition exist in single partitioned table {target}")));
                    }
                    None => {
                        let in_table = db.tables.get(target).map(|t| t.partitions.as_slice()).unwrap_or_default();
                        let clash = in_table
                            .iter()
                            .filter_map(|x| x.range)
                            .chain(table_plan.partitions.iter().filter_map(|x| x.range))
                            .any(|r| p.range.is_none_or(|pr| pr.overlaps(&r)));
                        if clash {
                            return Err(error(format!(
                                "Partition {} in table {target} has conflict partition item with existing items",
                                p.name
                            )));
                        }
                        let added = table_plan.partitions.iter().filter(|x| !x.overwrites).count();
                        if in_table.len() + added >= MAX_PARTITIONS {
                            return Err(error(format!("a table has at most {MAX_PARTITIONS} partitions")));
                        }
                        let id = *next_id;
                        *next_id += 1;
                        (id, p.name.clone(), false, local.replication_num)
                    }
                }
            };
            let placed = place_replicas(backends, load, replicas, order.len(), next_id).map_err(|e| {
                PlanError::NoBackends(format!(
                    "Failed to create replicas for restore: {}",
                    e.message.trim_start_matches(DORIS_PREFIX)
                ))
            })?;
            let mut tablets = Vec::with_capacity(order.len());
            for (source_tablet_id, tablet) in order.iter().zip(placed) {
                let files = index.tablets.get(&source_tablet_id.to_string()).cloned().unwrap_or_default();
                if files.is_empty() {
                    return Err(error(format!(
                        "snapshot {label}: tablet {source_tablet_id} of partition {} of table {} lists no files",
                        p.name, remote.name
                    )));
                }
                tablets.push(TabletPlan {
                    source_tablet_id: *source_tablet_id,
                    remote_dir: backup_meta::index_tablet_dir(
                        request.repo_name,
                        label,
                        info.id,
                        remote.id,
                        p.id,
                        index.id,
                        *source_tablet_id,
                    ),
                    files,
                    tablet,
                });
            }
            table_plan.partitions.push(PartitionPlan {
                source_partition_id: p.id,
                partition_id,
                name,
                range: p.range,
                version: p.visible_version,
                overwrites,
                tablets,
            });
        }
        plans.push(table_plan);
    }
    Ok(plans)
}

/// The prefix of [`crate::error::SqlError::doris`] messages.
const DORIS_PREFIX: &str = "errCode = 2, detailMessage = ";

/// The plan of an existing table (its partitions come later), once its structure is checked.
fn existing_table_plan(local: &TableRecord, remote: &TableRecord, target: &str) -> Result<TablePlan, PlanError> {
    let same_partitioning = match (&local.partition_column, &remote.partition_column) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let same_distribution = local.distribution.buckets == remote.distribution.buckets
        && local.distribution.hash_columns.len() == remote.distribution.hash_columns.len()
        && local
            .distribution
            .hash_columns
            .iter()
            .zip(&remote.distribution.hash_columns)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !local.schema.same_storage(&remote.schema) || !same_partitioning || !same_distribution {
        return Err(error(format!("Table {target} already exist but with different schema")));
    }
    let mut definition = local.clone();
    definition.partitions.clear();
    Ok(TablePlan {
        source_table_id: remote.id,
        source_name: remote.name.clone(),
        table_id: local.id,
        name: target.to_string(),
        created: false,
        definition,
        partitions: Vec::new(),
    })
}

/// Checks a target name (an alias) as a table name.
pub fn check_target_name(name: &str) -> Result<(), String> {
    catalog::check_name("table", name)
}
