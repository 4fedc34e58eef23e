//! The backup workload: BACKUP jobs of the load table (and cancels of some) while the nemesis
//! kills BEs, the broker and the FE, cuts links and makes the object store fail, stall and flip
//! bits; then the backup invariants:
//!
//! 1. States move only along the legal graph (PENDING .. FINISHED, or to CANCELLED), and a
//!    database never shows two running jobs (checked on every SHOW BACKUP the client makes).
//! 2. Every job ends once faults stop.
//! 3. A FINISHED job's files all exist in the repository with the md5 their names carry; its
//!    `__meta` and `__info` agree; and its rows, read back from the repository, are exactly the
//!    rows of a set of whole loads: every load acknowledged before the BACKUP was sent, none that
//!    failed, none sent after the job was seen FINISHED (loads after the snapshot never change it),
//!    each load with all of its rows, none twice.
//! 4. A CANCELLED job is never shown as a snapshot (SHOW SNAPSHOT is not OK for it).
//! 5. Once every job (backups and restores) has ended, no backend holds a snapshot directory
//!    ([`check_no_snapshots`], run after the restore checks).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::fe::QueryOutput;
use palo_node::fe::jobs::backup::job::BackupState;
use palo_node::fe::jobs::state::JobState;
use palo_node::repository::{self, RepoStore};

use crate::client::{col, lock, query_until_ok};
use crate::client::{sql, sql_on};
use crate::cluster::SimCluster;
use crate::trace::Recorder;
use crate::workloads::loads::{LoadLog, LoadModel, Outcomes};
use crate::workloads::snapshot::read_snapshot;
use crate::workloads::{JOB_TIMEOUT_S, PROGRESS_BOUND, legal_sequence};

pub const REPOSITORY: &str = "wrepo";
pub const LOCATION: &str = "mem://sim/backups";

/// What the client did and saw.
#[derive(Debug, Default)]
pub struct BackupModel {
    /// Label -> when the BACKUP was sent, what was acked before it, and whether it was acked.
    pub submitted: BTreeMap<String, Submitted>,
    /// Label -> the states seen, in order, without repeats.
    pub seen: BTreeMap<String, Vec<BackupState>>,
    /// Label -> when the client first saw it FINISHED.
    pub finished_seen_at: BTreeMap<String, Duration>,
    pub violations: Vec<String>,
    pub cancels_sent: usize,
    /// When every fault was healed (set by the run before the checks).
    pub healed_at: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub sent_at: Duration,
    pub acked_before: BTreeSet<u64>,
    /// Aggregate loads acknowledged before the BACKUP was sent.
    pub totals_acked_before: BTreeSet<u64>,
    pub acked: bool,
    pub scope: Scope,
}

/// What a BACKUP of database `w` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole database: `events`, `dims` and `totals`.
    Database,
    /// `ON (events)`.
    Events,
    /// `ON (events PARTITION (p))`.
    Partition(&'static str),
    /// `EXCLUDE (dims)`: `events` and `totals`.
    ExcludeDims,
}

impl Scope {
    /// One of the scopes, drawn.
    pub fn draw() -> Scope {
        match thread_rng().gen_range(0..5) {
            0 | 1 => Scope::Database,
            2 => Scope::Events,
            3 => Scope::Partition(if thread_rng().gen_bool(0.5) { "p0" } else { "p1" }),
            _ => Scope::ExcludeDims,
        }
    }

    fn clause(&self) -> String {
        match self {
            Scope::Database => String::new(),
            Scope::Events => " ON (events)".to_string(),
            Scope::Partition(p) => format!(" ON (events PARTITION ({p}))"),
            Scope::ExcludeDims => " EXCLUDE (dims)".to_string(),
        }
    }

    /// The tables the snapshot holds.
    fn tables(&self) -> BTreeSet<String> {
        let mut tables = BTreeSet::from(["events".to_string()]);
        if *self == Scope::Database {
            tables.insert("dims".to_string());
        }
        if matches!(self, Scope::Database | Scope::ExcludeDims) {
            tables.insert("totals".to_string());
        }
        tables
    }

