//! Tables at the real world's size, loaded once faults stop: rows of every width up to the
//! maximum into one bucket, and one load into every tablet of a table of thousands. Their
//! invariant: a load that nothing prevents (every backend alive, every tablet with a majority of
//! replicas at its version) succeeds, and the table then holds exactly its rows. The check waits
//! until nothing prevents the loads before it sends them: the loads check waits for `w.events`
//! only, and a heartbeat round under way when faults stopped can still mark a backend dead.

use std::time::Duration;

use palo_node::client::ClientError;

use crate::client::sql;
use crate::client::{MAX_ATTEMPTS, ResultRows, col, query_until_ok};
use crate::cluster::SimCluster;
use crate::world::WorldProfile;

/// The database of the big tables (apart from `w`, which the backup workload backs up whole).
pub const DATABASE: &str = "wx";
/// A wide-row load holds about this many bytes of `pad` (more than a chunk, a batch, and what
/// a load buffers before it sends).
const WIDE_LOAD_BYTES: usize = 6 << 20;
/// The most rows a wide-row load has.
const MAX_WIDE_LOAD_ROWS: usize = 70_000;
/// Rows of the load into every tablet of the many-tablet table.
const MANY_LOAD_ROWS: u64 = 20_000;

/// The statements that create this world's big tables (none if it has none).
pub fn create_statements(world: &WorldProfile) -> Vec<String> {
    let mut out = Vec::new();
    if world.wide_rows_bytes.is_empty() && world.many_tablets.is_none() {
        return out;
    }
    out.push(format!("CREATE DATABASE {DATABASE}"));
    if !world.wide_rows_bytes.is_empty() {
        out.push(format!(
            "CREATE TABLE {DATABASE}.wide (id BIGINT NOT NULL, load INT NOT NULL, pad STRING) DUPLICATE KEY(id) \
             DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"3\")"
        ));
    }
    if let Some((partitions, buckets)) = world.many_tablets {
        let parts: Vec<String> =
            (0..partitions).map(|p| format!("PARTITION p{p} VALUES LESS THAN (\"{}\")", (p + 1) * 1_000_000)).collect();
        out.push(format!(
            "CREATE TABLE {DATABASE}.many (id BIGINT NOT NULL, v BIGINT NOT NULL) DUPLICATE KEY(id) PARTITION BY \
             RANGE(id) ({}) DISTRIBUTED BY HASH(id) BUCKETS {buckets} PROPERTIES (\"replication_num\" = \"3\")",
            parts.join(", ")
        ));
    }
    out
}

/// Creates the world's big tables (before the chaos), retrying until each is there.
pub async fn setup(cluster: &SimCluster, world: &WorldProfile) -> Result<(), String> {
    for statement in create_statements(world) {
        let mut done = false;
        for _ in 0..MAX_ATTEMPTS {
            match sql(cluster, &statement).await {
                Ok(_) => done = true,
                Err(ClientError::Sql(e)) if e.message.contains("exists") => done = true,
                Err(_) => {}
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if !done {
            return Err(format!("`{statement}` did not succeed in {MAX_ATTEMPTS} attempts"));
        }
    }
    Ok(())
}

/// A big load's deadline: a user waits for a load of thousands of tablets on slow disks.
const BIG_LOAD_TIMEOUTS: palo_node::rpc::RpcTimeouts =
    palo_node::rpc::RpcTimeouts { connect_ms: 1_000, request_ms: 600_000 };

/// One load that nothing prevents: it must succeed at the first attempt.
async fn must_load(cluster: &SimCluster, what: &str, statement: &str) -> Result<(), String> {
    let started = cluster.now();
    let outcome = crate::client::sql_on_with(
        &cluster.client,
        cluster.fe_addr(),
        cluster.recorder.clone(),
        statement.to_string(),
        BIG_LOAD_TIMEOUTS,
    )
    .await;
    cluster.event(format!("check: {what} took {:.1}s", (cluster.now() - started).as_secs_f64()));
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{what} failed once faults had stopped (every backend alive, every tablet with a majority of replicas at \
             its version): {e}"
        )),
    }
}

