//! The seeded run: a cluster, a workload that changes membership while the nemesis injects
//! faults, then the checks.
//!
//! Invariants checked after every seed:
//! 1. Acknowledged membership changes survive: once faults stop, SHOW BACKENDS / SHOW BROKER list
//!    every member whose last acknowledged change was an ADD and none whose last one was a DROP.
//! 2. Liveness: within [`LIVENESS_BOUND`] of simulated time after the faults stop, every
//!    registered backend and broker is shown alive.
//! 3. Acknowledged catalog changes survive: SHOW DATABASES lists every database whose CREATE was
//!    acknowledged, and nothing the client never tried to create.
//! 4. Journal replay reproduces state: after one more FE power loss and restart, membership
//!    (ids, hosts, ports), databases, and the load table (its DDL, partitions, versions and
//!    rows) are exactly what they were before.
//! 5. Loads (see `loads.rs`): exactly once and atomic, replicas converge and agree, acknowledged
//!    partitions exist.
//! 6. Backups (see `backups.rs`): legal states, one running job per database, every job ends,
//!    FINISHED snapshots hold verified files and exactly whole, right loads, CANCELLED ones are
//!    never shown, no snapshot left on a backend. The FE restart of 4 keeps every job.
//! 7. Restores (see `restores.rs`): legal states, one running job per database, every job ends,
//!    FINISHED ones reproduce their backups exactly (rows, versions, replica counts), CANCELLED
//!    ones leave their targets as they were, restored tables take loads, no tablet or snapshot is
//!    left behind, and the restore of a backup taken once faults stop equals the load table.

use std::collections::BTreeSet;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::client::{ClientError, SqlClient};
use palo_node::fe::QueryOutput;
use palo_node::rpc::RpcTimeouts;

use crate::cluster::{BROKER_NAME, BROKER_PORT, ClusterSpec, Role, SimCluster};
use crate::nemesis;
use crate::sim_disk::SimDiskFaults;
use crate::trace::Recorder;
use crate::world::WorldProfile;

/// Once faults stop, every member must be shown alive within this much simulated time.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// A statement's deadline inside the simulation.
const STATEMENT_TIMEOUTS: RpcTimeouts = RpcTimeouts { connect_ms: 1_000, request_ms: 20_000 };
/// Attempts for a statement that must eventually succeed (setup, checks).
const MAX_ATTEMPTS: u32 = 60;

/// Test-only switches that break an invariant on purpose, to show the simulator catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InjectedBug {
    /// Every node's disk acknowledges fsync of a file without making its data durable.
    LyingFsync,
    /// A load gives the new version only to tablets that got rows, so the other tablets of the
    /// partition never reach it (the bug an early version of loads had).
    LoadSkipsEmptyRowsets,
    /// Backup jobs never release their snapshots (neither at their end nor when heartbeats
    /// report them), so backends fill up with hard links nobody needs.
    BackupLeaksSnapshots,
    /// Restored partitions enter the catalog at version 1 instead of the backed-up version, so
    /// queries read them empty (a version the restore never filled).
    RestoreForgetsVersions,
}

