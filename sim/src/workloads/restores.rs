//! The restore workload: RESTORE jobs of FINISHED backups into database `rdb` (cancelling some)
//! while the nemesis runs, and one more backup and restore of the load table once faults stop;
//! then the restore invariants:
//!
//! 1. States move only along the legal graph, and `rdb` never shows two running jobs (checked
//!    on every SHOW RESTORE the client makes).
//! 2. Every job ends once faults stop, and no table is left refusing queries.
//! 3. Restoring reproduces the backup exactly: folding the FINISHED jobs in job order over what
//!    they restored (each restored partition holds exactly the backup's rows, read back from
//!    the repository, at the backup's version), `rdb` holds exactly that: the same tables, the
//!    same partitions, the same rows, the same versions. A CANCELLED job changed nothing: no
//!    table or partition it created is left, and what it was overwriting is as before.
//! 4. Every tablet of a restored table has its table's replica count, and the replicas converge.
//! 5. Restored tables take new loads.
//! 6. Nothing is left behind: no backend holds a tablet the catalog does not have, or a tablet
//!    still waiting for a restore, or a snapshot (the backup check covers snapshots).
//! 7. The restore of a backup taken once faults stopped equals the load table exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::fe::QueryOutput;
use palo_node::fe::jobs::restore::job::RestoreState;
use palo_node::fe::jobs::state::JobState;
use palo_node::repository::{self, RepoStore};

use crate::client::{col, query_until_ok};
use crate::client::{sql, sql_on};
use crate::cluster::SimCluster;
use crate::trace::Recorder;
use crate::workloads::backups::{LOCATION, REPOSITORY};
use crate::workloads::snapshot::read_snapshot;
use crate::workloads::{JOB_TIMEOUT_S, PROGRESS_BOUND, legal_sequence};

pub const TARGET_DB: &str = "rdb";
/// The table every other restore overwrites (or creates the first time).
const SHARED_TABLE: &str = "events";
/// Restores the client sends during the chaos (SHOW RESTORE keeps the last 10 of a database).
const MAX_CHAOS_RESTORES: usize = 6;
/// Once jobs end, backends drop what nobody holds within this much simulated time.
const CLEANUP_BOUND: Duration = Duration::from_secs(30);

/// What the client did and saw.
#[derive(Debug, Default)]
pub struct RestoreModel {
    /// Job id -> the states seen, in order, without repeats.
    pub seen: BTreeMap<i64, Vec<RestoreState>>,
    pub violations: Vec<String>,
    pub sent: usize,
    pub cancels_sent: usize,
    /// When every fault was healed (set by the run before the checks).
    pub healed_at: Option<Duration>,
    /// Loads sent into each table a restore created with `allow_load`, while it ran.
    pub during: BTreeMap<String, DuringLoads>,
}

/// Loads into one table a restore created with `allow_load`, sent while it ran.
#[derive(Debug, Default)]
pub struct DuringLoads {
    pub outcomes: crate::workloads::loads::Outcomes,
    /// Load -> its rows.
    rows: BTreeMap<u64, Vec<Row>>,
}

/// One SHOW RESTORE FROM rdb: records states and checks invariant 1 on it. Whether a job was
/// seen running (`None`: SHOW RESTORE did not answer).
async fn observe(
    client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &Recorder,
    model: &mut RestoreModel,
) -> Option<bool> {
    let statement = format!("SHOW RESTORE FROM {TARGET_DB}");
    let Ok(QueryOutput::Rows { columns, rows }) =
        sql_on(client, fe_addr.to_string(), recorder.clone(), statement).await
    else {
        return None;
    };
    let (Ok(id), Ok(state)) = (col(&columns, "JobId"), col(&columns, "State")) else {
        model.violations.push(format!("SHOW RESTORE lacks JobId or State: {columns:?}"));
        return None;
    };
    let mut running = Vec::new();
    for row in &rows {
        let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let Ok(job) = cell(id).parse::<i64>() else { continue };
        let Some(s) = RestoreState::parse(&cell(state)) else {
            model.violations.push(format!("restore job {job} shows an unknown state {}", cell(state)));
            continue;
        };
        if !s.is_done() {
            running.push(job);
        }
        let seen = model.seen.entry(job).or_default();
        if seen.last() != Some(&s) {
            seen.push(s);
            if let Err(e) = legal_sequence(seen) {
                model.violations.push(format!("restore job {job} {e} (seen {seen:?})"));
            }
        }
    }
    if running.len() > 1 {
        model.violations.push(format!("two running restore jobs in database {TARGET_DB}: {running:?}"));
    }
    Some(!running.is_empty())
}

