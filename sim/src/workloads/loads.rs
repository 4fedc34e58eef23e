//! The load workload: a table with three range partitions and three replicas per tablet, loads
//! (INSERT ... VALUES) and DDL while the nemesis kills BEs and the FE and cuts links, then the
//! load invariants:
//!
//! 1. Every acknowledged load is visible exactly once; a load that failed with an error left
//!    nothing; a load of unknown outcome is all or nothing (atomic); no row appears that no
//!    load wrote.
//! 2. Replicas converge: once faults stop, every replica of every tablet reaches its partition's
//!    visible version, and all replicas of a tablet return the same rows at that version.
//! 3. DDL survives: every partition whose ADD was acknowledged exists.
//!
//! Rows are `(id, load, v)`: load `n` writes ids `n * MAX_ROWS_PER_LOAD + i`, so every row names
//! the load that wrote it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::client::ClientError;
use palo_node::rpc::{self, RpcTimeouts, proto};

use crate::client::{MAX_ATTEMPTS, col, lock, query_until_ok, sql, sql_on};
use crate::cluster::SimCluster;
use crate::trace::Recorder;

pub const MAX_ROWS_PER_LOAD: u64 = 20;
/// Ids below this land in the first two partitions; partitions added during the run start here.
pub const ID_LIMIT: u64 = 2_000_000;
/// Ids below this are partition p0's, the rest (below [`ID_LIMIT`]) p1's.
pub const P0_LIMIT: u64 = 1_000_000;

/// A second table of database `w`, of UNIQUE keys, loaded at setup (the second load replaces a
/// row and adds one): whole-database backups take it, `EXCLUDE (dims)` leaves it out.
pub const CREATE_DIMS: &str = "CREATE TABLE w.dims (id BIGINT NOT NULL, v VARCHAR(16)) UNIQUE KEY(id) \
     DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES (\"replication_num\" = \"3\")";
pub const DIMS_LOADS: [&str; 2] = [
    "INSERT INTO w.dims VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    "INSERT INTO w.dims VALUES (2, 'deux'), (4, 'four')",
];
/// What `w.dims` holds after its loads: the newest row per key.
pub const DIMS_ROWS: [(i64, &str); 4] = [(1, "one"), (2, "deux"), (3, "three"), (4, "four")];

/// A third table of database `w`, of AGGREGATE keys (`bits` is summed), loaded during the chaos
/// by every loader session. Aggregate load `n` adds `1 << (2 * (n % TOTALS_LOADS_PER_KEY))` to
/// key `n / TOTALS_LOADS_PER_KEY` and to its mirror key (`+ TOTALS_MIRROR`): the sum read back
/// says which loads were applied (a set even bit), whether one was applied twice (a carry into an
/// odd bit, which no load sets) and whether a load was applied whole (both keys agree).
pub const CREATE_TOTALS: &str = "CREATE TABLE w.totals (k BIGINT NOT NULL, bits LARGEINT SUM NOT NULL) \
     AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 3 PROPERTIES (\"replication_num\" = \"3\")";
/// Aggregate loads per key: their bits (two each) fit a LARGEINT's 127.
pub const TOTALS_LOADS_PER_KEY: u64 = 63;
/// Each aggregate load writes its key and this much more.
pub const TOTALS_MIRROR: u64 = 1_000_000;

/// The statement of aggregate load `n`.
pub fn totals_statement(n: u64) -> String {
    let (key, bit) = (n / TOTALS_LOADS_PER_KEY, 2 * (n % TOTALS_LOADS_PER_KEY));
    let value = 1i128 << bit;
    format!("INSERT INTO w.totals VALUES ({key}, {value}), ({}, {value})", key + TOTALS_MIRROR)
}

