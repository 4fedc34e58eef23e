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
use super::catalog::{self, DatabaseRecord, MAX_PARTITIONS, MAX_TABLES_PER_DATABASE, TableRecord};
use super::membership::BackendRecord;
use super::restore_job::{PartitionPlan, RestoreObject, TablePlan, TabletPlan};
use super::table_ddl::place_replicas;

/// What a plan needs to know about the job.
pub struct PlanRequest<'a> {
    pub label: &'a str,
    pub repo_name: &'a str,
    pub objects: &'a [RestoreObject],
    pub replication_num: u16,
    pub reserve_replica: bool,
}

fn error(message: impl Into<String>) -> JobStatus {
    JobStatus::error(StatusCode::CommonError, message)
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
) -> Result<Vec<TablePlan>, JobStatus> {
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
                        if in_table.len() + table_plan.partitions.len() >= MAX_PARTITIONS {
                            return Err(error(format!("a table has at most {MAX_PARTITIONS} partitions")));
                        }
                        let id = *next_id;
                        *next_id += 1;
                        (id, p.name.clone(), false, local.replication_num)
                    }
                }
            };
            let placed = place_replicas(backends, load, replicas, order.len(), next_id).map_err(|e| {
                error(format!("Failed to create replicas for restore: {}", e.message.trim_start_matches(DORIS_PREFIX)))
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
                    remote_dir: backup_meta::tablet_dir(
                        request.repo_name,
                        label,
                        info.id,
                        remote.id,
                        p.id,
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
fn existing_table_plan(local: &TableRecord, remote: &TableRecord, target: &str) -> Result<TablePlan, JobStatus> {
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
