//! The seeded run: a cluster, a workload that changes membership while the nemesis injects
//! faults, then the checks.
//!
//! The invariants checked after every seed are named in `invariants.rs`; a failure names the
//! one that broke.

use std::collections::BTreeSet;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_buggify::Bug;

use crate::client::until_ok;
use crate::cluster::{BROKER_NAME, BROKER_PORT, ClusterSpec, Role, SimCluster};
use crate::invariants::Invariant;
use crate::nemesis;
use crate::sim_disk::SimDiskFaults;
use crate::trace::Recorder;
use crate::workloads::LIVENESS_BOUND;
use crate::workloads::backups::{SentLabels, finished_labels};
use crate::workloads::membership::{
    ClientModel, Known, Member, backend_ids, client_changes, databases_until_ok, members_until_ok,
};
use crate::workloads::second_cluster;
use crate::world::WorldProfile;

/// Test-only switches that break an invariant on purpose, to show the simulator catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InjectedBug {
    /// Every node's disk acknowledges fsync of a file without making its data durable.
    LyingFsync,
    /// A bug in node code (the catalog in `palo_buggify::Bug`).
    Node(Bug),
}

impl InjectedBug {
    /// Every bug, the disk's first, then the node code's.
    pub fn all() -> Vec<InjectedBug> {
        std::iter::once(InjectedBug::LyingFsync).chain(Bug::ALL.into_iter().map(InjectedBug::Node)).collect()
    }

    pub fn parse(name: &str) -> Option<InjectedBug> {
        InjectedBug::all().into_iter().find(|b| b.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            InjectedBug::LyingFsync => "lying-fsync",
            InjectedBug::Node(bug) => bug.name(),
        }
    }