/// Replicas of a big table's tablet a load needs at their version (a majority of the three the
/// tables are created with).
const MAJORITY: usize = 2;
/// Once faults stopped, repair may go this long without bringing one more tablet of the big
/// tables to a majority (and a backend may stay unhealthy this long).
const PROGRESS_BOUND: Duration = crate::workloads::loads::CONVERGENCE_BOUND;

/// What still prevents a load into the big tables, from SHOW TABLETS of each and SHOW BACKENDS.
#[derive(Debug, Default, PartialEq, Eq)]
struct Blockers {
    /// Tablets of the big tables.
    tablets: usize,
    /// Those with fewer than [`MAJORITY`] replicas at their version (NORMAL) on healthy backends.
    short: Vec<i64>,
    /// Backends not alive, or alive with heartbeat failures no success has cleared yet.
    shaky: Vec<String>,
}

impl Blockers {
    fn none(&self) -> bool {
        self.short.is_empty() && self.shaky.is_empty()
    }
}

fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

/// A backend counts as healthy once it is alive with a clean heartbeat counter: the heartbeat
/// round under way when faults stopped may still end in a failure (the FE marks a backend dead
/// at its third in a row), but one more cannot take a backend with none that far, and every
/// later round meets no fault. Alive alone is not enough: seed 9353 saw backend 10004 alive
/// after two failures, and dead 0.2 s later, when the round begun before the heal ended.
fn blockers(tablets: &[ResultRows], backends: &ResultRows) -> Result<Blockers, String> {
    let (columns, rows) = backends;
    let (id, alive, failures) =
        (col(columns, "BackendId")?, col(columns, "Alive")?, col(columns, "HeartbeatFailureCounter")?);
    let (healthy, shaky): (Vec<_>, Vec<_>) =
        rows.iter().partition(|r| cell(r, alive) == "true" && cell(r, failures) == "0");
    let healthy: std::collections::BTreeSet<String> = healthy.into_iter().map(|r| cell(r, id)).collect();
    let mut able: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for (columns, rows) in tablets {
        let (tablet, backend, state) = (col(columns, "TabletId")?, col(columns, "BackendId")?, col(columns, "State")?);
        for row in rows {
            let tablet_id = cell(row, tablet).parse().map_err(|e| format!("SHOW TABLETS: a tablet id: {e}"))?;
            let counts = cell(row, state) == "NORMAL" && healthy.contains(&cell(row, backend));
            *able.entry(tablet_id).or_default() += usize::from(counts);
        }
    }
    Ok(Blockers {
        tablets: able.len(),
        short: able.into_iter().filter(|(_, n)| *n < MAJORITY).map(|(t, _)| t).collect(),
        shaky: shaky.into_iter().map(|r| cell(r, id)).collect(),
    })
}