/// The timestamp of a snapshot, as SHOW SNAPSHOT gives it.
pub(crate) async fn snapshot_timestamp(
    client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &Recorder,
    label: &str,
) -> Option<String> {
    let statement = format!("SHOW SNAPSHOT ON {REPOSITORY} WHERE SNAPSHOT = \"{label}\"");
    let Ok(QueryOutput::Rows { columns, rows }) =
        sql_on(client, fe_addr.to_string(), recorder.clone(), statement).await
    else {
        return None;
    };
    let (ts, status) = (col(&columns, "Timestamp").ok()?, col(&columns, "Status").ok()?);
    let row = rows.first()?;
    (row.get(status).cloned().flatten().as_deref() == Some("OK")).then(|| row.get(ts).cloned().flatten()).flatten()
}

/// Labels of the backups of `w` shown FINISHED.
async fn finished_backups(client: &madsim::runtime::NodeHandle, fe_addr: &str, recorder: &Recorder) -> Vec<String> {
    let Ok(QueryOutput::Rows { columns, rows }) =
        sql_on(client, fe_addr.to_string(), recorder.clone(), "SHOW BACKUP FROM w".into()).await
    else {
        return Vec::new();
    };
    let (Ok(label), Ok(state)) = (col(&columns, "SnapshotName"), col(&columns, "State")) else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.get(state).cloned().flatten().as_deref() == Some("FINISHED"))
        .filter_map(|r| r.get(label).cloned().flatten())
        .collect()
}

/// A RESTORE the client sends.
struct RestoreSent {
    statement: String,
    target: String,
    /// The one partition it takes, if it takes one.
    partition: Option<&'static str>,
    /// It creates its table and takes loads into it while it runs (`allow_load`).
    allow_load: bool,
}

/// A RESTORE of `label` into `rdb`: into the shared table (three replicas, as it was created),
/// or into a new table `r_<label>_<n>` with one to three replicas, half of these taking loads
/// while they run. (With one replica, the client's DROP of the spare backend must be refused
/// while the spare holds a tablet's only copy: seed 875 found it let go while a load's version
/// was visible and not yet published.)
fn restore_statement(label: &str, ts: &str, n: usize) -> RestoreSent {
    let (target, replicas, allow_load) = if thread_rng().gen_bool(0.5) {
        (SHARED_TABLE.to_string(), 3, false)
    } else {
        (format!("r_{label}_{n}"), thread_rng().gen_range(1..=3), thread_rng().gen_bool(0.5))
    };
    // One restore in three takes one partition (refused if the snapshot lacks it).
    let partition = match thread_rng().gen_range(0..6) {
        0 => Some("p0"),
        1 => Some("p1"),
        _ => None,
    };
    let clause = partition.map(|p| format!(" PARTITION ({p})")).unwrap_or_default();
    let statement = format!(
        "RESTORE SNAPSHOT {TARGET_DB}.{label} FROM {REPOSITORY} ON (events{clause} AS {target}) PROPERTIES \
         (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"{replicas}\", \"timeout\" = \"{JOB_TIMEOUT_S}\", \
         \"allow_load\" = \"{allow_load}\")"
    );
    RestoreSent { statement, target, partition, allow_load }
}

/// Loads into a table a restore creates with `allow_load`, sent while it runs.
const LOADS_WHILE_RESTORING: u64 = 4;
/// The `load` column of those rows: `DURING_LOAD + n`, apart from the load table's loads.
const DURING_LOAD: i64 = 1_000_000;

/// The rows of load `n` into a restored table taking partition `partition` (or both): ids high
/// in p0's or p1's range, apart from the load table's ids.
fn during_rows(n: u64, partition: Option<&str>) -> Vec<Row> {
    let base = match (partition, n % 2) {
        (Some("p1"), _) | (None, 1) => crate::workloads::loads::ID_LIMIT - 50_000,
        _ => crate::workloads::loads::P0_LIMIT - 50_000,
    };
    (0..3).map(|i| ((base + n * 10 + i) as i64, DURING_LOAD + n as i64, "during".to_string())).collect()
}