impl InjectedBug {
    pub const ALL: [(&'static str, InjectedBug); 4] = [
        ("lying-fsync", InjectedBug::LyingFsync),
        ("load-skips-empty-rowsets", InjectedBug::LoadSkipsEmptyRowsets),
        ("backup-leaks-snapshots", InjectedBug::BackupLeaksSnapshots),
        ("restore-forgets-versions", InjectedBug::RestoreForgetsVersions),
    ];

    pub fn parse(name: &str) -> Option<InjectedBug> {
        InjectedBug::ALL.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    pub fn name(self) -> &'static str {
        InjectedBug::ALL.iter().find(|(_, b)| *b == self).map_or("?", |(n, _)| n)
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Simulated time the nemesis runs.
    pub chaos: Duration,
    pub bugs: Vec<InjectedBug>,
    /// Print trace lines as they happen.
    pub verbose: bool,
    /// Parts of every seed's world fixed instead of drawn.
    pub world: crate::world::WorldOverride,
}

/// What the client knows about the spare backend's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Present,
    Absent,
    /// The last change's outcome is unknown (timeout, lost answer).
    Unknown,
}

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
async fn until_ok(cluster: &SimCluster, statement: &str, accept: &[&str]) -> Result<(), String> {
    for _ in 0..MAX_ATTEMPTS {
        match sql(cluster, statement).await {
            Ok(_) => return Ok(()),
            Err(ClientError::Sql(e)) if accept.iter().any(|a| e.message.contains(a)) => return Ok(()),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    Err(format!("`{statement}` did not succeed in {MAX_ATTEMPTS} attempts"))
}

/// One row of SHOW BACKENDS / SHOW BROKER as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Member {
    /// `backend:<id>:<host>:<port>` or `broker:<name>:<host>:<port>`.
    key: String,
    addr: String,
    alive: bool,
}

fn column(columns: &[String], name: &str) -> Result<usize, String> {
    columns.iter().position(|c| c == name).ok_or_else(|| format!("result has no column {name}"))
}

async fn members(cluster: &SimCluster) -> Result<Vec<Member>, ClientError> {
    let mut out = Vec::new();
    for statement in ["SHOW BACKENDS", "SHOW BROKER"] {
        let QueryOutput::Rows { columns, rows } = sql(cluster, statement).await? else {
            return Err(ClientError::Unreachable { addr: cluster.fe_addr(), detail: "SHOW gave no rows".into() });
        };
        let broken = |e: String| ClientError::Unreachable { addr: cluster.fe_addr(), detail: e };
        let host = column(&columns, "Host").map_err(broken)?;
        let alive = column(&columns, "Alive").map_err(broken)?;
        let (first, port) = if statement == "SHOW BACKENDS" {
            (column(&columns, "BackendId").map_err(broken)?, column(&columns, "BePort").map_err(broken)?)
        } else {
            (column(&columns, "Name").map_err(broken)?, column(&columns, "Port").map_err(broken)?)
        };
        let kind = if statement == "SHOW BACKENDS" { "backend" } else { "broker" };
        for row in rows {
            let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            out.push(Member {
                key: format!("{kind}:{}:{}:{}", cell(first), cell(host), cell(port)),
                addr: format!("{}:{}", cell(host), cell(port)),
                alive: cell(alive) == "true",
            });
        }
    }
    out.sort();
    Ok(out)
}

/// Backend ids by address (`host:port`), from SHOW BACKENDS rows.
fn backend_ids(members: &[Member]) -> std::collections::BTreeMap<String, String> {
    members
        .iter()
        .filter_map(|m| {
            let rest = m.key.strip_prefix("backend:")?;
            let id = rest.split(':').next()?;
            Some((m.addr.clone(), id.to_string()))
        })
        .collect()
}

async fn members_until_ok(cluster: &SimCluster) -> Result<Vec<Member>, String> {
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
struct ClientModel {
    spare: Known,
    /// Databases whose CREATE was acknowledged (or that were reported as existing).
    databases_acked: BTreeSet<String>,
    /// Databases whose CREATE has an unknown outcome.
    databases_unknown: BTreeSet<String>,
}

/// The client's side of the chaos phase: drop and re-add the spare backend and create
/// databases, tracking what is known about each.
async fn client_changes(
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

async fn databases_until_ok(cluster: &SimCluster) -> Result<BTreeSet<String>, String> {
    for _ in 0..MAX_ATTEMPTS {
        if let Ok(QueryOutput::Rows { rows, .. }) = sql(cluster, "SHOW DATABASES").await {
            return Ok(rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("the FE did not answer SHOW DATABASES in {MAX_ATTEMPTS} attempts"))
}

/// One seed's run. `Err` carries the invariant that broke, and the world it broke in.
pub async fn run(options: RunOptions, recorder: Recorder) -> Result<(), String> {
    let world = options.world.apply(WorldProfile::draw());
    recorder.event(format!("world: {world}"));
    let result = run_in(options, recorder, &world).await.map_err(|e| format!("{e}\n    world: {world}"));
    crate::cluster::stop_world().await;
    result
}

async fn run_in(options: RunOptions, recorder: Recorder, world: &WorldProfile) -> Result<(), String> {
    // A disk's state when the nemesis leaves it alone (an injected bug stays on throughout).
    let clean_disks = SimDiskFaults {
        fsync_lies: options.bugs.contains(&InjectedBug::LyingFsync),
        sync_latency_us: world.sync_latency_us,
        write_latency_us: world.write_latency_us,
        ..SimDiskFaults::default()
    };
    let spec =
        ClusterSpec { compaction_interval_ms: world.compaction_interval_ms, ..ClusterSpec::new(4, 5, clean_disks) };
    let mut cluster = SimCluster::start(&spec, recorder.clone());
    if clean_disks.fsync_lies {
        cluster.event("injected bug: every disk lies about fsync");
    }
    if options.bugs.contains(&InjectedBug::BackupLeaksSnapshots) {
        palo_buggify::inject_bug("backup-leaks-snapshots");
        cluster.event("injected bug: backup jobs never release their snapshots");
    }
    if options.bugs.contains(&InjectedBug::RestoreForgetsVersions) {
        palo_buggify::inject_bug("restore-forgets-versions");
        cluster.event("injected bug: restored partitions enter the catalog at version 1");
    }
    if options.bugs.contains(&InjectedBug::LoadSkipsEmptyRowsets) {
        palo_buggify::inject_bug("load-skips-empty-rowsets");
        cluster.event("injected bug: loads skip the empty rowsets of tablets without rows");
    }
    // Let every node bind its port.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Setup, without faults: three core backends, the spare, and the broker.
    let backend_roles = cluster.backend_roles();
    let backend_addrs: Vec<String> = backend_roles.iter().map(|r| cluster.node(*r).addr()).collect();
    let (core_roles, _) = backend_roles.split_at(backend_roles.len() - 1);
    let spare = backend_addrs[backend_addrs.len() - 1].clone();
    let all = backend_addrs.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    until_ok(&cluster, &format!("ALTER SYSTEM ADD BACKEND {all}"), &["Same backend already exists"]).await?;
    // Which backend id each core backend got: it keeps it whatever its address becomes.
    let ids_at_setup = backend_ids(&members_until_ok(&cluster).await?);
    let core_ids: Vec<(Role, String)> = core_roles
        .iter()
        .map(|r| (*r, ids_at_setup.get(&cluster.node(*r).addr()).cloned().unwrap_or_default()))
        .collect();
    let broker_addr = format!("{}:{BROKER_PORT}", cluster.node(Role::Broker).ip);
    until_ok(&cluster, &format!("ALTER SYSTEM ADD BROKER {BROKER_NAME} \"{broker_addr}\""), &["already has"]).await?;

    // The load table (needs three alive backends: retried until heartbeats have run).
    until_ok(&cluster, "CREATE DATABASE w", &["database exists"]).await?;
    until_ok(&cluster, crate::loads::CREATE_TABLE, &["already exists"]).await?;
    // The restore workload's target database.
    until_ok(&cluster, &format!("CREATE DATABASE {}", crate::restores::TARGET_DB), &["database exists"]).await?;
    // The backup repository: through the broker or direct, by the seed.
    let via = if thread_rng().gen_bool(0.5) { format!("BROKER {BROKER_NAME}") } else { "S3".to_string() };
    let create_repo = format!(
        "CREATE REPOSITORY {} WITH {via} ON LOCATION \"{}\"",
        crate::backups::REPOSITORY,
        crate::backups::LOCATION
    );
    until_ok(&cluster, &create_repo, &["already exist"]).await?;
    crate::big_tables::setup(&cluster, world).await?;

    // Chaos: the nemesis, the client's membership changes and its loads at once.
    let buggify = thread_rng().gen_bool(0.5);
    if buggify {
        madsim::buggify::enable();
        cluster.event("buggify: on");
    }
    let client_task = tokio::spawn(client_changes(
        cluster.client.clone(),
        cluster.fe_addr(),
        recorder.clone(),
        spare.clone(),
        options.chaos,
    ));
    let load_log = std::sync::Arc::new(std::sync::Mutex::new(crate::loads::LoadLog::default()));
    let loads_task = tokio::spawn(crate::loads::client_loads(
        cluster.client.clone(),
        cluster.fe_addr(),
        recorder.clone(),
        options.chaos,
        load_log.clone(),
        world.loaders,
    ));
    let backups_task = tokio::spawn(crate::backups::client_backups(
        cluster.client.clone(),
        cluster.fe_addr(),
        recorder.clone(),
        options.chaos,
        load_log.clone(),
    ));
    let restores_task = tokio::spawn(crate::restores::client_restores(
        cluster.client.clone(),
        cluster.fe_addr(),
        recorder.clone(),
        options.chaos,
        world.aimed_cancels,
    ));
    nemesis::run(&mut cluster, options.chaos, &clean_disks, world, core_roles).await;
    let mut model = client_task.await.map_err(|e| format!("the client's task failed: {e}"))?;
    // The load and restore workloads' databases, created (and acknowledged) at setup.
    model.databases_acked.insert("w".to_string());
    model.databases_acked.insert(crate::restores::TARGET_DB.to_string());
    if !crate::big_tables::create_statements(world).is_empty() {
        model.databases_acked.insert(crate::big_tables::DATABASE.to_string());
    }
    let mut load_model = loads_task.await.map_err(|e| format!("the client's load task failed: {e}"))?;
    let mut backup_model = backups_task.await.map_err(|e| format!("the client's backup task failed: {e}"))?;
    let mut restore_model = restores_task.await.map_err(|e| format!("the client's restore task failed: {e}"))?;
    let known = model.spare;
    if buggify {
        madsim::buggify::disable();
    }
    cluster.heal_all(&clean_disks);
    let healed_at = cluster.now();
    cluster.event(format!("check: spare backend {spare} is {known:?} to the client"));

    // Invariant 1: acknowledged membership survives.
    let seen = members_until_ok(&cluster).await?;
    let backend_addrs_seen: BTreeSet<&str> =
        seen.iter().filter(|m| m.key.starts_with("backend:")).map(|m| m.addr.as_str()).collect();
    match known {
        Known::Present if !backend_addrs_seen.contains(spare.as_str()) => {
            return Err(format!("spare backend {spare} was acknowledged as added but is missing: {seen:?}"));
        }
        Known::Absent if backend_addrs_seen.contains(spare.as_str()) => {
            return Err(format!("spare backend {spare} was acknowledged as dropped but is listed: {seen:?}"));
        }
        _ => {}
    }
    if !seen.iter().any(|m| m.key.starts_with(&format!("broker:{BROKER_NAME}:"))) {
        return Err(format!("acknowledged broker {BROKER_NAME} is missing from SHOW BROKER: {seen:?}"));
    }

    // Invariant 3: acknowledged databases survive; nothing appears that nobody created.
    let databases = databases_until_ok(&cluster).await?;
    if let Some(lost) = model.databases_acked.difference(&databases).next() {
        return Err(format!("acknowledged database {lost} is missing from SHOW DATABASES: {databases:?}"));
    }
    if let Some(stray) =
        databases.iter().find(|d| !model.databases_acked.contains(*d) && !model.databases_unknown.contains(*d))
    {
        return Err(format!("SHOW DATABASES lists {stray}, which nobody created"));
    }
    cluster.event(format!(
        "check: {} acknowledged databases present ({} of unknown outcome, {} of those present)",
        model.databases_acked.len(),
        model.databases_unknown.len(),
        databases.len() - model.databases_acked.len()
    ));

    // Invariant 2: every member is shown alive within the bound (and every core backend where it
    // listens now: one that just came back on another port is still shown alive at its old
    // address until heartbeats notice, and has its new one once its report arrives).
    let mut last = seen;
    loop {
        let listed: BTreeSet<&str> = last.iter().map(|m| m.addr.as_str()).collect();
        let all_listed = core_ids.iter().all(|(role, _)| listed.contains(cluster.node(*role).addr().as_str()));
        if all_listed && last.iter().all(|m| m.alive) {
            cluster.event(format!(
                "check: all {} members alive {:.1}s after the faults stopped",
                last.len(),
                (cluster.now() - healed_at).as_secs_f64()
            ));
            break;
        }
        if cluster.now() - healed_at > LIVENESS_BOUND {
            let dead: Vec<&str> = last.iter().filter(|m| !m.alive).map(|m| m.key.as_str()).collect();
            return Err(format!("members not alive {}s after the faults stopped: {dead:?}", LIVENESS_BOUND.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = members_until_ok(&cluster).await?;
    }
    // Invariant 1 for the core backends, once every member answers (a backend that came back on
    // another port has reported it by then): each is listed where it is now, under its old id.
    let ids_seen = backend_ids(&last);
    for (role, id) in &core_ids {
        // Where the backend is now: it may have come back on another port.
        let addr = cluster.node(*role).addr();
        match ids_seen.get(&addr) {
            None => return Err(format!("acknowledged backend {id} at {addr} is missing from SHOW BACKENDS: {last:?}")),
            Some(now) if now != id => {
                return Err(format!(
                    "backend {id} came back at {addr} and is listed as backend {now}: a backend keeps its id when \
                     its address changes ({last:?})"
                ));
            }
            Some(_) => {}
        }
    }

    // Invariants 5-7: loads exactly once and atomic, replicas converge and agree, DDL survives.
    crate::loads::check(&cluster, &mut load_model, world.loaders).await?;
    crate::big_tables::check(&cluster, world).await?;
    crate::backups::check(&cluster, &mut backup_model, &load_model, &load_log).await?;
    crate::restores::check(&cluster, &mut restore_model).await?;
    crate::backups::check_no_snapshots(&cluster).await?;

    // Invariant 4: one more FE power loss; replay must give the same membership and catalog.
    let before: Vec<String> = last.iter().map(|m| m.key.clone()).collect();
    let databases_before = databases_until_ok(&cluster).await?;
    let tables_before = crate::loads::fingerprint(&cluster).await?;
    let restored_before = crate::restores::fingerprint(&cluster).await?;
    cluster.kill(Role::Fe);
    tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(100..=2_000))).await;
    cluster.restart(Role::Fe);
    let after: Vec<String> = members_until_ok(&cluster).await?.into_iter().map(|m| m.key).collect();
    if before != after {
        return Err(format!("FE restart changed membership: before {before:?}, after {after:?}"));
    }
    let databases_after = databases_until_ok(&cluster).await?;
    if databases_before != databases_after {
        return Err(format!("FE restart changed databases: before {databases_before:?}, after {databases_after:?}"));
    }
    let tables_after = crate::loads::fingerprint(&cluster).await?;
    if tables_before != tables_after {
        return Err(format!("FE restart changed the load table: before {tables_before}, after {tables_after}"));
    }
    let restored_after = crate::restores::fingerprint(&cluster).await?;
    if restored_before != restored_after {
        return Err(format!(
            "FE restart changed the restored tables: before {restored_before}, after {restored_after}"
        ));
    }
    cluster.event(format!(
        "check: membership of {} members and {} databases survived an FE restart",
        after.len(),
        databases_after.len()
    ));
    Ok(())
}

/// Every snapshot directory a backend holds: (node, directory name).
pub fn snapshot_dirs(cluster: &SimCluster) -> Vec<(String, String)> {
    let mut held = Vec::new();
    for role in cluster.backend_roles() {
        let node = cluster.node(role);
        let Some(disk) = &node.disk else { continue };
        for (path, is_dir) in disk.list_all() {
            let Ok(rest) = path.strip_prefix("/be/snapshot") else { continue };
            let mut parts = rest.components();
            if let (Some(name), None, true) = (parts.next(), parts.next(), is_dir) {
                held.push((node.name.clone(), name.as_os_str().to_string_lossy().into_owned()));
            }
        }
    }
    held
}