/// The aggregate loads whose bits `sums` (key -> summed bits, mirror keys included) hold, after
/// checking that no load was applied twice or in part.
pub fn totals_applied(sums: &BTreeMap<u64, i128>) -> Result<BTreeSet<u64>, String> {
    const ODD_BITS: i128 = 0x2aaa_aaaa_aaaa_aaaa_aaaa_aaaa_aaaa_aaaa;
    let mut applied = BTreeSet::new();
    for (&key, &bits) in sums {
        if key >= TOTALS_MIRROR {
            let base = sums.get(&(key - TOTALS_MIRROR)).copied().unwrap_or(0);
            if base != bits {
                return Err(format!(
                    "aggregate key {key} sums to {bits:#x} but key {} to {base:#x}: a load applied in part",
                    key - TOTALS_MIRROR
                ));
            }
            continue;
        }
        if bits < 0 || bits & ODD_BITS != 0 {
            return Err(format!("aggregate key {key} sums to {bits:#x}: a load was applied more than once"));
        }
        if !sums.contains_key(&(key + TOTALS_MIRROR)) && bits != 0 {
            return Err(format!("aggregate key {key} has no mirror key: a load applied in part"));
        }
        for slot in 0..TOTALS_LOADS_PER_KEY {
            if bits & (1i128 << (2 * slot)) != 0 {
                applied.insert(key * TOTALS_LOADS_PER_KEY + slot);
            }
        }
    }
    Ok(applied)
}

/// The rows of load `load` (of `rows` rows) whose ids fall in partition `p0` or `p1`, or in
/// every partition (`None`).
pub fn rows_in(load: u64, rows: u64, partition: Option<&str>) -> u64 {
    let in_partition = |id: u64| match partition {
        None => true,
        Some("p0") => id < P0_LIMIT,
        Some("p1") => (P0_LIMIT..ID_LIMIT).contains(&id),
        Some(_) => false,
    };
    (0..rows).filter(|i| in_partition((load * MAX_ROWS_PER_LOAD + i) % ID_LIMIT)).count() as u64
}
/// Once faults stop, replicas must converge within this much simulated time.
pub const CONVERGENCE_BOUND: Duration = Duration::from_secs(90);

pub const CREATE_TABLE: &str = "CREATE TABLE w.events (id BIGINT NOT NULL, load INT NOT NULL, v VARCHAR(16)) \
     DUPLICATE KEY(id) PARTITION BY RANGE(id) (PARTITION p0 VALUES LESS THAN (\"1000000\"), \
     PARTITION p1 VALUES LESS THAN (\"2000000\")) DISTRIBUTED BY HASH(id) BUCKETS 3 \
     PROPERTIES (\"replication_num\" = \"3\")";

/// What the client knows about its loads and partitions.
#[derive(Debug, Default)]
pub struct LoadModel {
    /// Load number → its row count, by what the client was told.
    pub acked: BTreeMap<u64, u64>,
    pub failed: BTreeMap<u64, u64>,
    pub unknown: BTreeMap<u64, u64>,
    pub partitions_acked: BTreeSet<String>,
    /// Aggregate loads (into `w.totals`) by what the client was told.
    pub totals: Outcomes,
}

/// What the client was told of its numbered statements.
#[derive(Debug, Default)]
pub struct Outcomes {
    pub acked: BTreeSet<u64>,
    pub failed: BTreeSet<u64>,
    pub unknown: BTreeSet<u64>,
}

impl Outcomes {
    fn extend(&mut self, other: Outcomes) {
        self.acked.extend(other.acked);
        self.failed.extend(other.failed);
        self.unknown.extend(other.unknown);
    }

    pub(crate) fn record(&mut self, n: u64, outcome: &Result<palo_node::fe::QueryOutput, ClientError>) {
        match outcome {
            Ok(_) => self.acked.insert(n),
            Err(e) if definite_failure(e) => self.failed.insert(n),
            Err(_) => self.unknown.insert(n),
        };
    }

    fn sent(&self) -> usize {
        self.acked.len() + self.failed.len() + self.unknown.len()
    }
}

/// When the client sent each load and when it was acknowledged (simulated time), shared with the
/// backup workload, which checks what a backup holds against it.
#[derive(Debug, Default)]
pub struct LoadLog {
    pub sent_at: BTreeMap<u64, Duration>,
    pub acked_at: BTreeMap<u64, Duration>,
    /// Aggregate loads acknowledged.
    pub totals_acked: BTreeSet<u64>,
}

