//! A second cluster sharing the backup repository (read-write) with the first, in the worlds
//! that have one: its own FE, one BE (its tables have one replica) and a broker, a loader, and a client that races the first
//! cluster for its backup labels (each label the first cluster sends, the second sends too, a
//! moment later). No nemesis strikes it; the shared object store's faults reach both.
//!
//! Its invariant, besides its own loads and backups holding as the first's do: at most one job
//! per label finishes across the two clusters, and a cluster that lost a label still sees the
//! winner's snapshot (SHOW SNAPSHOT says OK) and restores exactly its rows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::repository;

use crate::client::{lock, query_until_ok, until_ok};
use crate::cluster::{BROKER_NAME, BROKER_PORT, ClusterSpec, Role, SimCluster};
use crate::invariants::Invariant;
use crate::sim_disk::SimDiskFaults;
use crate::trace::Recorder;
use crate::workloads::backups::{self, BackupModel, EndedBackup, LOCATION, REPOSITORY, SentLabels};
use crate::workloads::loads::{self, LoadLog, LoadModel};
use crate::workloads::restores::{self, snapshot_timestamp};

/// Backends of the second cluster (and replicas of its tables).
const BACKENDS: usize = 1;
/// Its loader sessions.
const LOADERS: usize = 1;
/// The longest a racing BACKUP waits after the first cluster's.
const MAX_RACE_DELAY_MS: u64 = 300;

/// The second cluster while the chaos runs: its nodes and its client's tasks.
pub struct SecondCluster {
    pub cluster: SimCluster,
    log: Arc<Mutex<LoadLog>>,
    loads: tokio::task::JoinHandle<LoadModel>,
    backups: tokio::task::JoinHandle<BackupModel>,
}

/// Starts the second cluster (network 10.1.x.y, names `b.*`), sets it up like the first (its
/// backends, its broker, table `w.events`, repository `wrepo` at the first's location) and
/// starts its loader and its racing backups for `chaos`.
pub async fn start(recorder: Recorder, chaos: Duration, sent: SentLabels) -> Result<SecondCluster, String> {
    let spec =
        ClusterSpec { network: 1, name_prefix: "b.".into(), ..ClusterSpec::new(BACKENDS, 5, SimDiskFaults::default()) };
    let cluster = SimCluster::start(&spec, recorder.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    setup(&cluster).await.map_err(|e| format!("cluster b: {e}"))?;
    let log = Arc::new(Mutex::new(LoadLog::default()));
    let (client, fe_addr) = (cluster.client.clone(), cluster.fe_addr());
    let loads = tokio::spawn(loads::client_loads(
        client.clone(),
        fe_addr.clone(),
        recorder.clone(),
        chaos,
        log.clone(),
        LOADERS,
    ));
    let backups = tokio::spawn(race_backups(client, fe_addr, recorder, chaos, log.clone(), sent));
    Ok(SecondCluster { cluster, log, loads, backups })
}

async fn setup(cluster: &SimCluster) -> Result<(), String> {
    let all: Vec<String> = cluster.backend_roles().iter().map(|r| format!("\"{}\"", cluster.node(*r).addr())).collect();
    until_ok(cluster, &format!("ALTER SYSTEM ADD BACKEND {}", all.join(", ")), &["Same backend already exists"])
        .await?;
    let broker_addr = format!("{}:{BROKER_PORT}", cluster.node(Role::Broker).ip);
    until_ok(cluster, &format!("ALTER SYSTEM ADD BROKER {BROKER_NAME} \"{broker_addr}\""), &["already has"]).await?;
    until_ok(cluster, "CREATE DATABASE w", &["database exists"]).await?;
    let create_table =
        loads::CREATE_TABLE.replace("\"replication_num\" = \"3\"", &format!("\"replication_num\" = \"{BACKENDS}\""));
    assert_ne!(create_table, loads::CREATE_TABLE, "the load table names its replica count");
    until_ok(cluster, &create_table, &["already exists"]).await?;
    for create in [loads::CREATE_DIMS, loads::CREATE_TOTALS] {
        let ours = create.replace("\"replication_num\" = \"3\"", &format!("\"replication_num\" = \"{BACKENDS}\""));
        until_ok(cluster, &ours, &["already exists"]).await?;
    }
    for load in loads::DIMS_LOADS {
        until_ok(cluster, load, &[]).await?;
    }
    let via = if thread_rng().gen_bool(0.5) { format!("BROKER {BROKER_NAME}") } else { "S3".to_string() };
    let create_repo = format!("CREATE REPOSITORY {REPOSITORY} WITH {via} ON LOCATION \"{LOCATION}\"");
    until_ok(cluster, &create_repo, &["already exist"]).await
}

/// The second cluster's backups: every label the first cluster sends, sent here too a moment
/// later (so the two race for it at the statement's check and at the label's claim).
async fn race_backups(
    client: madsim::runtime::NodeHandle,
    fe_addr: String,
    recorder: Recorder,
    duration: Duration,
    log: Arc<Mutex<LoadLog>>,
    sent: SentLabels,
) -> BackupModel {
    let mut model = BackupModel::default();
    let end = recorder.now() + duration;
    let mut raced = 0;
    while recorder.now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let labels: Vec<String> = lock(&sent).get(raced..).map(<[String]>::to_vec).unwrap_or_default();
        raced += labels.len();
        for label in labels {
            // Half at once (both pass the statement's check and race at the label's claim), half
            // a moment later.
            if thread_rng().gen_bool(0.5) {
                tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(0..=MAX_RACE_DELAY_MS))).await;
            }
            backups::submit(&client, &fe_addr, &recorder, &log, &mut model, &label).await;
            backups::observe(&client, &fe_addr, &recorder, &mut model).await;
        }
    }
    model
}