/// While the restore into `sent.target` runs, loads into it (each its own rows), recorded by
/// what the client was told.
async fn loads_while_restoring(
    client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &Recorder,
    model: &mut RestoreModel,
    sent: &RestoreSent,
) {
    let during = model.during.entry(sent.target.clone()).or_default();
    for n in 0..LOADS_WHILE_RESTORING {
        tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(200..=1_500))).await;
        let rows = during_rows(n, sent.partition);
        let values: Vec<String> = rows.iter().map(|(id, load, v)| format!("({id}, {load}, '{v}')")).collect();
        let statement = format!("INSERT INTO {TARGET_DB}.{} VALUES {}", sent.target, values.join(", "));
        let outcome = sql_on(client, fe_addr.to_string(), recorder.clone(), statement).await;
        during.outcomes.record(n, &outcome);
        during.rows.insert(n, rows);
    }
}

/// Polls SHOW RESTORE until the newest job is in `state` (or past it), for a bounded time.
async fn wait_for_state(
    client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &Recorder,
    model: &mut RestoreModel,
    state: RestoreState,
) {
    const POLLS: usize = 100;
    for _ in 0..POLLS {
        observe(client, fe_addr, recorder, model).await;
        let newest = model.seen.values().next_back().and_then(|states| states.last()).copied();
        if newest.is_some_and(|s| s >= state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(20..=200))).await;
    }
}

/// The client's restores during the chaos phase.
pub async fn client_restores(
    client: madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    duration: Duration,
    aimed_cancels: bool,
) -> RestoreModel {
    let mut model = RestoreModel::default();
    let end = recorder.now() + duration;
    while recorder.now() < end {
        let mut busy = None;
        for _ in 0..thread_rng().gen_range(2..=6) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            busy = observe(&client, &fe_addr, &recorder, &mut model).await;
        }
        // One job at a time per database: a restore sent while one runs would only be refused.
        if model.sent >= MAX_CHAOS_RESTORES || busy != Some(false) {
            continue;
        }
        let labels = finished_backups(&client, &fe_addr, &recorder).await;
        if labels.is_empty() {
            continue;
        }
        let label = labels[thread_rng().gen_range(0..labels.len())].clone();
        let Some(ts) = snapshot_timestamp(&client, &fe_addr, &recorder, &label).await else { continue };
        model.sent += 1;
        let sent = restore_statement(&label, &ts, model.sent);
        let acked = sql_on(&client, fe_addr.clone(), recorder.clone(), sent.statement.clone()).await.is_ok();
        if acked && sent.allow_load {
            loads_while_restoring(&client, &fe_addr, &recorder, &mut model, &sent).await;
        }
        if acked && thread_rng().gen_ratio(1, 4) {
            if aimed_cancels && thread_rng().gen_bool(0.5) {
                // Aimed at the job creating its tablets: the cancel races the creates.
                wait_for_state(&client, &fe_addr, &recorder, &mut model, RestoreState::Snapshoting).await;
            } else {
                tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(0..=6_000))).await;
            }
            model.cancels_sent += 1;
            palo_buggify::struck_kind("cancel", "restore");
            let cancel = format!("CANCEL RESTORE FROM {TARGET_DB}");
            let _ = sql_on(&client, fe_addr.clone(), recorder.clone(), cancel).await;
        }
    }
    model
}

/// A row as the checks compare them: `(id, load, v)`.
type Row = (i64, i64, String);

/// The rows of each partition of the snapshot's `events` table, read back from the repository
/// (md5s and versions checked), with each partition's version.
pub(crate) async fn snapshot_partitions(
    store: &dyn RepoStore,
    label: &str,
) -> Result<BTreeMap<String, (u64, Vec<Row>)>, String> {
    let tables = read_snapshot(store, REPOSITORY, label).await?;
    let table = tables.iter().find(|t| t.name == "events").ok_or_else(|| format!("{label}: no events table"))?;
    let mut out = BTreeMap::new();
    for p in &table.partitions {
        let mut rows = Vec::with_capacity(p.rows.len());
        for row in &p.rows {
            rows.push(row_of(row).ok_or_else(|| format!("{label}: a row of an unexpected shape: {row:?}"))?);
        }
        rows.sort();
        out.insert(p.name.clone(), (p.version, rows));
    }
    Ok(out)
}