/// Whether an error means the statement certainly changed nothing.
fn definite_failure(e: &ClientError) -> bool {
    match e {
        ClientError::Sql(e) => !e.message.contains("may or may not"),
        ClientError::Unreachable { .. } => false,
    }
}

/// The client's loads and DDL during the chaos phase: `sessions` loader sessions at once, each
/// with its own load numbers (session `s` of `n` writes loads `s + 1`, `s + 1 + n`, ...).
pub async fn client_loads(
    client: madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    duration: Duration,
    log: Arc<Mutex<LoadLog>>,
    sessions: usize,
) -> LoadModel {
    assert!(sessions >= 1, "at least one loader session");
    let tasks: Vec<_> = (0..sessions)
        .map(|session| {
            let (client, fe_addr, recorder, log) = (client.clone(), fe_addr.clone(), recorder.clone(), log.clone());
            tokio::spawn(session_loads(client, fe_addr, recorder, duration, log, session, sessions))
        })
        .collect();
    let mut model = LoadModel::default();
    for task in tasks {
        // A session's task cannot fail (it has no error path); a join error is a harness bug.
        let session = task.await.expect("a loader session's task ends normally");
        model.acked.extend(session.acked);
        model.failed.extend(session.failed);
        model.unknown.extend(session.unknown);
        model.partitions_acked.extend(session.partitions_acked);
        model.totals.extend(session.totals);
    }
    model
}

/// One loader session during the chaos phase. Session 0 also adds partitions.
async fn session_loads(
    client: madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    duration: Duration,
    log: Arc<Mutex<LoadLog>>,
    session: usize,
    sessions: usize,
) -> LoadModel {
    let mut model = LoadModel::default();
    let end = recorder.now() + duration;
    let mut load = session as u64 + 1;
    let mut next_partition = 2u64;
    let mut totals_load = session as u64;
    while recorder.now() < end {
        tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(100..=1_500))).await;
        if thread_rng().gen_ratio(1, 5) {
            let outcome = sql_on(&client, fe_addr.clone(), recorder.clone(), totals_statement(totals_load)).await;
            if outcome.is_ok() {
                lock(&log).totals_acked.insert(totals_load);
            }
            model.totals.record(totals_load, &outcome);
            totals_load += sessions as u64;
            continue;
        }
        if session == 0 && thread_rng().gen_ratio(1, 10) {
            let name = format!("p{next_partition}");
            let statement = format!(
                "ALTER TABLE w.events ADD PARTITION {name} VALUES [(\"{}\"), (\"{}\"))",
                next_partition * 1_000_000,
                (next_partition + 1) * 1_000_000
            );
            next_partition += 1;
            if sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await.is_ok() {
                model.partitions_acked.insert(name);
            }
            continue;
        }
        let rows = thread_rng().gen_range(1..=MAX_ROWS_PER_LOAD);
        let values: Vec<String> = (0..rows)
            .map(|i| {
                let id = (load * MAX_ROWS_PER_LOAD + i) % ID_LIMIT;
                format!("({id}, {load}, 'v{i}')")
            })
            .collect();
        let statement = format!("INSERT INTO w.events VALUES {}", values.join(", "));
        lock(&log).sent_at.insert(load, recorder.now());
        match sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await {
            Ok(_) => {
                lock(&log).acked_at.insert(load, recorder.now());
                model.acked.insert(load, rows)
            }
            Err(e) if definite_failure(&e) => model.failed.insert(load, rows),
            Err(_) => model.unknown.insert(load, rows),
        };
        load += sessions as u64;
    }
    model
}

/// A tablet replica as SHOW TABLETS lists it.
#[derive(Debug, Clone)]
struct ReplicaRow {
    tablet_id: i64,
    backend_id: i64,
    version: u64,
}

