//! What the client changes about membership (a spare backend and broker added and dropped) and
//! the checks that the cluster shows what was acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::client::ClientError;
use palo_node::fe::QueryOutput;

use crate::client::{MAX_ATTEMPTS, col, sql, sql_on};
use crate::cluster::SimCluster;
use crate::trace::Recorder;

/// What the client knows about the spare backend's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Present,
    Absent,
    /// The last change's outcome is unknown (timeout, lost answer).
    Unknown,
}

/// One row of SHOW BACKENDS / SHOW BROKER as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Member {
    /// `backend:<id>:<host>:<port>` or `broker:<name>:<host>:<port>`.
    pub(crate) key: String,
    pub(crate) addr: String,
    pub(crate) alive: bool,
    /// When the FE last heard from it (`LastHeartbeat`, `LastUpdateTime`): `YYYY-MM-DD hh:mm:ss`.
    pub(crate) answered: String,
}

pub(crate) async fn members(cluster: &SimCluster) -> Result<Vec<Member>, ClientError> {
    let mut out = Vec::new();
    for statement in ["SHOW BACKENDS", "SHOW BROKER"] {
        let QueryOutput::Rows { columns, rows } = sql(cluster, statement).await? else {
            return Err(ClientError::Unreachable { addr: cluster.fe_addr(), detail: "SHOW gave no rows".into() });
        };
        let broken = |e: String| ClientError::Unreachable { addr: cluster.fe_addr(), detail: e };
        let host = col(&columns, "Host").map_err(broken)?;
        let alive = col(&columns, "Alive").map_err(broken)?;
        let (first, port, answered) = if statement == "SHOW BACKENDS" {
            let id = col(&columns, "BackendId").map_err(broken)?;
            (id, col(&columns, "BePort").map_err(broken)?, col(&columns, "LastHeartbeat").map_err(broken)?)
        } else {
            let name = col(&columns, "Name").map_err(broken)?;
            (name, col(&columns, "Port").map_err(broken)?, col(&columns, "LastUpdateTime").map_err(broken)?)
        };
        let kind = if statement == "SHOW BACKENDS" { "backend" } else { "broker" };
        for row in rows {
            let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            out.push(Member {
                key: format!("{kind}:{}:{}:{}", cell(first), cell(host), cell(port)),
                addr: format!("{}:{}", cell(host), cell(port)),
                alive: cell(alive) == "true",
                answered: cell(answered),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// Backend ids by address (`host:port`), from SHOW BACKENDS rows.
pub(crate) fn backend_ids(members: &[Member]) -> std::collections::BTreeMap<String, String> {
    members
        .iter()
        .filter_map(|m| {
            let rest = m.key.strip_prefix("backend:")?;
            let id = rest.split(':').next()?;
            Some((m.addr.clone(), id.to_string()))
        })
        .collect()
}

pub(crate) async fn members_until_ok(cluster: &SimCluster) -> Result<Vec<Member>, String> {
    for _ in 0..MAX_ATTEMPTS {
        if let Ok(m) = members(cluster).await {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!(
        "the FE did not answer SHOW BACKENDS / SHOW BROKER in {MAX_ATTEMPTS} attempts (does it fail to start? \
         rerun the seed with RUST_LOG=warn)"
    ))
}

/// What the client learned during the chaos phase.
#[derive(Debug)]
pub(crate) struct ClientModel {
    pub(crate) spare: Known,
    /// Databases whose CREATE was acknowledged (or that were reported as existing).
    pub(crate) databases_acked: BTreeSet<String>,
    /// Databases whose CREATE has an unknown outcome.
    pub(crate) databases_unknown: BTreeSet<String>,
}

/// The client's side of the chaos phase: drop and re-add the spare backend and create
/// databases, tracking what is known about each.
pub(crate) async fn client_changes(
    client: madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    spare_addr: String,
    duration: Duration,
) -> ClientModel {
    let mut model =
        ClientModel { spare: Known::Present, databases_acked: BTreeSet::new(), databases_unknown: BTreeSet::new() };
    let end = recorder.now() + duration;
    let mut next_db = 1;
    while recorder.now() < end {
        let pause = Duration::from_millis(thread_rng().gen_range(300..=2_500));
        tokio::time::sleep(pause).await;
        if thread_rng().gen_bool(0.5) {
            let name = format!("db_{next_db}");
            next_db += 1;
            let statement = format!("CREATE DATABASE {name}");
            match sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await {
                Ok(_) => model.databases_acked.insert(name),
                Err(_) => model.databases_unknown.insert(name),
            };
            continue;
        }
        let known = model.spare;
        let add = match known {
            Known::Present => false,
            Known::Absent => true,
            Known::Unknown => thread_rng().gen_bool(0.5),
        };
        let statement = if add {
            format!("ALTER SYSTEM ADD BACKEND \"{spare_addr}\"")
        } else {
            format!("ALTER SYSTEM DROP BACKEND \"{spare_addr}\"")
        };
        model.spare = match sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await {
            Ok(_) if add => Known::Present,
            Ok(_) => Known::Absent,
            Err(ClientError::Sql(e)) if e.message.contains("Same backend already exists") => Known::Present,
            Err(ClientError::Sql(e)) if e.message.contains("backend does not exists") => Known::Absent,
            // Refused: it holds the last up-to-date replica of some tablet.
            Err(ClientError::Sql(e)) if e.message.contains("the last up-to-date replica") => Known::Present,
            Err(_) => Known::Unknown,
        };
    }
    model
}

pub(crate) async fn databases_until_ok(cluster: &SimCluster) -> Result<BTreeSet<String>, String> {
    for _ in 0..MAX_ATTEMPTS {
        if let Ok(QueryOutput::Rows { rows, .. }) = sql(cluster, "SHOW DATABASES").await {
            return Ok(rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("the FE did not answer SHOW DATABASES in {MAX_ATTEMPTS} attempts"))
}
