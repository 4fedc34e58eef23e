//! What a RESTORE builds (docs/jobs.md, "Restore states", with the commit of "Where Palo departs from Doris"): for every table it
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

use crate::fe::catalog::membership::BackendRecord;
use crate::fe::catalog::placement::{MAX_REPLICATION_NUM, place_replicas};
use crate::fe::catalog::{
    self, DatabaseRecord, MAX_PARTITIONS, MAX_TABLES_PER_DATABASE, MAX_TABLETS_PER_TABLE, PartitionRecord, TableRecord,
};
use crate::fe::jobs::backup::layout::{self, BackupJobInfo, BackupMeta, IndexInfo, PartitionInfo};
use crate::fe::jobs::restore::job::{PartitionPlan, RestoreObject, TablePlan, TabletPlan};
use crate::fe::jobs::status::JobStatus;
use crate::fe::jobs::status::StatusCode;

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

/// Where the backed-up tables land: one plan per object of the request.
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
                new_table_plan(remote, target, replication, next_id)
            }
        };
        for p in partitions {
            let p_info = remote_info.partitions.get(&p.name).ok_or_else(|| {
                error(format!("Partition {} of table {} does not exist in snapshot", p.name, object.table))
            })?;
            let source = Source { request, info, db, remote, p_info, replication };
            let planned = plan_partition(&source, p, &table_plan, backends, load, next_id)?;
            table_plan.partitions.push(planned);
        }
        plans.push(table_plan);
    }
    Ok(plans)
}

/// The plan of a table the restore creates (its partitions come later).
fn new_table_plan(remote: &TableRecord, target: &str, replication: u16, next_id: &mut i64) -> TablePlan {
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

/// What a partition is restored from and into: the request, the snapshot's `__info`, the
/// target database, the backed-up table and partition, and the replication asked for.
struct Source<'a> {
    request: &'a PlanRequest<'a>,
    info: &'a BackupJobInfo,
    db: &'a DatabaseRecord,
    remote: &'a TableRecord,
    p_info: &'a PartitionInfo,
    replication: u16,
}

/// The plan of one backed-up partition `p`: where it lands, its tablets and their replicas.
fn plan_partition(
    source: &Source<'_>,
    p: &PartitionRecord,
    table_plan: &TablePlan,
    backends: &[BackendRecord],
    load: &mut BTreeMap<i64, usize>,
    next_id: &mut i64,
) -> Result<PartitionPlan, PlanError> {
    let (label, remote, p_info) = (source.request.label, source.remote, source.p_info);
    if p_info.version != p.visible_version {
        return Err(error(format!(
            "snapshot {label} is inconsistent: __info says partition {} is at version {}, __meta says {}",
            p.name, p_info.version, p.visible_version
        )));
    }
    let index = p_info.indexes.get(&remote.name).or_else(|| p_info.indexes.values().next()).ok_or_else(|| {
        error(format!("snapshot {label}: partition {} of table {} has no index", p.name, remote.name))
    })?;
    let order = tablet_order(label, remote, p, index)?;
    let (partition_id, name, overwrites, replicas) =
        partition_target(source.db, table_plan, remote, p, source.replication, order.len(), next_id)?;
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
            remote_dir: layout::index_tablet_dir(
                source.request.repo_name,
                label,
                source.info.id,
                remote.id,
                p.id,
                index.id,
                *source_tablet_id,
            ),
            files,
            tablet,
        });
    }
    Ok(PartitionPlan {
        source_partition_id: p.id,
        partition_id,
        name,
        range: p.range,
        version: p.visible_version,
        overwrites,
        tablets,
    })
}

/// The backed-up tablets of a partition in bucket order, checked to name each tablet once and
/// to match the table's buckets.
fn tablet_order(
    label: &str,
    remote: &TableRecord,
    p: &PartitionRecord,
    index: &IndexInfo,
) -> Result<Vec<i64>, PlanError> {
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
    Ok(order)
}