/// Waits until nothing prevents a load into `tables`: every backend healthy (see [`blockers`])
/// and every tablet with a majority of replicas at its version on healthy backends. Repair
/// clones the replicas of a backend dropped during the chaos a few per round in catalog order,
/// so the big tables' stay behind for minutes; a load does not need them, only a majority, so
/// this waits for that (seconds) rather than for every replica.
async fn wait_until_nothing_prevents_loads(cluster: &SimCluster, tables: &[&str]) -> Result<(), String> {
    let started = cluster.now();
    let (mut fewest_short, mut progressed_at) = (usize::MAX, started);
    loop {
        let mut shown = Vec::new();
        for table in tables {
            shown.push(query_until_ok(cluster, &format!("SHOW TABLETS FROM {DATABASE}.{table}")).await?);
        }
        let found = blockers(&shown, &query_until_ok(cluster, "SHOW BACKENDS").await?)?;
        if found.none() {
            cluster.event(format!(
                "check: every backend healthy and all {} tablets of the big tables with a majority at their version \
                 after {:.1}s",
                found.tablets,
                (cluster.now() - started).as_secs_f64()
            ));
            return Ok(());
        }
        if found.short.len() < fewest_short {
            fewest_short = found.short.len();
            progressed_at = cluster.now();
        }
        if cluster.now() - progressed_at > PROGRESS_BOUND {
            let first: Vec<&i64> = found.short.iter().take(10).collect();
            return Err(format!(
                "{} of {} tablets of the big tables lack a majority of replicas at their version (e.g. {first:?}) \
                 and none got one in the last {}s; backends not alive or failing heartbeats: {:?}",
                found.short.len(),
                found.tablets,
                PROGRESS_BOUND.as_secs(),
                found.shaky
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The loads of the big tables and their checks, once faults stopped and nothing prevents them.
pub async fn check(cluster: &SimCluster, world: &WorldProfile) -> Result<(), String> {
    let tables: Vec<&str> = [("wide", !world.wide_rows_bytes.is_empty()), ("many", world.many_tablets.is_some())]
        .into_iter()
        .filter_map(|(table, present)| present.then_some(table))
        .collect();
    if tables.is_empty() {
        return Ok(());
    }
    wait_until_nothing_prevents_loads(cluster, &tables).await?;
    let mut rows_expected = 0u64;
    let mut bytes_expected = 0u64;
    for (load, &width) in world.wide_rows_bytes.iter().enumerate() {
        let rows = (WIDE_LOAD_BYTES / width).clamp(4, MAX_WIDE_LOAD_ROWS);
        let statement = format!(
            "INSERT INTO {DATABASE}.wide SELECT number + {}, {load}, repeat('x', {width}) FROM numbers(\"number\" = \
             \"{rows}\")",
            load * 10_000_000
        );
        must_load(cluster, &format!("a load of {rows} rows of {width} bytes into one bucket"), &statement).await?;
        crate::invariants::Invariant::BigTables.checked(1);
        rows_expected += rows as u64;
        bytes_expected += (rows * width) as u64;
    }
    if !world.wide_rows_bytes.is_empty() {
        let statement = format!("SELECT count(*), sum(length(pad)) FROM {DATABASE}.wide");
        let (_, got) = query_until_ok(cluster, &statement).await?;
        let want = vec![vec![Some(rows_expected.to_string()), Some(bytes_expected.to_string())]];
        if got != want {
            return Err(format!("{DATABASE}.wide holds {got:?} (rows, bytes), its loads wrote {want:?}"));
        }
        cluster.event(format!("check: {rows_expected} wide rows ({bytes_expected} bytes) loaded and read back"));
    }
    if let Some((partitions, buckets)) = world.many_tablets {
        // Ids spread over every partition, so every tablet gets rows.
        let step = partitions as u64 * 1_000_000 / MANY_LOAD_ROWS;
        let statement = format!(
            "INSERT INTO {DATABASE}.many SELECT number * {step}, number FROM numbers(\"number\" = \
             \"{MANY_LOAD_ROWS}\")"
        );
        let what = format!("a load into every tablet of {partitions} x {buckets}");
        must_load(cluster, &what, &statement).await?;
        crate::invariants::Invariant::BigTables.checked(1);
        let (columns, got) = query_until_ok(cluster, &format!("SELECT count(*), sum(v) FROM {DATABASE}.many")).await?;
        let sum = MANY_LOAD_ROWS * (MANY_LOAD_ROWS - 1) / 2;
        let want = vec![vec![Some(MANY_LOAD_ROWS.to_string()), Some(sum.to_string())]];
        if got != want {
            return Err(format!("{DATABASE}.many holds {got:?} ({columns:?}), its load wrote {want:?}"));
        }
        let (tcols, tablets) = query_until_ok(cluster, &format!("SHOW TABLETS FROM {DATABASE}.many")).await?;
        col(&tcols, "TabletId")?;
        cluster.event(format!(
            "check: one load of {MANY_LOAD_ROWS} rows into {} replicas of {partitions} x {buckets} tablets",
            tablets.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(columns: &[&str], rows: &[Vec<&str>]) -> ResultRows {
        (
            columns.iter().map(|c| c.to_string()).collect(),
            rows.iter().map(|r| r.iter().map(|c| Some(c.to_string())).collect()).collect(),
        )
    }

    /// SHOW TABLETS rows: (tablet, backend, state).
    fn tablets(rows: &[(&str, &str, &str)]) -> ResultRows {
        result(&["TabletId", "BackendId", "State"], &rows.iter().map(|(t, b, s)| vec![*t, *b, *s]).collect::<Vec<_>>())
    }

    /// SHOW BACKENDS rows: (id, alive, heartbeat failures).
    fn backends(rows: &[(&str, &str, &str)]) -> ResultRows {
        result(
            &["BackendId", "Alive", "HeartbeatFailureCounter"],
            &rows.iter().map(|(id, alive, failures)| vec![*id, *alive, *failures]).collect::<Vec<_>>(),
        )
    }

    /// What SHOW TABLETS FROM wx.wide showed in seed 9353 once faults stopped: the replica moved to
    /// 10002 off the dropped spare waits behind some 2 000 clones of wx.many.
    fn wide_of_seed_9353() -> ResultRows {
        tablets(&[("20034", "10001", "NORMAL"), ("20034", "10004", "NORMAL"), ("20034", "10002", "LAGGING")])
    }

    #[test]
    fn seed_9353_a_backend_two_heartbeats_from_dead_blocks_the_load() {
        // At 94.646 s SHOW BACKENDS showed 10004 alive after two failed heartbeats; the third, of
        // the round begun before the faults stopped, marked it dead at 94.820, and the load at
        // 94.85 found 1 of 3 replicas able to take it. Alive alone let the check load at once.
        let shown = backends(&[
            ("10001", "true", "0"),
            ("10002", "true", "0"),
            ("10003", "true", "0"),
            ("10004", "true", "2"),
            ("10008", "true", "0"),
        ]);
        assert!(shown.1.iter().all(|r| cell(r, 1) == "true"), "all the check looked at before: every backend alive");
        let found = blockers(&[wide_of_seed_9353()], &shown).unwrap();
        assert_eq!(found, Blockers { tablets: 1, short: vec![20034], shaky: vec!["10004".to_string()] });
        assert!(!found.none());
    }

    #[test]
    fn a_majority_on_healthy_backends_is_enough_and_a_lagging_third_replica_waits_for_repair() {
        // A second later 10004 answered again: the load needs 10001 and 10004, not 10002's clone.
        let shown = backends(&[("10001", "true", "0"), ("10002", "true", "0"), ("10004", "true", "0")]);
        let found = blockers(&[wide_of_seed_9353()], &shown).unwrap();
        assert!(found.none(), "{found:?}");
        assert_eq!(found.tablets, 1);
    }

    #[test]
    fn two_replicas_behind_or_on_a_dead_backend_block() {
        let shown = backends(&[("1", "true", "0"), ("2", "true", "0"), ("3", "false", "3")]);
        let rows = tablets(&[
            ("7", "1", "NORMAL"),
            ("7", "2", "LAGGING"),
            ("7", "3", "NORMAL"),
            ("8", "1", "NORMAL"),
            ("8", "2", "NORMAL"),
            ("8", "3", "NORMAL"),
            ("9", "1", "NORMAL"),
            ("9", "2", "DROPPED"),
            ("9", "4", "LAGGING"),
        ]);
        let found = blockers(&[rows], &shown).unwrap();
        assert_eq!(found.short, vec![7, 9]);
        assert_eq!(found.shaky, vec!["3".to_string()]);
        assert!(blockers(&[result(&["TabletId"], &[])], &shown).is_err(), "a SHOW TABLETS without its columns");
    }
}