    /// The partition of `events` the snapshot holds alone, if it is a partition subset.
    fn partition(&self) -> Option<&'static str> {
        match self {
            Scope::Partition(p) => Some(p),
            _ => None,
        }
    }
}

/// One SHOW BACKUP FROM w: records states and checks invariant 1 on it.
pub async fn observe(
    cluster_client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &Recorder,
    model: &mut BackupModel,
) {
    let Ok(QueryOutput::Rows { columns, rows }) =
        sql_on(cluster_client, fe_addr.to_string(), recorder.clone(), "SHOW BACKUP FROM w".into()).await
    else {
        return;
    };
    let (Ok(label), Ok(state)) = (col(&columns, "SnapshotName"), col(&columns, "State")) else {
        model.violations.push(format!("SHOW BACKUP lacks SnapshotName or State: {columns:?}"));
        return;
    };
    let mut running = Vec::new();
    for row in &rows {
        let (Some(l), Some(s)) = (row.get(label).cloned().flatten(), row.get(state).cloned().flatten()) else {
            continue;
        };
        let Some(s) = BackupState::parse(&s) else {
            model.violations.push(format!("job {l} shows an unknown state {s}"));
            continue;
        };
        if !s.is_done() {
            running.push(l.clone());
        }
        if s == BackupState::Finished {
            model.finished_seen_at.entry(l.clone()).or_insert_with(|| recorder.now());
        }
        let seen = model.seen.entry(l.clone()).or_default();
        if seen.last() != Some(&s) {
            seen.push(s);
            if let Err(e) = legal_sequence(seen) {
                model.violations.push(format!("job {l} {e} (seen {seen:?})"));
            }
        }
    }
    if running.len() > 1 {
        model.violations.push(format!("two running jobs in database w: {running:?}"));
    }
}

/// Labels the first cluster sent BACKUPs with, in order (a second cluster races it for them).
pub type SentLabels = Arc<Mutex<Vec<String>>>;

/// The client's backups during the chaos phase.
pub async fn client_backups(
    client: madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    duration: Duration,
    log: Arc<Mutex<LoadLog>>,
    sent: SentLabels,
    race_fe: Option<madsim::task::NodeId>,
) -> BackupModel {
    let mut model = BackupModel::default();
    let end = recorder.now() + duration;
    let mut n = 1;
    while recorder.now() < end {
        let pause_s = thread_rng().gen_range(2..=10);
        for _ in 0..pause_s {
            tokio::time::sleep(Duration::from_secs(1)).await;
            observe(&client, &fe_addr, &recorder, &mut model).await;
        }
        let label = format!("b{n}");
        n += 1;
        lock(&sent).push(label.clone());
        // With a second cluster racing for the label: half the time this cluster's job waits in
        // PENDING (one failure of its step) before it claims the label, so the other's can win.
        if let Some(fe) = race_fe
            && thread_rng().gen_bool(0.5)
        {
            palo_buggify::inject_task_failure(fe, "backup_pending", 1);
        }
        let acked = submit(&client, &fe_addr, &recorder, &log, &mut model, &label).await;
        if acked && thread_rng().gen_ratio(1, 4) {
            tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(0..=4_000))).await;
            model.cancels_sent += 1;
            palo_buggify::struck_kind("cancel", "backup");
            let _ = sql_on(&client, fe_addr.clone(), recorder.clone(), "CANCEL BACKUP FROM w".into()).await;
        }
    }
    model
}

/// Sends `BACKUP SNAPSHOT w.<label>`, recording it in `model`; whether it was acknowledged.
pub async fn submit(
    client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &Recorder,
    log: &Arc<Mutex<LoadLog>>,
    model: &mut BackupModel,
    label: &str,
) -> bool {
    let (acked_before, totals_acked_before) = {
        let log = lock(log);
        (log.acked_at.keys().copied().collect(), log.totals_acked.clone())
    };
    let sent_at = recorder.now();
    let scope = Scope::draw();
    let statement = format!(
        "BACKUP SNAPSHOT w.{label} TO {REPOSITORY}{} PROPERTIES (\"timeout\" = \"{JOB_TIMEOUT_S}\")",
        scope.clause()
    );
    let acked = sql_on(client, fe_addr.to_string(), recorder.clone(), statement).await.is_ok();
    model.submitted.insert(label.to_string(), Submitted { sent_at, acked_before, totals_acked_before, acked, scope });
    acked
}