/// Where a backed-up partition lands: `(partition id, name, overwrites an existing one, replicas)`.
fn partition_target(
    db: &DatabaseRecord,
    table_plan: &TablePlan,
    remote: &TableRecord,
    p: &PartitionRecord,
    replication: u16,
    tablets: usize,
    next_id: &mut i64,
) -> Result<(i64, String, bool, u16), PlanError> {
    let target = table_plan.name.as_str();
    if table_plan.created {
        let id = *next_id;
        *next_id += 1;
        let name = if remote.partition_column.is_none() { target.to_string() } else { p.name.clone() };
        return Ok((id, name, false, replication));
    }
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
            if existing.tablets.len() != tablets {
                return Err(error(format!("Table {target} already exist but with different schema")));
            }
            Ok((existing.id, existing.name.clone(), true, local.replication_num))
        }
        None if local.partition_column.is_none() => {
            Err(error(format!("No partition exist in single partitioned table {target}")))
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
            Ok((id, p.name.clone(), false, local.replication_num))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fe::catalog::{DistributionRecord, PartitionRecord, RangeRecord, ReplicaRecord, TabletRecord};
    use crate::fe::jobs::backup::layout::{
        IndexInfo, META_FORMAT, META_FORMAT_VERSION, NewBackupObjects, PartitionInfo, TableInfo,
    };
    use crate::schema::{Column, ColumnType, KeysType, Schema};

    fn column(name: &str, ty: ColumnType, is_key: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable: !is_key,
            default: None,
            comment: String::new(),
            aggregation: None,
            is_key,
        }
    }

    fn schema(v: ColumnType) -> Schema {
        Schema {
            columns: vec![column("k", ColumnType::BigInt, true), column("v", v, false)],
            keys_type: KeysType::Duplicate,
        }
    }

    /// Table `t` (id 100) partitioned by k: p1 [0, 10) at version 5 and p2 [10, 20) at version 7,
    /// two buckets each; tablets 111/112 and 121/122.
    fn backed_up() -> TableRecord {
        let partition = |id: i64, name: &str, lower: i64, version: u64, tablets: [i64; 2]| PartitionRecord {
            id,
            name: name.into(),
            range: Some(RangeRecord { lower: Some(lower), upper: Some(lower + 10) }),
            visible_version: version,
            visible_version_time_ms: 0,
            tablets: tablets
                .iter()
                .map(|t| TabletRecord { id: *t, replicas: vec![ReplicaRecord { id: t + 1000, backend_id: 1 }] })
                .collect(),
            recent_txns: BTreeMap::new(),
        };
        TableRecord {
            id: 100,
            name: "t".into(),
            schema: schema(ColumnType::Int),
            partition_column: Some("k".into()),
            distribution: DistributionRecord { hash_columns: vec!["k".into()], buckets: 2 },
            replication_num: 3,
            partitions: vec![partition(110, "p1", 0, 5, [111, 112]), partition(120, "p2", 10, 7, [121, 122])],
            comment: String::new(),
        }
    }

    fn snapshot(table: &TableRecord) -> (BackupJobInfo, BackupMeta) {
        let partitions = table
            .partitions
            .iter()
            .map(|p| {
                let tablets =
                    p.tablets.iter().map(|t| (t.id.to_string(), vec![format!("{}.hdr.{}", t.id, "0".repeat(32))]));
                let index = IndexInfo {
                    id: table.id,
                    schema_hash: 1,
                    tablets: tablets.collect(),
                    // Bucket order is not id order: tablets pair with buckets by this list.
                    tablets_order: p.tablets.iter().rev().map(|t| t.id).collect(),
                };
                let indexes = BTreeMap::from([(table.name.clone(), index)]);
                (p.name.clone(), PartitionInfo { id: p.id, version: p.visible_version, indexes })
            })
            .collect();
        let info = BackupJobInfo {
            name: "snap".into(),
            database: "src".into(),
            id: 7,
            backup_time: 0,
            content: "ALL".into(),
            backup_objects: BTreeMap::from([(table.name.clone(), TableInfo { id: table.id, partitions })]),
            new_backup_objects: NewBackupObjects::default(),
            backup_result: "succeed".into(),
            meta_version: META_FORMAT_VERSION,
            major_version: 0,
            minor_version: 0,
            patch_version: 0,
            tablet_be_map: BTreeMap::new(),
            tablet_snapshot_path_map: BTreeMap::new(),
        };
        let meta =
            BackupMeta { format: META_FORMAT.into(), format_version: META_FORMAT_VERSION, tables: vec![table.clone()] };
        (info, meta)
    }

    fn backends(n: i64) -> Vec<BackendRecord> {
        (1..=n).map(|id| BackendRecord { id: 10_000 + id, host: "h".into(), port: 1, token: String::new() }).collect()
    }

    fn db(tables: Vec<TableRecord>) -> DatabaseRecord {
        DatabaseRecord {
            id: 1,
            name: "d".into(),
            tables: tables.into_iter().map(|t| (t.name.clone(), std::sync::Arc::new(t))).collect(),
        }
    }

    fn run(
        objects: &[RestoreObject],
        replication_num: u16,
        db: &DatabaseRecord,
        alive: i64,
    ) -> Result<Vec<TablePlan>, PlanError> {
        let (info, meta) = snapshot(&backed_up());
        let request = PlanRequest { label: "snap", repo_name: "r", objects, replication_num, reserve_replica: false };
        let mut next_id = 50_000;
        plan(&request, &info, &meta, db, &backends(alive), &mut BTreeMap::new(), &mut next_id)
    }

    fn object(partitions: &[&str], alias: Option<&str>) -> RestoreObject {
        RestoreObject {
            table: "t".into(),
            partitions: partitions.iter().map(|p| p.to_string()).collect(),
            alias: alias.map(String::from),
        }
    }

    fn refused(result: Result<Vec<TablePlan>, PlanError>) -> String {
        match result {
            Err(PlanError::Refused(status)) => status.message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_new_table_gets_new_ids_the_backed_up_versions_and_tablets_paired_by_bucket_order() {
        let plans = run(&[object(&[], Some("copy"))], 2, &db(vec![]), 3).unwrap();
        let [t] = plans.as_slice() else { panic!("{plans:?}") };
        assert!(t.created && t.name == "copy" && t.table_id == 50_000);
        assert_eq!(t.definition.replication_num, 2);
        let versions: Vec<(String, u64, bool)> =
            t.partitions.iter().map(|p| (p.name.clone(), p.version, p.overwrites)).collect();
        assert_eq!(versions, [("p1".into(), 5, false), ("p2".into(), 7, false)]);
        // __info's tablets_order is 112, 111: bucket 0 restores tablet 112.
        let sources: Vec<i64> = t.partitions[0].tablets.iter().map(|x| x.source_tablet_id).collect();
        assert_eq!(sources, [112, 111]);
        assert!(t.partitions[0].tablets.iter().all(|x| x.tablet.id >= 50_000 && x.tablet.replicas.len() == 2));
        assert!(t.partitions[0].tablets[0].remote_dir.ends_with("/__db_7/__tbl_100/__part_110/__idx_100/__112"));
        let record = t.new_table_record(0);
        assert_eq!((record.id, record.name.as_str(), record.partitions.len()), (50_000, "copy", 2));
    }

    #[test]
    fn an_existing_table_has_partitions_overwritten_or_added_and_conflicts_refused() {
        let mut local = backed_up();
        local.id = 9;
        local.partitions.truncate(1);
        // p1 exists with the same range: overwritten; p2 does not: added.
        let plans = run(&[object(&[], None)], 3, &db(vec![local.clone()]), 3).unwrap();
        let t = &plans[0];
        assert!(!t.created && t.table_id == 9);
        let kinds: Vec<(String, bool, i64)> =
            t.partitions.iter().map(|p| (p.name.clone(), p.overwrites, p.partition_id)).collect();
        assert_eq!(kinds[0], ("p1".into(), true, 110));
        assert!(!kinds[1].1 && kinds[1].2 >= 50_000);

        // A local partition of another name over p2's range: a conflict.
        let mut overlapping = local.clone();
        let mut other = overlapping.partitions[0].clone();
        other.id = 130;
        other.name = "px".into();
        other.range = Some(RangeRecord { lower: Some(15), upper: Some(30) });
        overlapping.partitions.push(other);
        assert_eq!(
            refused(run(&[object(&[], None)], 3, &db(vec![overlapping]), 3)),
            "Partition p2 in table t has conflict partition item with existing items"
        );
        // The same name with another range.
        let mut moved = local.clone();
        moved.partitions[0].range = Some(RangeRecord { lower: Some(0), upper: Some(5) });
        assert_eq!(
            refused(run(&[object(&["p1"], None)], 3, &db(vec![moved]), 3)),
            "Partition p1 in table t has different partition item with partition in repository"
        );
        // Another replica count.
        assert_eq!(
            refused(run(&[object(&["p1"], None)], 1, &db(vec![local.clone()]), 3)),
            "Partition p1 in table t has different replication num '3' with partition in repository, which is 1"
        );
        // Another schema.
        let mut changed = local;
        changed.schema = schema(ColumnType::BigInt);
        assert_eq!(
            refused(run(&[object(&[], None)], 3, &db(vec![changed]), 3)),
            "Table t already exist but with different schema"
        );
    }

    #[test]
    fn damaged_snapshots_are_refused_and_missing_backends_wait() {
        // A tablet order that names a tablet twice would restore one bucket into two.
        let table = backed_up();
        let (mut info, meta) = snapshot(&table);
        let index =
            info.backup_objects.get_mut("t").unwrap().partitions.get_mut("p1").unwrap().indexes.get_mut("t").unwrap();
        index.tablets_order = vec![111, 111];
        let objects = [object(&[], None)];
        let request = PlanRequest {
            label: "snap",
            repo_name: "r",
            objects: &objects,
            replication_num: 1,
            reserve_replica: false,
        };
        let result = plan(&request, &info, &meta, &db(vec![]), &backends(3), &mut BTreeMap::new(), &mut 50_000);
        assert!(refused(result).contains("snapshot snap is damaged"));
        // A table of no buckets.
        let mut broken = table.clone();
        broken.distribution.buckets = 0;
        let (info, meta) = snapshot(&broken);
        let result = plan(&request, &info, &meta, &db(vec![]), &backends(3), &mut BTreeMap::new(), &mut 50_000);
        assert!(refused(result).contains("is damaged"));
        // Two replicas wanted, one backend alive: not a refusal, a wait.
        assert!(matches!(run(&[object(&[], Some("c"))], 2, &db(vec![]), 1), Err(PlanError::NoBackends(_))));
    }
}
