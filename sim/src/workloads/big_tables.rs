//! Tables at the real world's size, loaded once faults stop: rows of every width up to the
//! maximum into one bucket, and one load into every tablet of a table of thousands. Their
//! invariant: a load that nothing prevents (every backend alive, every replica at its version)
//! succeeds, and the table then holds exactly its rows.

use std::time::Duration;

use palo_node::client::ClientError;

use crate::client::sql;
use crate::client::{MAX_ATTEMPTS, col, query_until_ok};
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
            "{what} failed once faults had stopped (every backend alive, every replica at its version): {e}"
        )),
    }
}

/// The loads of the big tables and their checks, once faults stopped and replicas converged.
pub async fn check(cluster: &SimCluster, world: &WorldProfile) -> Result<(), String> {
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