/// What a FINISHED snapshot holds, read back from the repository.
#[derive(Debug, Default)]
struct SnapshotContent {
    /// Rows of `events` by load.
    per_load: BTreeMap<u64, u64>,
    tables: BTreeSet<String>,
    /// Partitions of `events`.
    partitions: BTreeSet<String>,
    /// Rows of `dims` by key, merged as its UNIQUE keys are (the newest rowset's row wins).
    dims: BTreeMap<i64, String>,
    /// Sums of `totals` by key, merged as its AGGREGATE keys are.
    totals: BTreeMap<u64, i128>,
}

/// The content of a FINISHED snapshot read back from the repository (md5s and versions checked).
async fn snapshot_loads(store: &dyn RepoStore, label: &str) -> Result<SnapshotContent, String> {
    let mut content = SnapshotContent::default();
    for table in read_snapshot(store, REPOSITORY, label).await? {
        content.tables.insert(table.name.clone());
        for p in &table.partitions {
            if table.name == "events" {
                content.partitions.insert(p.name.clone());
            }
            for row in &p.rows {
                content.add_row(&table.name, row).map_err(|e| format!("{label}: {e}"))?;
            }
        }
    }
    Ok(content)
}

impl SnapshotContent {
    fn add_row(&mut self, table: &str, row: &[palo_node::schema::Value]) -> Result<(), String> {
        use palo_node::schema::Value;
        match (table, row) {
            ("events", [_, Value::Int(load), ..]) => {
                *self.per_load.entry(u64::try_from(*load).unwrap_or(u64::MAX)).or_default() += 1;
            }
            ("dims", [Value::Int(id), Value::Str(v)]) => {
                self.dims.insert(i64::try_from(*id).unwrap_or(-1), v.clone());
            }
            ("totals", [Value::Int(k), Value::Int(bits)]) => {
                *self.totals.entry(u64::try_from(*k).unwrap_or(u64::MAX)).or_default() += bits;
            }
            _ => return Err(format!("a row of {table} of an unexpected shape: {row:?}")),
        }
        Ok(())
    }

    /// The snapshot holds what `scope` takes: its tables, its partition, `dims`' rows.
    fn check_scope(&mut self, label: &str, scope: &Scope) -> Result<(), String> {
        if self.tables != scope.tables() {
            return Err(format!("backup {label} of {scope:?} holds tables {:?}", self.tables));
        }
        if let Some(p) = scope.partition()
            && self.partitions != BTreeSet::from([p.to_string()])
        {
            return Err(format!("backup {label} of {scope:?} holds partitions {:?}", self.partitions));
        }
        let want: BTreeMap<i64, String> = if self.tables.contains("dims") {
            crate::workloads::loads::DIMS_ROWS.iter().map(|(id, v)| (*id, v.to_string())).collect()
        } else {
            BTreeMap::new()
        };
        if self.dims != want {
            return Err(format!("backup {label} holds dims rows {:?}, the table {want:?}", self.dims));
        }
        Ok(())
    }

    /// The snapshot's sums of `totals` hold whole aggregate loads, each once, none that failed,
    /// and every one acknowledged before the BACKUP was sent.
    fn check_totals(&self, label: &str, submitted: &Submitted, totals: &Outcomes) -> Result<(), String> {
        if !self.tables.contains("totals") {
            return Ok(());
        }
        let applied =
            crate::workloads::loads::totals_applied(&self.totals).map_err(|e| format!("backup {label}: {e}"))?;
        if let Some(n) = applied.iter().find(|n| !totals.acked.contains(n) && !totals.unknown.contains(n)) {
            return Err(format!("backup {label} holds aggregate load {n}, which failed or was never sent"));
        }
        if let Some(n) = submitted.totals_acked_before.iter().find(|n| !applied.contains(n)) {
            return Err(format!("backup {label} lacks aggregate load {n}, acknowledged before the BACKUP was sent"));
        }
        Ok(())
    }
}

