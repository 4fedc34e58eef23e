//! The simulated SQL client: one statement from the client node (recorded in the trace), the
//! retry loops that setup and checks use, and helpers to read result sets.

use std::sync::Mutex;
use std::time::Duration;

use palo_node::client::{ClientError, SqlClient};
use palo_node::fe::QueryOutput;
use palo_node::rpc::RpcTimeouts;

use crate::cluster::SimCluster;
use crate::trace::Recorder;

/// A statement's deadline inside the simulation.
pub const STATEMENT_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 20_000 };

/// Attempts for a statement that must eventually succeed (setup, checks).
pub const MAX_ATTEMPTS: u32 = 60;

/// Runs one statement from the client node, recording it in the trace.
pub async fn sql(cluster: &SimCluster, statement: &str) -> Result<QueryOutput, ClientError> {
    sql_on(&cluster.client, cluster.fe_addr(), cluster.recorder.clone(), statement.to_string()).await
}

pub async fn sql_on(
    client: &madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    statement: String,
) -> Result<QueryOutput, ClientError> {
    sql_on_with(client, fe_addr, recorder, statement, STATEMENT_TIMEOUTS).await
}

/// [`sql_on`] with other deadlines (a big load's).
pub async fn sql_on_with(
    client: &madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    statement: String,
    timeouts: RpcTimeouts,
) -> Result<QueryOutput, ClientError> {
    let addr = fe_addr.clone();
    let text = statement.clone();
    let joined = client
        .spawn(async move {
            let mut c = SqlClient::new(&addr, timeouts)?;
            c.execute(&text).await
        })
        .await;
    let result = joined.unwrap_or_else(|e| {
        Err(ClientError::Unreachable { addr: fe_addr, detail: format!("client task failed: {e}") })
    });
    let shown = match &result {
        Ok(QueryOutput::Ok { .. }) => "OK".to_string(),
        Ok(QueryOutput::Rows { rows, .. }) => format!("{} rows", rows.len()),
        Err(ClientError::Sql(e)) => format!("ERROR {}: {}", e.code, e.message),
        Err(ClientError::Unreachable { .. }) => "unreachable".to_string(),
    };
    recorder.event(format!("client: {statement} -> {shown}"));
    result
}

/// Retries `statement` until it succeeds or fails with an error `accept` says is fine.
pub async fn until_ok(cluster: &SimCluster, statement: &str, accept: &[&str]) -> Result<(), String> {
    for _ in 0..MAX_ATTEMPTS {
        match sql(cluster, statement).await {
            Ok(_) => return Ok(()),
            Err(ClientError::Sql(e)) if accept.iter().any(|a| e.message.contains(a)) => return Ok(()),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    Err(format!("`{statement}` did not succeed in {MAX_ATTEMPTS} attempts"))
}

/// A result set: column titles and rows of cells (`None` is NULL).
pub type ResultRows = (Vec<String>, Vec<Vec<Option<String>>>);

pub fn cells(output: QueryOutput) -> Result<ResultRows, String> {
    match output {
        QueryOutput::Rows { columns, rows } => Ok((columns, rows)),
        QueryOutput::Ok { .. } => Err("expected rows".into()),
    }
}

pub async fn query_until_ok(cluster: &SimCluster, statement: &str) -> Result<ResultRows, String> {
    let mut last = String::new();
    for _ in 0..MAX_ATTEMPTS {
        match sql(cluster, statement).await {
            Ok(output) => return cells(output),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("`{statement}` did not succeed in {MAX_ATTEMPTS} attempts: {last}"))
}

pub fn col(columns: &[String], name: &str) -> Result<usize, String> {
    columns.iter().position(|c| c == name).ok_or_else(|| format!("no column {name}"))
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