    /// What the trace says when the bug is on.
    fn event(self) -> String {
        match self {
            InjectedBug::LyingFsync => "injected bug: every disk lies about fsync".to_string(),
            InjectedBug::Node(bug) => format!("injected bug: {}", bug.description()),
        }
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
    /// How the nemesis picks its faults: rolled from the seed, or a given schedule.
    pub plan: nemesis::Plan,
}

thread_local! {
    /// The world this thread's run drew, as a `--world` spec (for the runner's report).
    static WORLD_SPEC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The world the last run on this thread drew, as a `--world` spec that pins all of it.
pub fn take_world_spec() -> String {
    WORLD_SPEC.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// One seed's run. `Err` carries the invariant that broke, and the world it broke in.
pub async fn run(options: RunOptions, recorder: Recorder) -> Result<(), String> {
    let world = options.world.apply(WorldProfile::draw());
    recorder.event(format!("world: {world}"));
    WORLD_SPEC.with(|w| *w.borrow_mut() = world.spec());
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
    let spec = ClusterSpec {
        compaction_interval_ms: world.compaction_interval_ms,
        ..ClusterSpec::new(world.backends, 5, clean_disks)
    };
    let mut cluster = SimCluster::start(&spec, recorder.clone());
    if clean_disks.fsync_lies {
        cluster.event(InjectedBug::LyingFsync.event());
    }
    for bug in Bug::ALL {
        if options.bugs.contains(&InjectedBug::Node(bug)) {
            palo_buggify::inject_bug(bug);
            cluster.event(InjectedBug::Node(bug).event());
        }
    }
    // Let every node bind its port.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let backend_roles = cluster.backend_roles();
    let (core_roles, _) = backend_roles.split_at(backend_roles.len() - 1);
    let (spare, core_ids) = setup(&cluster, world, core_roles).await?;

    // Chaos: the nemesis, the client's membership changes and its loads at once.
    let buggify = thread_rng().gen_bool(0.5);
    if buggify {
        madsim::buggify::enable();
        cluster.event("buggify: on");
    }
    let sent = SentLabels::default();
    let client = spawn_client(&cluster, &recorder, &spare, options.chaos, world, sent.clone());
    let second = match world.second_cluster {
        true => Some(second_cluster::start(recorder.clone(), options.chaos, sent).await?),
        false => None,
    };
    nemesis::run(&mut cluster, options.chaos, &clean_disks, world, core_roles, &options.plan).await;
    let mut model = client.changes.await.map_err(|e| format!("the client's task failed: {e}"))?;
    // The load and restore workloads' databases, created (and acknowledged) at setup.
    model.databases_acked.insert("w".to_string());
    model.databases_acked.insert(crate::workloads::restores::TARGET_DB.to_string());
    if !crate::workloads::big_tables::create_statements(world).is_empty() {
        model.databases_acked.insert(crate::workloads::big_tables::DATABASE.to_string());
    }
    let mut load_model = client.loads.await.map_err(|e| format!("the client's load task failed: {e}"))?;
    let mut backup_model = client.backups.await.map_err(|e| format!("the client's backup task failed: {e}"))?;
    let mut restore_model = client.restores.await.map_err(|e| format!("the client's restore task failed: {e}"))?;
    let known = model.spare;
    if buggify {
        madsim::buggify::disable();
    }
    cluster.heal_all(&clean_disks);
    let healed_at = cluster.now();
    backup_model.healed_at = Some(healed_at);
    restore_model.healed_at = Some(healed_at);
    cluster.event(format!("check: spare backend {spare} is {known:?} to the client"));

    let last = Invariant::Membership.check(check_membership(&cluster, &model, &spare, &core_ids, healed_at).await)?;
    Invariant::Membership.checked(last.len() as u64);

    // Invariants 5-7: loads exactly once and atomic, replicas converge and agree, DDL survives.
    Invariant::Loads.check(crate::workloads::loads::check(&cluster, &mut load_model, world.loaders).await)?;
    Invariant::BigTables.check(crate::workloads::big_tables::check(&cluster, world).await)?;
    let ended = Invariant::Backups.check(crate::workloads::backups::wait_ended(&cluster, &mut backup_model).await)?;
    let second = match second {
        Some(second) => Some(Invariant::SecondCluster.check(second_cluster::join(second, healed_at).await)?),
        None => None,
    };
    let others = second.as_ref().map(|b| finished_labels(&b.ended)).unwrap_or_default();
    let backups =
        crate::workloads::backups::check(&cluster, &mut backup_model, &load_model, &client.log, &ended, &others).await;
    Invariant::Backups.check(backups)?;
    if let Some(second) = second {
        Invariant::SecondCluster.check(second_cluster::check(&cluster, &ended, second).await)?;
    }
    Invariant::Restores.check(crate::workloads::restores::check(&cluster, &mut restore_model).await)?;
    Invariant::Overwrite.check(crate::workloads::overwrite::check(&cluster, &mut restore_model).await)?;
    Invariant::NoSnapshotsLeft.check(crate::workloads::backups::check_no_snapshots(&cluster).await)?;

    Invariant::Replay.check(check_replay(&mut cluster, &last).await)?;
    Invariant::Replay.checked(1);
    Ok(())
}

/// The client's work during the chaos: a task per kind, and the log the loads and backups share.
struct Client {
    changes: tokio::task::JoinHandle<ClientModel>,
    loads: tokio::task::JoinHandle<crate::workloads::loads::LoadModel>,
    backups: tokio::task::JoinHandle<crate::workloads::backups::BackupModel>,
    restores: tokio::task::JoinHandle<crate::workloads::restores::RestoreModel>,
    log: std::sync::Arc<std::sync::Mutex<crate::workloads::loads::LoadLog>>,
}

/// Starts the client's membership changes, loads, backups (publishing their labels to `sent`)
/// and restores, for `chaos`.
fn spawn_client(
    cluster: &SimCluster,
    recorder: &Recorder,
    spare: &str,
    chaos: Duration,
    world: &WorldProfile,
    sent: SentLabels,
) -> Client {
    let (client, fe) = (cluster.client.clone(), cluster.fe_addr());
    let log = std::sync::Arc::new(std::sync::Mutex::new(crate::workloads::loads::LoadLog::default()));
    Client {
        changes: tokio::spawn(client_changes(client.clone(), fe.clone(), recorder.clone(), spare.to_string(), chaos)),
        loads: tokio::spawn(crate::workloads::loads::client_loads(
            client.clone(),
            fe.clone(),
            recorder.clone(),
            chaos,
            log.clone(),
            world.loaders,
        )),
        backups: tokio::spawn(crate::workloads::backups::client_backups(
            client.clone(),
            fe.clone(),
            recorder.clone(),
            chaos,
            log.clone(),
            sent,
            world.second_cluster.then(|| cluster.node(Role::Fe).handle.id()),
        )),
        restores: tokio::spawn(crate::workloads::restores::client_restores(
            client,
            fe,
            recorder.clone(),
            chaos,
            world.aimed_cancels,
        )),
        log,
    }
}

/// Setup, without faults: three core backends, the spare, the broker, the load table, the
/// restore's database, the repository and the big tables. The spare's address and the id each
/// core backend got.
async fn setup(
    cluster: &SimCluster,
    world: &WorldProfile,
    core_roles: &[Role],
) -> Result<(String, Vec<(Role, String)>), String> {
    let backend_addrs: Vec<String> = cluster.backend_roles().iter().map(|r| cluster.node(*r).addr()).collect();
    let spare = backend_addrs[backend_addrs.len() - 1].clone();
    let all = backend_addrs.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    until_ok(cluster, &format!("ALTER SYSTEM ADD BACKEND {all}"), &["Same backend already exists"]).await?;
    // Which backend id each core backend got: it keeps it whatever its address becomes.
    let ids_at_setup = backend_ids(&members_until_ok(cluster).await?);
    let core_ids: Vec<(Role, String)> = core_roles
        .iter()
        .map(|r| (*r, ids_at_setup.get(&cluster.node(*r).addr()).cloned().unwrap_or_default()))
        .collect();
    let broker_addr = format!("{}:{BROKER_PORT}", cluster.node(Role::Broker).ip);
    until_ok(cluster, &format!("ALTER SYSTEM ADD BROKER {BROKER_NAME} \"{broker_addr}\""), &["already has"]).await?;

    // The load table (needs three alive backends: retried until heartbeats have run).
    until_ok(cluster, "CREATE DATABASE w", &["database exists"]).await?;
    until_ok(cluster, crate::workloads::loads::CREATE_TABLE, &["already exists"]).await?;
    until_ok(cluster, crate::workloads::loads::CREATE_DIMS, &["already exists"]).await?;
    until_ok(cluster, crate::workloads::loads::CREATE_TOTALS, &["already exists"]).await?;
    for load in crate::workloads::loads::DIMS_LOADS {
        // Loads of UNIQUE keys: run again after an unknown outcome, they give the same rows.
        until_ok(cluster, load, &[]).await?;
    }
    // The restore workload's target database.
    until_ok(cluster, &format!("CREATE DATABASE {}", crate::workloads::restores::TARGET_DB), &["database exists"])
        .await?;
    // The backup repository: through the broker or direct, by the seed.
    let via = if thread_rng().gen_bool(0.5) { format!("BROKER {BROKER_NAME}") } else { "S3".to_string() };
    let create_repo = format!(
        "CREATE REPOSITORY {} WITH {via} ON LOCATION \"{}\"",
        crate::workloads::backups::REPOSITORY,
        crate::workloads::backups::LOCATION
    );
    until_ok(cluster, &create_repo, &["already exist"]).await?;
    crate::workloads::big_tables::setup(cluster, world).await?;
    Ok((spare, core_ids))
}

/// Invariants 1-3: acknowledged membership and databases survive, and every member is shown
/// alive within [`LIVENESS_BOUND`] of `healed_at`, each core backend under the id it got at
/// setup. The members as last listed.
async fn check_membership(
    cluster: &SimCluster,
    model: &ClientModel,
    spare: &str,
    core_ids: &[(Role, String)],
    healed_at: Duration,
) -> Result<Vec<Member>, String> {
    let known = model.spare;
    // Invariant 1: acknowledged membership survives.
    let seen = members_until_ok(cluster).await?;
    let backend_addrs_seen: BTreeSet<&str> =
        seen.iter().filter(|m| m.key.starts_with("backend:")).map(|m| m.addr.as_str()).collect();
    match known {
        Known::Present if !backend_addrs_seen.contains(spare) => {
            return Err(format!("spare backend {spare} was acknowledged as added but is missing: {seen:?}"));
        }
        Known::Absent if backend_addrs_seen.contains(spare) => {
            return Err(format!("spare backend {spare} was acknowledged as dropped but is listed: {seen:?}"));
        }
        _ => {}
    }
    if !seen.iter().any(|m| m.key.starts_with(&format!("broker:{BROKER_NAME}:"))) {
        return Err(format!("acknowledged broker {BROKER_NAME} is missing from SHOW BROKER: {seen:?}"));
    }

    // Invariant 3: acknowledged databases survive; nothing appears that nobody created.
    let databases = databases_until_ok(cluster).await?;
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

    // Invariant 2: every member is shown alive within the bound, having answered a heartbeat
    // sent after the faults stopped (and every core backend where it listens now: one that just
    // came back on another port is still shown alive at its old address until heartbeats
    // notice, and has its new one once its report arrives). Alive on older answers is not
    // enough: a heartbeat sent into a partition fails when it times out, after the heal, and
    // the third such failure shows the member dead for a second (seed 7112: every load of the
    // quiet phase refused).
    let since_heal_ms = u64::try_from((cluster.now() - healed_at).as_millis()).unwrap_or(u64::MAX);
    let heard_after = palo_node::clock::format_datetime(
        palo_node::clock::now_ms().saturating_sub(since_heal_ms).div_ceil(1_000) * 1_000,
    );
    let mut last = seen;
    loop {
        let listed: BTreeSet<&str> = last.iter().map(|m| m.addr.as_str()).collect();
        let all_listed = core_ids.iter().all(|(role, _)| listed.contains(cluster.node(*role).addr().as_str()));
        if all_listed && last.iter().all(|m| m.alive && m.answered >= heard_after) {
            cluster.event(format!(
                "check: all {} members alive {:.1}s after the faults stopped",
                last.len(),
                (cluster.now() - healed_at).as_secs_f64()
            ));
            break;
        }
        if cluster.now() - healed_at > LIVENESS_BOUND {
            let dead: Vec<&str> =
                last.iter().filter(|m| !m.alive || m.answered < heard_after).map(|m| m.key.as_str()).collect();
            return Err(format!(
                "members not alive, or not heard from since the faults stopped at {heard_after}, {}s after: {dead:?}",
                LIVENESS_BOUND.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = members_until_ok(cluster).await?;
    }
    // Invariant 1 for the core backends, once every member answers (a backend that came back on
    // another port has reported it by then): each is listed where it is now, under its old id.
    let ids_seen = backend_ids(&last);
    for (role, id) in core_ids {
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
    Ok(last)
}

/// Invariant 4: one more FE power loss; replay must give the same membership and catalog.
async fn check_replay(cluster: &mut SimCluster, last: &[Member]) -> Result<(), String> {
    let before: Vec<String> = last.iter().map(|m| m.key.clone()).collect();
    let databases_before = databases_until_ok(cluster).await?;
    let tables_before = crate::workloads::loads::fingerprint(cluster).await?;
    let restored_before = crate::workloads::restores::fingerprint(cluster).await?;
    cluster.kill(Role::Fe);
    tokio::time::sleep(Duration::from_millis(thread_rng().gen_range(100..=2_000))).await;
    cluster.restart(Role::Fe);
    let after: Vec<String> = members_until_ok(cluster).await?.into_iter().map(|m| m.key).collect();
    if before != after {
        return Err(format!("FE restart changed membership: before {before:?}, after {after:?}"));
    }
    let databases_after = databases_until_ok(cluster).await?;
    if databases_before != databases_after {
        return Err(format!("FE restart changed databases: before {databases_before:?}, after {databases_after:?}"));
    }
    let tables_after = crate::workloads::loads::fingerprint(cluster).await?;
    if tables_before != tables_after {
        return Err(format!("FE restart changed the load table: before {tables_before}, after {tables_after}"));
    }
    let restored_after = crate::workloads::restores::fingerprint(cluster).await?;
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