/// What the first cluster's checks need of the second once its client stopped: its models, and
/// its backups as they ended.
pub struct Joined {
    cluster: SimCluster,
    log: Arc<Mutex<LoadLog>>,
    loads: LoadModel,
    backups: BackupModel,
    pub ended: Vec<EndedBackup>,
}

/// Waits for the second cluster's client and for every backup job of it to end (within the
/// bound after `healed_at` the first cluster's jobs have).
pub async fn join(second: SecondCluster, healed_at: Duration) -> Result<Joined, String> {
    let SecondCluster { cluster, log, loads, backups } = second;
    let loads = loads.await.map_err(|e| format!("cluster b's load task failed: {e}"))?;
    let mut backups = backups.await.map_err(|e| format!("cluster b's backup task failed: {e}"))?;
    backups.healed_at = Some(healed_at);
    let ended = backups::wait_ended(&cluster, &mut backups).await.map_err(|e| format!("cluster b: {e}"))?;
    Ok(Joined { cluster, log, loads, backups, ended })
}

/// The second cluster's invariants (see the module doc), once the first's backups are checked.
pub async fn check(first: &SimCluster, first_ended: &[EndedBackup], mut b: Joined) -> Result<(), String> {
    let second = &b.cluster;
    loads::check(second, &mut b.loads, LOADERS).await.map_err(|e| format!("cluster b: {e}"))?;
    let first_finished = backups::finished_labels(first_ended);
    backups::check(second, &mut b.backups, &b.loads, &b.log, &b.ended, &first_finished)
        .await
        .map_err(|e| format!("cluster b: {e}"))?;
    let second_finished = backups::finished_labels(&b.ended);
    if let Some(both) = first_finished.intersection(&second_finished).next() {
        return Err(format!("backup {both} finished in both clusters sharing the repository"));
    }
    // A label one cluster finished and the other tried: the loser sees the winner's snapshot.
    let lost_by_second = lost(&b.ended, &first_finished);
    let lost_by_first = lost(first_ended, &second_finished);
    for (loser, labels) in [(second, &lost_by_second), (first, &lost_by_first)] {
        for label in labels {
            if snapshot_timestamp(&loser.client, &loser.fe_addr(), &loser.recorder, label).await.is_none() {
                return Err(format!(
                    "a cluster that lost label {label} to the other does not list its snapshot OK in SHOW SNAPSHOT"
                ));
            }
        }
    }
    // The loser restores the winner's snapshot: one, from the quiet second cluster.
    if let Some(label) = lost_by_second.first() {
        restore_winners(second, label).await?;
    }
    backups::check_no_snapshots(second).await.map_err(|e| format!("cluster b: {e}"))?;
    Invariant::SecondCluster.checked((first_finished.len() + second_finished.len()) as u64);
    second.event(format!(
        "check: cluster a finished {} backups, cluster b {}, none both; b lost {} labels to a, a {} to b, and each \
         loser lists the winner's snapshot",
        first_finished.len(),
        second_finished.len(),
        lost_by_second.len(),
        lost_by_first.len()
    ));
    Ok(())
}

/// Labels among `ended` that were cancelled while `winners` finished them elsewhere.
fn lost(ended: &[EndedBackup], winners: &BTreeSet<String>) -> Vec<String> {
    ended
        .iter()
        .filter(|(label, state, _)| state == "CANCELLED" && winners.contains(label))
        .map(|e| e.0.clone())
        .collect()
}

/// Restores the other cluster's snapshot `label` into `w.won_<label>` and compares its rows with
/// the snapshot's, read back from the repository.
async fn restore_winners(cluster: &SimCluster, label: &str) -> Result<(), String> {
    let ts = snapshot_timestamp(&cluster.client, &cluster.fe_addr(), &cluster.recorder, label)
        .await
        .ok_or_else(|| format!("snapshot {label} is not shown OK"))?;
    let table = format!("won_{label}");
    let restore = format!(
        "RESTORE SNAPSHOT w.{label} FROM {REPOSITORY} ON (events AS {table}) PROPERTIES (\"backup_timestamp\" = \
         \"{ts}\", \"replication_num\" = \"{BACKENDS}\")"
    );
    restores::query_or_ok(cluster, &restore, &[]).await?;
    let (state, status) = restores::wait_restore_in(cluster, "w").await?;
    if state != "FINISHED" {
        return Err(format!("the restore of the other cluster's snapshot {label} ended {state} with {status}"));
    }
    let store = repository::open_direct(LOCATION, &BTreeMap::new()).map_err(|e| e.to_string())?;
    let snapshot = restores::snapshot_partitions(store.as_ref(), label).await?;
    let mut want: Vec<(i64, i64, String)> = snapshot.into_values().flat_map(|(_, rows)| rows).collect();
    want.sort();
    let (_, rows) = query_until_ok(cluster, &format!("SELECT id, load, v FROM w.{table}")).await?;
    let mut got: Vec<(i64, i64, String)> = rows
        .iter()
        .map(|r| {
            let c = |k: usize| r.get(k).cloned().flatten().unwrap_or_default();
            (c(0).parse().unwrap_or(-1), c(1).parse().unwrap_or(-1), c(2))
        })
        .collect();
    got.sort();
    if got != want {
        return Err(format!(
            "w.{table}, restored from the other cluster's snapshot {label}, holds {} rows, the snapshot {}",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}