fn row_of(row: &[palo_node::schema::Value]) -> Option<Row> {
    use palo_node::schema::Value;
    match row {
        [Value::Int(id), Value::Int(load), v] => {
            let v = match v {
                Value::Str(s) => s.clone(),
                Value::Null => String::new(),
                other => format!("{other:?}"),
            };
            Some((i64::try_from(*id).ok()?, i64::try_from(*load).ok()?, v))
        }
        _ => None,
    }
}

/// One job as SHOW RESTORE ends it.
#[derive(Debug, Clone)]
struct EndedJob {
    id: i64,
    label: String,
    state: String,
    status: String,
    /// The table it restored into and the partitions.
    target: String,
    partitions: Vec<String>,
}

/// Every restore job of `rdb` once all have ended, each within [`PROGRESS_BOUND`] of `since` (the
/// heal, or when the newest was sent).
async fn ended_jobs(cluster: &SimCluster, model: &mut RestoreModel, since: Duration) -> Result<Vec<EndedJob>, String> {
    loop {
        observe(&cluster.client, &cluster.fe_addr(), &cluster.recorder, model).await;
        let (columns, rows) = query_until_ok(cluster, &format!("SHOW RESTORE FROM {TARGET_DB}")).await?;
        let idx = |name: &str| col(&columns, name);
        let (id, label, state, status, objs) =
            (idx("JobId")?, idx("Label")?, idx("State")?, idx("Status")?, idx("RestoreObjs")?);
        let mut jobs = Vec::new();
        for r in &rows {
            let cell = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            let objects: serde_json::Value =
                serde_json::from_str(&cell(objs)).map_err(|e| format!("RestoreObjs does not decode: {e}"))?;
            let table = &objects["olap_table_list"][0];
            let target = table["alias"].as_str().or_else(|| table["name"].as_str()).unwrap_or_default().to_string();
            let partitions = table["partition_names"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            jobs.push(EndedJob {
                id: cell(id).parse().unwrap_or(0),
                label: cell(label),
                state: cell(state),
                status: cell(status),
                target,
                partitions,
            });
        }
        if jobs.iter().all(|j| j.state == "FINISHED" || j.state == "CANCELLED") {
            jobs.sort_by_key(|j| j.id);
            return Ok(jobs);
        }
        if cluster.now() - since > PROGRESS_BOUND {
            return Err(format!(
                "restore jobs still running {}s after the faults stopped (they make no progress; their timeout is \
                 {JOB_TIMEOUT_S}s): {jobs:?}",
                PROGRESS_BOUND.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits for the newest restore job of `rdb` to end; its state and status.
pub(crate) async fn wait_newest(cluster: &SimCluster, model: &mut RestoreModel) -> Result<(String, String), String> {
    let jobs = ended_jobs(cluster, model, cluster.now()).await?;
    let newest = jobs.last().ok_or("no restore job is listed")?;
    Ok((newest.state.clone(), newest.status.clone()))
}

/// What `rdb` must hold: table -> partition -> (version, rows).
type Expected = BTreeMap<String, BTreeMap<String, (u64, Vec<Row>)>>;

/// Invariant 3 and 4: `rdb` holds exactly `expected`, every tablet with its replica count, the
/// replicas converged.
async fn check_target(cluster: &SimCluster, expected: &Expected) -> Result<(), String> {
    let (_, tables) = query_until_ok(cluster, &format!("SHOW TABLES FROM {TARGET_DB}")).await?;
    let present: BTreeSet<String> = tables.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect();
    let wanted: BTreeSet<String> = expected.keys().cloned().collect();
    if present != wanted {
        return Err(format!(
            "{TARGET_DB} holds tables {present:?}, but the finished restores made {wanted:?} (a cancelled restore left a \
             table, or a finished one lost it)"
        ));
    }
    for (table, partitions) in expected {
        let (pcols, prows) = query_until_ok(cluster, &format!("SHOW PARTITIONS FROM {TARGET_DB}.{table}")).await?;
        let (name, version, replication) =
            (col(&pcols, "PartitionName")?, col(&pcols, "VisibleVersion")?, col(&pcols, "ReplicationNum")?);
        let shown: BTreeMap<String, u64> = prows
            .iter()
            .map(|r| {
                let c = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                (c(name), c(version).parse().unwrap_or(0))
            })
            .collect();
        let names: BTreeSet<&String> = shown.keys().collect();
        if names != partitions.keys().collect() {
            return Err(format!(
                "{TARGET_DB}.{table} has partitions {names:?}, but the finished restores made {:?}",
                partitions.keys().collect::<Vec<_>>()
            ));
        }
        for (p, (v, rows)) in partitions {
            if shown.get(p) != Some(v) {
                return Err(format!(
                    "{TARGET_DB}.{table} partition {p} is at version {:?}, but the backup it was restored from is at {v}",
                    shown.get(p)
                ));
            }
            let (rcols, got) =
                query_until_ok(cluster, &format!("SELECT id, load, v FROM {TARGET_DB}.{table} PARTITION ({p})"))
                    .await?;
            let (i, l, vv) = (col(&rcols, "id")?, col(&rcols, "load")?, col(&rcols, "v")?);
            let mut got: Vec<Row> = got
                .iter()
                .map(|r| {
                    let c = |k: usize| r.get(k).cloned().flatten().unwrap_or_default();
                    (c(i).parse().unwrap_or(-1), c(l).parse().unwrap_or(-1), c(vv))
                })
                .collect();
            got.sort();
            if &got != rows {
                let missing = rows.iter().filter(|r| !got.contains(r)).count();
                let extra = got.iter().filter(|r| !rows.contains(r)).count();
                return Err(format!(
                    "{TARGET_DB}.{table} partition {p} holds {} rows, the backup {} ({missing} missing, {extra} extra)",
                    got.len(),
                    rows.len()
                ));
            }
        }
        // Replica counts and convergence.
        let replicas_wanted: u64 =
            prows.first().and_then(|r| r.get(replication).cloned().flatten()).and_then(|v| v.parse().ok()).unwrap_or(0);
        let started = cluster.now();
        loop {
            let (tcols, trows) = query_until_ok(cluster, &format!("SHOW TABLETS FROM {TARGET_DB}.{table}")).await?;
            let (tablet, state) = (col(&tcols, "TabletId")?, col(&tcols, "State")?);
            let mut per_tablet: BTreeMap<String, u64> = BTreeMap::new();
            let mut lagging = 0;
            for r in &trows {
                *per_tablet.entry(r.get(tablet).cloned().flatten().unwrap_or_default()).or_default() += 1;
                if r.get(state).cloned().flatten().as_deref() != Some("NORMAL") {
                    lagging += 1;
                }
            }
            if let Some((t, n)) = per_tablet.iter().find(|(_, n)| **n != replicas_wanted) {
                return Err(format!(
                    "tablet {t} of {TARGET_DB}.{table} has {n} replicas; the table has replication_num {replicas_wanted}"
                ));
            }
            if lagging == 0 {
                break;
            }
            if cluster.now() - started > crate::workloads::loads::CONVERGENCE_BOUND {
                return Err(format!("{lagging} replicas of {TARGET_DB}.{table} did not converge"));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(())
}

/// Adds to `expected` the loads each finished `allow_load` restore took while it ran: every
/// acknowledged one, and each of unknown outcome that shows (whole, as `check_target` then
/// checks), one version each; a load that failed must not show. How many were applied.
async fn add_loads_while_restoring(
    cluster: &SimCluster,
    model: &RestoreModel,
    jobs: &[EndedJob],
    expected: &mut Expected,
) -> Result<usize, String> {
    let mut applied_in_all = 0;
    for (table, during) in &model.during {
        let Some(partitions) = expected.get_mut(table) else { continue };
        if !jobs.iter().any(|j| &j.target == table && j.state == "FINISHED") {
            continue;
        }
        let (sent, during) = (&during.rows, &during.outcomes);
        let statement = format!("SELECT load FROM {TARGET_DB}.{table} WHERE v = 'during'");
        let (_, rows) = query_until_ok(cluster, &statement).await?;
        let shown: BTreeSet<u64> = rows
            .iter()
            .filter_map(|r| r.first().cloned().flatten()?.parse::<i64>().ok())
            .filter_map(|load| u64::try_from(load - DURING_LOAD).ok())
            .collect();
        if let Some(n) = shown.iter().find(|n| during.failed.contains(n)) {
            return Err(format!("load {n} into {TARGET_DB}.{table} failed with an error, yet its rows show"));
        }
        for n in during.acked.iter().chain(during.unknown.iter().filter(|n| shown.contains(n))) {
            let rows = sent.get(n).cloned().unwrap_or_default();
            let p =
                if rows.first().is_some_and(|r| r.0 < crate::workloads::loads::P0_LIMIT as i64) { "p0" } else { "p1" };
            let (version, content) = partitions
                .get_mut(p)
                .ok_or_else(|| format!("load {n} into {TARGET_DB}.{table} went to partition {p}, which it lacks"))?;
            *version += 1;
            content.extend(rows);
            content.sort();
            applied_in_all += 1;
        }
    }
    Ok(applied_in_all)
}

/// What backends hold that nobody does: tablets the catalog does not have, tablets still waiting
/// for a restore; with the number of tablets the catalog has.
pub async fn leftover_tablets(cluster: &SimCluster) -> Result<(usize, Vec<String>), String> {
    let mut known = BTreeSet::new();
    let (_, dbs) = query_until_ok(cluster, "SHOW DATABASES").await?;
    for db in dbs.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
        let (_, tables) = query_until_ok(cluster, &format!("SHOW TABLES FROM {db}")).await?;
        for table in tables.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
            let (tcols, trows) = query_until_ok(cluster, &format!("SHOW TABLETS FROM {db}.{table}")).await?;
            let tablet = col(&tcols, "TabletId")?;
            known.extend(trows.iter().filter_map(|r| r.get(tablet).cloned().flatten()));
        }
    }
    // Only the cluster's backends: a dropped one is no longer the FE's to clean.
    let (bcols, backends) = query_until_ok(cluster, "SHOW BACKENDS").await?;
    let (host, port) = (col(&bcols, "Host")?, col(&bcols, "HeartbeatPort")?);
    let members: BTreeSet<String> = backends
        .iter()
        .map(|r| {
            let c = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            format!("{}:{}", c(host), c(port))
        })
        .collect();
    let mut strays = Vec::new();
    for role in cluster.backend_roles() {
        let node = cluster.node(role);
        if !members.contains(&node.addr()) {
            continue;
        }
        let Some(disk) = &node.disk else { continue };
        // Every directory under tablets/, with a meta or not (a create cut half way leaves one
        // without): each must be a tablet the catalog has.
        let tablets = std::path::Path::new("/be/tablets");
        for (name, is_dir) in disk.list_dir(tablets) {
            if !is_dir {
                continue;
            }
            if !known.contains(&name) {
                strays.push(format!("{}: tablet directory {name} the catalog does not have", node.name));
                continue;
            }
            let meta = disk.durable_file(&tablets.join(&name).join("meta.json"));
            let pending =
                meta.and_then(|bytes| serde_json::from_slice::<palo_node::be::tablet::TabletMeta>(&bytes).ok());
            if pending.is_some_and(|meta| meta.restore_pending) {
                strays.push(format!("{}: tablet {name} still waits for a restore", node.name));
            }
        }
    }
    Ok((known.len(), strays))
}

/// Invariant 6: nothing is left behind once every job ended (bounded wait).
async fn check_no_leftover_tablets(cluster: &SimCluster) -> Result<usize, String> {
    let started = cluster.now();
    loop {
        let (known, strays) = leftover_tablets(cluster).await?;
        if strays.is_empty() {
            return Ok(known);
        }
        if cluster.now() - started > CLEANUP_BOUND {
            return Err(format!(
                "{} tablets left behind {}s after every job ended, e.g. {:?}",
                strays.len(),
                CLEANUP_BOUND.as_secs(),
                strays.iter().take(5).collect::<Vec<_>>()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The restore invariants, once faults have stopped and the backup checks passed.
pub async fn check(cluster: &SimCluster, model: &mut RestoreModel) -> Result<(), String> {
    // 2: every job ends, soon after the heal; 1 held throughout.
    let since = model.healed_at.unwrap_or_else(|| cluster.now());
    let jobs = ended_jobs(cluster, model, since).await?;
    if let Some(v) = model.violations.first() {
        return Err(format!("restore invariant: {v}"));
    }
    // 3 and 4: fold the finished jobs over what they restored.
    let store = repository::open_direct(LOCATION, &BTreeMap::new()).map_err(|e| e.to_string())?;
    let mut expected: Expected = BTreeMap::new();
    let mut snapshots: BTreeMap<String, BTreeMap<String, (u64, Vec<Row>)>> = BTreeMap::new();
    let (mut finished, mut cancelled) = (0, 0);
    for job in &jobs {
        if job.state != "FINISHED" {
            cancelled += 1;
            if job.status == "[OK]" {
                return Err(format!("cancelled restore job {} has status [OK]", job.id));
            }
            check_bad_data_was_bad(store.as_ref(), job).await?;
            continue;
        }
        finished += 1;
        if !snapshots.contains_key(&job.label) {
            snapshots.insert(job.label.clone(), snapshot_partitions(store.as_ref(), &job.label).await?);
        }
        let snapshot = &snapshots[&job.label];
        let table = expected.entry(job.target.clone()).or_default();
        for p in &job.partitions {
            let content =
                snapshot.get(p).ok_or_else(|| format!("job {} restored partition {p} not in {}", job.id, job.label))?;
            table.insert(p.clone(), content.clone());
        }
    }
    let during_applied = add_loads_while_restoring(cluster, model, &jobs, &mut expected).await?;
    check_target(cluster, &expected).await?;
    // 2: no table is left refusing queries; 5: restored tables take loads.
    for (table, partitions) in &expected {
        query_until_ok(cluster, &format!("SELECT count(*) FROM {TARGET_DB}.{table}")).await?;
        // A row of a partition the table has (a restore of one partition makes a table of one).
        let id = if partitions.contains_key("p0") { 1 } else { crate::workloads::loads::P0_LIMIT + 1 };
        query_or_ok(cluster, &format!("INSERT INTO {TARGET_DB}.{table} VALUES ({id}, 0, 'after')"), &[]).await?;
        let (_, rows) =
            query_until_ok(cluster, &format!("SELECT id FROM {TARGET_DB}.{table} WHERE v = 'after'")).await?;
        if rows.is_empty() {
            return Err(format!("a load into restored table {TARGET_DB}.{table} is not visible"));
        }
    }

    // 7: a backup of the load table now, restored into a new table, equals it.
    let final_label = "final";
    let statement = format!("BACKUP SNAPSHOT w.{final_label} TO {REPOSITORY} ON (events)");
    query_or_ok(cluster, &statement, &["already exist"]).await?;
    wait_backup(cluster, final_label).await?;
    let ts = snapshot_timestamp(&cluster.client, &cluster.fe_addr(), &cluster.recorder, final_label)
        .await
        .ok_or("the final backup is not shown OK by SHOW SNAPSHOT")?;
    let restore = format!(
        "RESTORE SNAPSHOT {TARGET_DB}.{final_label} FROM {REPOSITORY} ON (events AS final_copy) PROPERTIES \
         (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"2\")"
    );
    query_or_ok(cluster, &restore, &[]).await?;
    let (state, status) = wait_newest(cluster, model).await?;
    if state != "FINISHED" {
        return Err(format!("the restore of a backup taken after the faults ended {state} with {status}"));
    }
    let (_, live) = query_until_ok(cluster, "SELECT id, load, v FROM w.events").await?;
    let (_, copy) = query_until_ok(cluster, &format!("SELECT id, load, v FROM {TARGET_DB}.final_copy")).await?;
    let sorted = |mut rows: Vec<Vec<Option<String>>>| {
        rows.sort();
        rows
    };
    if sorted(live.clone()) != sorted(copy.clone()) {
        return Err(format!(
            "{TARGET_DB}.final_copy holds {} rows, w.events {} (the restore of a quiet backup differs)",
            copy.len(),
            live.len()
        ));
    }

    let tablets = check_no_leftover_tablets(cluster).await?;
    // The chaos's jobs, and the restore of the quiet backup.
    crate::invariants::Invariant::Restores.checked(jobs.len() as u64 + 1 + during_applied as u64);
    cluster.event(format!(
        "check: {} restores sent in the chaos, {finished} finished equal to their backups (and the {during_applied} \
         loads they took while running), {cancelled} cancelled and left nothing, {} cancels sent; the restore of a \
         quiet backup equals the load table; {tablets} tablets, none left behind",
        model.sent, model.cancels_sent
    ));
    Ok(())
}

/// A restore cancelled for bad data (BAD_FILE, a damaged snapshot) must have met bad bytes in
/// the repository, not bytes damaged on the way (a flipped bit in flight is read again).
async fn check_bad_data_was_bad(store: &dyn RepoStore, job: &EndedJob) -> Result<(), String> {
    if !(job.status.contains("BAD_FILE") || job.status.contains("damaged")) {
        return Ok(());
    }
    match snapshot_partitions(store, &job.label).await {
        Ok(_) => Err(format!(
            "restore job {} was cancelled for bad data ({}), but every file of snapshot {} reads back with its md5",
            job.id, job.status, job.label
        )),
        Err(_) => Ok(()),
    }
}

/// Waits until the newest restore of database `db` has ended: its state and status.
pub(crate) async fn wait_restore_in(cluster: &SimCluster, db: &str) -> Result<(String, String), String> {
    let started = cluster.now();
    loop {
        let (columns, rows) = query_until_ok(cluster, &format!("SHOW RESTORE FROM {db}")).await?;
        let (state, status) = (col(&columns, "State")?, col(&columns, "Status")?);
        let newest = rows.last().map(|r| {
            let c = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            (c(state), c(status))
        });
        if let Some((state, status)) = newest.clone().filter(|(s, _)| s == "FINISHED" || s == "CANCELLED") {
            return Ok((state, status));
        }
        if cluster.now() - started > crate::workloads::PROGRESS_BOUND {
            return Err(format!("the restore into {db} did not end: {newest:?}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs `statement` until it succeeds or fails with an error `accept` says is fine.
pub(crate) async fn query_or_ok(cluster: &SimCluster, statement: &str, accept: &[&str]) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..60 {
        match sql(cluster, statement).await {
            Ok(_) => return Ok(()),
            Err(palo_node::client::ClientError::Sql(e)) if accept.iter().any(|a| e.message.contains(a)) => {
                return Ok(());
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("`{statement}` did not succeed: {last}"))
}

pub(crate) async fn wait_backup(cluster: &SimCluster, label: &str) -> Result<(), String> {
    let started = cluster.now();
    loop {
        let (columns, rows) =
            query_until_ok(cluster, &format!("SHOW BACKUP FROM w WHERE SnapshotName = \"{label}\"")).await?;
        let (state, status) = (col(&columns, "State")?, col(&columns, "Status")?);
        if let Some(row) = rows.last() {
            match row.get(state).cloned().flatten().as_deref() {
                Some("FINISHED") => return Ok(()),
                Some("CANCELLED") => {
                    return Err(format!(
                        "the backup taken after the faults ended was cancelled: {:?}",
                        row.get(status).cloned().flatten()
                    ));
                }
                _ => {}
            }
        }
        if cluster.now() - started > PROGRESS_BOUND {
            return Err(format!(
                "backup {label}, sent after the faults stopped, did not finish in {}s",
                PROGRESS_BOUND.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The restored tables, their partitions and versions, their rows and the restore jobs, to
/// compare before and after an FE restart.
pub async fn fingerprint(cluster: &SimCluster) -> Result<String, String> {
    let (_, tables) = query_until_ok(cluster, &format!("SHOW TABLES FROM {TARGET_DB}")).await?;
    let mut out = String::new();
    for table in tables.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
        let (pcols, parts) = query_until_ok(cluster, &format!("SHOW PARTITIONS FROM {TARGET_DB}.{table}")).await?;
        let keep = [col(&pcols, "PartitionId")?, col(&pcols, "PartitionName")?, col(&pcols, "VisibleVersion")?];
        let parts: Vec<Vec<Option<String>>> =
            parts.into_iter().map(|r| keep.iter().map(|&i| r.get(i).cloned().flatten()).collect()).collect();
        let (_, count) = query_until_ok(cluster, &format!("SELECT count(*), sum(id) FROM {TARGET_DB}.{table}")).await?;
        out.push_str(&format!("{table}: {parts:?} {count:?}\n"));
    }
    let (jcols, jobs) = query_until_ok(cluster, &format!("SHOW RESTORE FROM {TARGET_DB}")).await?;
    let keep = [col(&jcols, "JobId")?, col(&jcols, "Label")?, col(&jcols, "State")?, col(&jcols, "Status")?];
    let jobs: Vec<Vec<Option<String>>> =
        jobs.into_iter().map(|r| keep.iter().map(|&i| r.get(i).cloned().flatten()).collect()).collect();
    out.push_str(&format!("{jobs:?}"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences() {
        use RestoreState::*;
        assert!(legal_sequence(&[Pending, Downloading, Finished]).is_ok());
        assert!(legal_sequence(&[Committing, Cancelled]).is_ok());
        assert!(legal_sequence(&[Commit, Download]).is_err());
        assert!(legal_sequence(&[Cancelled, Finished]).is_err());
    }
}