/// A backup job as SHOW BACKUP shows it once ended: (label, state, status).
pub type EndedBackup = (String, String, String);

/// The labels of the FINISHED jobs among `ended`.
pub fn finished_labels(ended: &[EndedBackup]) -> BTreeSet<String> {
    ended.iter().filter(|(_, state, _)| state == "FINISHED").map(|(label, _, _)| label.clone()).collect()
}

/// Invariant 2, once faults have stopped: every job ends, soon after the heal (nothing is left
/// for it to wait on). The jobs as they ended.
pub async fn wait_ended(cluster: &SimCluster, model: &mut BackupModel) -> Result<Vec<EndedBackup>, String> {
    let since = model.healed_at.unwrap_or_else(|| cluster.now());
    loop {
        observe(&cluster.client, &cluster.fe_addr(), &cluster.recorder, model).await;
        let (columns, rows) = query_until_ok(cluster, "SHOW BACKUP FROM w").await?;
        let (l, s, st) = (col(&columns, "SnapshotName")?, col(&columns, "State")?, col(&columns, "Status")?);
        let jobs: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                (get(l), get(s), get(st))
            })
            .collect();
        if jobs.iter().all(|(_, state, _)| state == "FINISHED" || state == "CANCELLED") {
            return Ok(jobs);
        }
        if cluster.now() - since > PROGRESS_BOUND {
            return Err(format!(
                "backup jobs still running {}s after the faults stopped (they make no progress; their timeout is \
                 {JOB_TIMEOUT_S}s): {jobs:?}",
                PROGRESS_BOUND.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Invariants 1 and 3 to 4 on the jobs as they ended (and loads have been checked).
/// `others_finished`: the labels another cluster sharing the repository finished; a job of this
/// cluster that lost one of them is cancelled, and sees the other's snapshot OK.
pub async fn check(
    cluster: &SimCluster,
    model: &mut BackupModel,
    loads: &LoadModel,
    log: &Arc<Mutex<LoadLog>>,
    final_rows: &[EndedBackup],
    others_finished: &BTreeSet<String>,
) -> Result<(), String> {
    if let Some(v) = model.violations.first() {
        return Err(format!("backup invariant: {v}"));
    }
    // Acknowledged jobs are listed (unless pushed out of the history by newer ones).
    let listed: BTreeSet<&str> = final_rows.iter().map(|(l, _, _)| l.as_str()).collect();
    let retained_from = final_rows.len() >= palo_node::fe::jobs::status::MAX_JOBS_PER_DATABASE;
    for (label, s) in &model.submitted {
        if s.acked && !retained_from && !listed.contains(label.as_str()) {
            return Err(format!("acknowledged backup {label} is not in SHOW BACKUP: {final_rows:?}"));
        }
    }

    let store = repository::open_direct(LOCATION, &BTreeMap::new()).map_err(|e| e.to_string())?;
    let (mut finished, mut cancelled) = (0, 0);
    for (label, state, status) in final_rows {
        let shown =
            query_until_ok(cluster, &format!("SHOW SNAPSHOT ON {REPOSITORY} WHERE SNAPSHOT = \"{label}\"")).await?;
        let snapshot_ok = shown.1.iter().any(|r| r.get(2).cloned().flatten().as_deref() == Some("OK"));
        match state.as_str() {
            "CANCELLED" => {
                cancelled += 1;
                // 4: never shown as a snapshot (unless the label is another cluster's snapshot).
                if snapshot_ok && !others_finished.contains(label) {
                    return Err(format!("cancelled backup {label} ({status}) is shown OK by SHOW SNAPSHOT"));
                }
            }
            _ => {
                finished += 1;
                if status != "[OK]" || !snapshot_ok {
                    return Err(format!("finished backup {label} has status {status}, SHOW SNAPSHOT {shown:?}"));
                }
                // 3: the content is what the scope takes, whole loads, and the right ones.
                let submitted = model.submitted.get(label).ok_or_else(|| format!("backup {label} was never sent"))?;
                let mut content = snapshot_loads(store.as_ref(), label).await?;
                content.check_scope(label, &submitted.scope)?;
                content.check_totals(label, submitted, &loads.totals)?;
                let partition = submitted.scope.partition();
                let per_load = content.per_load;
                let log = lock(log);
                for (load, rows) in &per_load {
                    let expected = loads.acked.get(load).or_else(|| loads.unknown.get(load));
                    let expected = expected.map(|n| crate::workloads::loads::rows_in(*load, *n, partition));
                    match expected {
                        Some(n) if n == *rows => {}
                        Some(n) => {
                            return Err(format!("backup {label} holds {rows} rows of load {load}, which wrote {n}"));
                        }
                        None => {
                            return Err(format!(
                                "backup {label} holds rows of load {load}, which failed or was never sent"
                            ));
                        }
                    }
                    let sent_at = log.sent_at.get(load).copied().unwrap_or_default();
                    if model.finished_seen_at.get(label).is_some_and(|seen| sent_at > *seen) {
                        return Err(format!(
                            "backup {label} holds load {load}, sent after the backup was seen FINISHED"
                        ));
                    }
                }
                let has_rows = |l: &u64| {
                    loads.acked.get(l).is_some_and(|n| crate::workloads::loads::rows_in(*l, *n, partition) > 0)
                };
                if let Some(missing) = submitted.acked_before.iter().find(|l| has_rows(l) && !per_load.contains_key(l))
                {
                    return Err(format!(
                        "backup {label} lacks load {missing}, acknowledged before the BACKUP was sent"
                    ));
                }
            }
        }
    }
    crate::invariants::Invariant::Backups.checked((finished + cancelled) as u64);
    cluster.event(format!(
        "check: {} backups sent, {finished} finished with whole loads and verified files, {cancelled} cancelled and \
         never shown, {} cancels sent",
        model.submitted.len(),
        model.cancels_sent
    ));
    let _ = sql(cluster, "SHOW BACKUP FROM w").await;
    Ok(())
}

/// Invariant 5, once every backup and restore has ended: no backend holds a snapshot (a backup's,
/// or a restore's landing one); heartbeats release what the end of a job missed. Only the
/// backends of the cluster count (a dropped one is no longer the FE's: its snapshots expire).
pub async fn check_no_snapshots(cluster: &SimCluster) -> Result<(), String> {
    let (bcols, backends) = query_until_ok(cluster, "SHOW BACKENDS").await?;
    let (host, port) = (col(&bcols, "Host")?, col(&bcols, "HeartbeatPort")?);
    let members: BTreeSet<String> = backends
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r.get(host).cloned().flatten().unwrap_or_default(),
                r.get(port).cloned().flatten().unwrap_or_default()
            )
        })
        .collect();
    let started = cluster.now();
    loop {
        let mut held = crate::cluster::snapshot_dirs(cluster);
        held.retain(|(node, _)| cluster.nodes.iter().any(|n| &n.name == node && members.contains(&n.addr())));
        if held.is_empty() {
            break;
        }
        if cluster.now() - started > Duration::from_secs(30) {
            let shown: Vec<_> = held.iter().take(5).collect();
            return Err(format!(
                "backends still hold {} snapshots 30s after every backup and restore ended, e.g. {shown:?}",
                held.len()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    crate::invariants::Invariant::NoSnapshotsLeft.checked(members.len() as u64);
    cluster.event("check: no backend holds a snapshot");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences() {
        use BackupState::*;
        assert!(legal_sequence(&[Pending, Uploading, Finished]).is_ok());
        assert!(legal_sequence(&[Snapshoting, Cancelled]).is_ok());
        assert!(legal_sequence(&[Uploading, Snapshoting]).is_err());
        assert!(legal_sequence(&[Finished, Cancelled]).is_err());
        assert!(legal_sequence(&[Cancelled, Finished]).is_err());
    }
}