/// Invariant 2a: waits until every replica is at its partition's visible version (State
/// NORMAL in SHOW TABLETS) and all replicas of a tablet report the same version.
async fn wait_converged(cluster: &SimCluster) -> Result<(Vec<ReplicaRow>, BTreeMap<i64, u64>), String> {
    let started = cluster.now();
    loop {
        let (tcols, trows) = query_until_ok(cluster, "SHOW TABLETS FROM w.events").await?;
        let cell = |row: &Vec<Option<String>>, i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let (tablet, backend, version, state) =
            (col(&tcols, "TabletId")?, col(&tcols, "BackendId")?, col(&tcols, "Version")?, col(&tcols, "State")?);
        // Replicas on backends that left the cluster stay until repair can move them (it needs a
        // backend that does not hold the tablet yet); they are not part of the check.
        let trows: Vec<&Vec<Option<String>>> = trows.iter().filter(|r| cell(r, state) != "DROPPED").collect();
        let replicas: Vec<ReplicaRow> = trows
            .iter()
            .map(|r| ReplicaRow {
                tablet_id: cell(r, tablet).parse().unwrap_or(0),
                backend_id: cell(r, backend).parse().unwrap_or(0),
                version: cell(r, version).parse().unwrap_or(0),
            })
            .collect();
        let lagging = trows.iter().filter(|r| cell(r, state) != "NORMAL").count();
        let mut versions: BTreeMap<i64, BTreeSet<u64>> = BTreeMap::new();
        for r in &replicas {
            versions.entry(r.tablet_id).or_default().insert(r.version);
        }
        let split: Vec<(&i64, &BTreeSet<u64>)> = versions.iter().filter(|(_, v)| v.len() > 1).collect();
        if lagging == 0 && split.is_empty() {
            cluster.event(format!(
                "check: all {} replicas at their partition's version {:.1}s after the faults stopped",
                replicas.len(),
                (cluster.now() - started).as_secs_f64()
            ));
            let versions = versions.into_iter().map(|(t, v)| (t, v.into_iter().next().unwrap_or(0))).collect();
            return Ok((replicas, versions));
        }
        if cluster.now() - started > CONVERGENCE_BOUND {
            return Err(format!(
                "replicas did not converge within {}s after the faults stopped: {lagging} lagging, tablets with \
                 replicas at different versions: {split:?}",
                CONVERGENCE_BOUND.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Invariant 2b: every replica of a tablet returns the same bytes at the visible version.
async fn check_replicas_agree(
    cluster: &SimCluster,
    replicas: &[ReplicaRow],
    versions: &BTreeMap<i64, u64>,
) -> Result<(), String> {
    let (bcols, brows) = query_until_ok(cluster, "SHOW BACKENDS").await?;
    let (id, host, port) = (col(&bcols, "BackendId")?, col(&bcols, "Host")?, col(&bcols, "BePort")?);
    let addr_of: BTreeMap<i64, String> = brows
        .iter()
        .map(|r| {
            let c = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            (c(id).parse().unwrap_or(0), format!("{}:{}", c(host), c(port)))
        })
        .collect();
    let mut by_tablet: BTreeMap<i64, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for r in replicas {
        let Some(addr) = addr_of.get(&r.backend_id).cloned() else {
            return Err(format!("replica of tablet {} is on unknown backend {}", r.tablet_id, r.backend_id));
        };
        let version = versions.get(&r.tablet_id).copied().unwrap_or(0);
        if version <= 1 {
            continue;
        }
        let tablet_id = r.tablet_id;
        let bytes = cluster
            .client
            .spawn(async move {
                let channel = rpc::channel(&addr, RpcTimeouts { connect_ms: 1_000, request_ms: 10_000 })
                    .map_err(|e| e.to_string())?;
                let mut client = rpc::backend_client(channel);
                let mut stream = client
                    .scan(proto::ScanRequest { tablet_id, version })
                    .await
                    .map_err(|s| s.message().to_string())?
                    .into_inner();
                let mut all = Vec::new();
                while let Some(chunk) = stream.message().await.map_err(|s| s.message().to_string())? {
                    all.extend_from_slice(&chunk.rows);
                }
                Ok::<Vec<u8>, String>(all)
            })
            .await
            .map_err(|e| format!("scan task failed: {e}"))?
            .map_err(|e| format!("scanning tablet {tablet_id} on backend {}: {e}", r.backend_id))?;
        by_tablet.entry(r.tablet_id).or_default().push((r.backend_id, bytes));
    }
    for (tablet, copies) in &by_tablet {
        let first = &copies[0].1;
        if let Some((backend, _)) = copies.iter().find(|(_, b)| b != first) {
            return Err(format!(
                "replicas of tablet {tablet} differ at its visible version: backend {} and backend {backend}",
                copies[0].0
            ));
        }
    }
    cluster.event(format!("check: replicas of {} loaded tablets hold identical rows", by_tablet.len()));
    Ok(())
}

/// Loads once faults have stopped must succeed: a few, each retried (under a new load number)
/// until acknowledged.
async fn loads_after_faults(cluster: &SimCluster, model: &mut LoadModel) -> Result<(), String> {
    let mut load =
        model.acked.keys().chain(model.failed.keys()).chain(model.unknown.keys()).max().copied().unwrap_or(0);
    for _ in 0..LOADS_AFTER_FAULTS {
        let mut last = String::new();
        let mut acked = false;
        for _ in 0..MAX_ATTEMPTS {
            load += 1;
            let rows = 3;
            let values: Vec<String> = (0..rows)
                .map(|i| format!("({}, {load}, 'after')", (load * MAX_ROWS_PER_LOAD + i) % ID_LIMIT))
                .collect();
            match sql(cluster, &format!("INSERT INTO w.events VALUES {}", values.join(", "))).await {
                Ok(_) => {
                    model.acked.insert(load, rows);
                    acked = true;
                    break;
                }
                Err(e) if definite_failure(&e) => {
                    model.failed.insert(load, rows);
                    last = e.to_string();
                }
                Err(e) => {
                    model.unknown.insert(load, rows);
                    last = e.to_string();
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if !acked {
            return Err(format!("loads still fail after the faults stopped: {last}"));
        }
    }
    Ok(())
}

/// Loads run (and must succeed) after the faults stop.
const LOADS_AFTER_FAULTS: usize = 3;
/// Loads each session sends in the quiet concurrent round.
const QUIET_LOADS_PER_SESSION: u64 = 5;

/// Once faults stopped and every replica is at its version, `sessions` sessions load into the
/// table at once: nothing prevents these loads, so every one must succeed at its first attempt.
async fn concurrent_loads(cluster: &SimCluster, model: &mut LoadModel, sessions: usize) -> Result<(), String> {
    let first =
        model.acked.keys().chain(model.failed.keys()).chain(model.unknown.keys()).max().copied().unwrap_or(0) + 1;
    let tasks: Vec<_> = (0..sessions as u64)
        .map(|session| {
            let (client, fe_addr, recorder) = (cluster.client.clone(), cluster.fe_addr(), cluster.recorder.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in 0..QUIET_LOADS_PER_SESSION {
                    let load = first + n * sessions as u64 + session;
                    let rows = (load % 7) + 1;
                    let values: Vec<String> = (0..rows)
                        .map(|i| format!("({}, {load}, 'quiet')", (load * MAX_ROWS_PER_LOAD + i) % ID_LIMIT))
                        .collect();
                    let statement = format!("INSERT INTO w.events VALUES {}", values.join(", "));
                    let outcome = sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await;
                    outcomes.push((load, rows, outcome));
                }
                outcomes
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        for (load, rows, outcome) in task.await.map_err(|e| format!("a quiet loader's task failed: {e}"))? {
            match outcome {
                Ok(_) => {
                    model.acked.insert(load, rows);
                }
                Err(e) => {
                    if definite_failure(&e) {
                        model.failed.insert(load, rows);
                    } else {
                        model.unknown.insert(load, rows);
                    }
                    failures.push(format!("load {load}: {e}"));
                }
            }
        }
    }
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} of {} loads from {sessions} concurrent sessions failed with every replica at its version, e.g. {first}",
            failures.len(),
            sessions as u64 * QUIET_LOADS_PER_SESSION
        ));
    }
    cluster.event(format!(
        "check: {} loads from {sessions} concurrent sessions all succeeded",
        sessions as u64 * QUIET_LOADS_PER_SESSION
    ));
    Ok(())
}

/// All load invariants, once faults have stopped.
pub async fn check(cluster: &SimCluster, model: &mut LoadModel, sessions: usize) -> Result<(), String> {
    loads_after_faults(cluster, model).await?;
    wait_converged(cluster).await?;
    concurrent_loads(cluster, model, sessions).await?;
    let (replicas, versions) = wait_converged(cluster).await?;
    check_replicas_agree(cluster, &replicas, &versions).await?;

    // Invariant 1: exactly once, atomic, nothing invented.
    let (columns, rows) = query_until_ok(cluster, "SELECT id, load FROM w.events").await?;
    let (id_col, load_col) = (col(&columns, "id")?, col(&columns, "load")?);
    let mut per_load: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for row in &rows {
        let get = |i: usize| row.get(i).cloned().flatten().and_then(|v| v.parse::<u64>().ok());
        let (Some(id), Some(load)) = (get(id_col), get(load_col)) else {
            return Err(format!("a row with a missing id or load: {row:?}"));
        };
        if !ids.insert(id) {
            return Err(format!("id {id} (load {load}) appears twice: a load was applied more than once"));
        }
        *per_load.entry(load).or_default() += 1;
    }
    for (load, n) in &model.acked {
        let seen = per_load.get(load).copied().unwrap_or(0);
        if seen != *n {
            return Err(format!("acknowledged load {load} of {n} rows shows {seen} rows"));
        }
    }
    for (load, n) in &model.failed {
        if let Some(seen) = per_load.get(load) {
            return Err(format!("load {load} failed with an error but {seen} of its {n} rows are visible"));
        }
    }
    for (load, n) in &model.unknown {
        let seen = per_load.get(load).copied().unwrap_or(0);
        if seen != 0 && seen != *n {
            return Err(format!("load {load} of unknown outcome is partly visible: {seen} of {n} rows"));
        }
    }
    if let Some(stray) = per_load
        .keys()
        .find(|l| !model.acked.contains_key(l) && !model.unknown.contains_key(l) && !model.failed.contains_key(l))
    {
        return Err(format!("rows of load {stray} are visible, which the client never sent"));
    }
    let unknown_applied = model.unknown.keys().filter(|l| per_load.contains_key(l)).count();
    crate::invariants::Invariant::Loads.checked((model.acked.len() + model.failed.len() + model.unknown.len()) as u64);
    cluster.event(format!(
        "check: {} acknowledged loads visible exactly once, {} failed loads absent, {} of {} unknown loads applied \
         whole; {} rows",
        model.acked.len(),
        model.failed.len(),
        unknown_applied,
        model.unknown.len(),
        rows.len()
    ));

    check_totals(cluster, model).await?;

    // Invariant 3: acknowledged partitions exist.
    let (pcols, prows) = query_until_ok(cluster, "SHOW PARTITIONS FROM w.events").await?;
    let name = col(&pcols, "PartitionName")?;
    let present: BTreeSet<String> = prows.iter().filter_map(|r| r.get(name).cloned().flatten()).collect();
    if let Some(lost) = model.partitions_acked.difference(&present).next() {
        return Err(format!("acknowledged partition {lost} is missing: {present:?}"));
    }
    Ok(())
}

/// Invariant 1 on the aggregate table: every acknowledged aggregate load summed exactly once, a
/// failed one not at all, one of unknown outcome whole or not at all.
async fn check_totals(cluster: &SimCluster, model: &LoadModel) -> Result<(), String> {
    let (columns, rows) = query_until_ok(cluster, "SELECT k, bits FROM w.totals").await?;
    let (k, bits) = (col(&columns, "k")?, col(&columns, "bits")?);
    let mut sums = BTreeMap::new();
    for row in &rows {
        let cell = |i: usize| row.get(i).cloned().flatten();
        let (Some(key), Some(sum)) =
            (cell(k).and_then(|v| v.parse::<u64>().ok()), cell(bits).and_then(|v| v.parse::<i128>().ok()))
        else {
            return Err(format!("a row of w.totals that does not read: {row:?}"));
        };
        if sums.insert(key, sum).is_some() {
            return Err(format!("aggregate key {key} is listed twice: its rows were not merged"));
        }
    }
    let applied = totals_applied(&sums)?;
    let totals = &model.totals;
    if let Some(n) = totals.acked.iter().find(|n| !applied.contains(n)) {
        return Err(format!("acknowledged aggregate load {n} is not in the sums of w.totals"));
    }
    if let Some(n) = applied.iter().find(|n| !totals.acked.contains(n) && !totals.unknown.contains(n)) {
        let why = if totals.failed.contains(n) { "failed with an error" } else { "was never sent" };
        return Err(format!("aggregate load {n} is in the sums of w.totals but {why}"));
    }
    crate::invariants::Invariant::Loads.checked(totals.sent() as u64);
    cluster.event(format!(
        "check: {} acknowledged aggregate loads summed exactly once, {} failed ones absent, {} of {} unknown applied",
        totals.acked.len(),
        totals.failed.len(),
        totals.unknown.iter().filter(|n| applied.contains(n)).count(),
        totals.unknown.len()
    ));
    Ok(())
}

/// The catalog and rows of the load table as a string, to compare before and after an FE restart.
pub async fn fingerprint(cluster: &SimCluster) -> Result<String, String> {
    let (_, create) = query_until_ok(cluster, "SHOW CREATE TABLE w.events").await?;
    let (pcols, parts) = query_until_ok(cluster, "SHOW PARTITIONS FROM w.events").await?;
    let keep = [col(&pcols, "PartitionId")?, col(&pcols, "PartitionName")?, col(&pcols, "VisibleVersion")?];
    let parts: Vec<Vec<Option<String>>> =
        parts.into_iter().map(|r| keep.iter().map(|&i| r.get(i).cloned().flatten()).collect()).collect();
    let (_, count) = query_until_ok(cluster, "SELECT count(*), sum(id) FROM w.events").await?;
    let (bcols, jobs) = query_until_ok(cluster, "SHOW BACKUP FROM w").await?;
    let keep = [col(&bcols, "JobId")?, col(&bcols, "SnapshotName")?, col(&bcols, "State")?, col(&bcols, "Status")?];
    let jobs: Vec<Vec<Option<String>>> =
        jobs.into_iter().map(|r| keep.iter().map(|&i| r.get(i).cloned().flatten()).collect()).collect();
    Ok(format!("{create:?}\n{parts:?}\n{count:?}\n{jobs:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(loads: &[u64]) -> BTreeMap<u64, i128> {
        let mut sums = BTreeMap::new();
        for &n in loads {
            let (key, bit) = (n / TOTALS_LOADS_PER_KEY, 2 * (n % TOTALS_LOADS_PER_KEY));
            for k in [key, key + TOTALS_MIRROR] {
                *sums.entry(k).or_insert(0i128) += 1i128 << bit;
            }
        }
        sums
    }

    #[test]
    fn aggregate_sums_say_which_loads_were_applied() {
        let loads = [0, 5, 62, 63, 200];
        assert_eq!(totals_applied(&sums(&loads)), Ok(loads.into_iter().collect()));
        assert!(totals_statement(62).contains(&format!("(0, {})", 1i128 << 124)));
        assert!(totals_statement(63).contains("(1, 1), (1000001, 1)"));
    }

    #[test]
    fn a_load_summed_twice_or_in_part_is_caught() {
        let twice = sums(&[7, 7]);
        assert!(totals_applied(&twice).unwrap_err().contains("more than once"), "{twice:?}");
        let mut part = sums(&[7, 9]);
        *part.get_mut(&TOTALS_MIRROR).expect("the mirror key") -= 1 << 18;
        assert!(totals_applied(&part).unwrap_err().contains("in part"));
    }
}
