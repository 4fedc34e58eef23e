//! The nemesis: faults chosen by the seed. Each step it may kill a node (power loss; a long
//! outage now and then so heartbeats declare it dead), cut a link, drop packets, or make a disk
//! fail or stall, or (in worlds that enable it) restart a backend on another port, which an
//! operator then adds again as the standalone does; every fault is undone after a seed-chosen
//! time. Everything it does goes to the trace.

use std::time::Duration;

use madsim::rand::{Rng, RngCore, thread_rng};
use palo_node::fe::jobs::backup::job::BackupState;
use palo_node::fe::jobs::restore::job::RestoreState;
use palo_node::fe::jobs::state::JobState;

use crate::cluster::{BE_PORT, Role, SimCluster};
use crate::faults::{Aim, AimedFault, FaultEvent, FaultKind, ROLL_RANGE, ScheduledFault};
use crate::sim_disk::SimDiskFaults;
use crate::world::WorldProfile;

/// Faults undone later: (when, what).
enum Undo {
    Restart(Role),
    Heal(Role, Role),
    NoLoss,
    CleanDisk(Role),
}

/// The most room a full disk leaves (a few writes' worth).
const MAX_DISK_FULL_HEADROOM_BYTES: u64 = 64 << 10;

/// Limits of the nemesis, so every run ends and every fault is bounded.
pub const MAX_PENDING_FAULTS: usize = 8;
const MIN_STEP_MS: u64 = 200;
const MAX_STEP_MS: u64 = 2_000;

/// How the nemesis picks its faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Plan {
    /// Rolled from the seed at every step.
    #[default]
    Random,
    /// Exactly these faults at these moments (a schedule file, or a shrink's candidate).
    Scripted(Vec<ScheduledFault>),
}

thread_local! {
    /// The faults struck in this world (one world per thread), for the schedule of a run.
    static STRUCK: std::cell::RefCell<Vec<ScheduledFault>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The faults the nemesis struck in this thread's world, in order; a fresh start for the next.
pub fn take_schedule() -> Vec<ScheduledFault> {
    STRUCK.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// Injects faults into `cluster` for `duration` of simulated time, as `plan` says, then returns
/// with every fault still pending undone.
/// `movable` are the backends that may come back on another port (when the world enables it).
pub async fn run(
    cluster: &mut SimCluster,
    duration: Duration,
    clean_disks: &SimDiskFaults,
    world: &WorldProfile,
    movable: &[Role],
    plan: &Plan,
) {
    let end = cluster.now() + duration;
    let mut pending: Vec<(Duration, Undo)> = Vec::new();
    let roles: Vec<Role> = cluster.nodes.iter().map(|n| n.role).collect();
    let mut aim = world.aim;
    if let Some(aim) = &aim {
        hold(cluster, aim);
    }
    // The nemesis draws from streams of its own (one draw of the seed's stream seeds them), so a
    // run that strikes other faults wakes the nemesis at the same moments and leaves the rest of
    // the world's random draws alone: a run's own schedule replays it exactly.
    let mut streams = Streams::new(thread_rng().r#gen());
    let mut script = match plan {
        Plan::Random => None,
        Plan::Scripted(faults) => Some(faults.iter().peekable()),
    };
    // An aim not struck by the chaos's end (its job reached the state later) is waited for a
    // while longer, with no other fault, so the checks still start with every fault undone.
    let aim_end = end + AIM_GRACE;
    while cluster.now() < end || (aim.is_some() && cluster.now() < aim_end) {
        let step = Duration::from_millis(streams.steps.gen_range(MIN_STEP_MS..=MAX_STEP_MS));
        tokio::time::sleep(step).await;

        // Undo what is due, in the order it was scheduled.
        let now = cluster.now();
        let (due, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(at, _)| *at <= now);
        pending = later;
        for (_, undo) in due {
            apply_undo(cluster, undo, clean_disks);
        }

        // The aimed fault strikes once a job is in its state (held there by `hold`).
        if let Some(target) = aim
            && palo_buggify::running_jobs().contains(&(target.kind, target.state))
        {
            strike(&mut streams.aims, cluster, &target, &roles, &mut pending);
            aim = None;
            continue;
        }
        if cluster.now() >= end {
            // The aim's grace has no other fault: no buggify either (delayed calls, store faults).
            if madsim::buggify::is_enabled() {
                madsim::buggify::disable();
                cluster.event("nemesis: the chaos is over; buggify off while the aim waits");
            }
            continue;
        }
        match script.as_mut() {
            Some(faults) => {
                let now_ms = cluster.now().as_millis() as u64;
                while let Some(fault) = faults.next_if(|f| f.at_ms <= now_ms) {
                    if pending.len() < MAX_PENDING_FAULTS && applicable(cluster, &fault.event, world, movable) {
                        apply(cluster, &fault.event, &mut pending, clean_disks);
                    }
                }
            }
            None if pending.len() >= MAX_PENDING_FAULTS => {}
            None => {
                if let Some(event) = roll(&mut streams.faults, cluster, &roles, world, movable)
                    && applicable(cluster, &event, world, movable)
                {
                    apply(cluster, &event, &mut pending, clean_disks);
                }
            }
        }
    }
    for (_, undo) in pending {
        apply_undo(cluster, undo, clean_disks);
    }
}

/// A stream of the nemesis's own random draws (SplitMix64).
pub struct Stream(u64);

impl RngCore for Stream {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), madsim::rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The nemesis's streams: when it wakes, which faults it rolls, whom an aimed fault strikes.
struct Streams {
    steps: Stream,
    faults: Stream,
    aims: Stream,
}

impl Streams {
    fn new(seed: u64) -> Streams {
        let mut root = Stream(seed);
        Streams { steps: Stream(root.next_u64()), faults: Stream(root.next_u64()), aims: Stream(root.next_u64()) }
    }
}

/// One roll of the random nemesis: the fault it strikes now, if any.
fn roll(
    rng: &mut Stream,
    cluster: &SimCluster,
    roles: &[Role],
    world: &WorldProfile,
    movable: &[Role],
) -> Option<FaultEvent> {
    let roll = rng.gen_range(0..ROLL_RANGE);
    let victim = roles[rng.gen_range(0..roles.len())];
    let node = cluster.node(victim).name.clone();
    let kind = FaultKind::of_roll(roll).filter(|k| !world.faults_off.contains(k))?;
    match kind {
        FaultKind::Kill if cluster.node(victim).up => {
            // One outage in ten outlasts the heartbeat failure threshold.
            let outage_ms = if rng.gen_bool(0.1) { rng.gen_range(5_000..=12_000) } else { rng.gen_range(300..=4_000) };
            Some(FaultEvent::Kill { node, outage_ms })
        }
        FaultKind::CutLink if victim != Role::Fe => {
            Some(FaultEvent::CutLink { node, ms: rng.gen_range(1_000..=6_000) })
        }
        FaultKind::PacketLoss => {
            let percent = rng.gen_range(5..=25);
            Some(FaultEvent::PacketLoss { percent, ms: rng.gen_range(1_000..=4_000) })
        }
        FaultKind::DiskFaults => {
            let eio_per_million = rng.gen_range(0..=50_000);
            let slow_per_million = rng.gen_range(0..=200_000);
            let slow_ms = rng.gen_range(50..=1_500);
            let ms = rng.gen_range(1_000..=5_000);
            Some(FaultEvent::DiskFaults { node, eio_per_million, slow_per_million, slow_ms, ms })
        }
        FaultKind::DiskFull => {
            let headroom_bytes = rng.gen_range(0..=MAX_DISK_FULL_HEADROOM_BYTES);
            Some(FaultEvent::DiskFull { node, headroom_bytes, ms: rng.gen_range(1_000..=5_000) })
        }
        FaultKind::MoveBackend if world.backend_moves && movable.contains(&victim) && cluster.node(victim).up => {
            let from = cluster.node(victim).port;
            let port = loop {
                let port = BE_PORT + rng.gen_range(0..=9);
                if port != from {
                    break port;
                }
            };
            Some(FaultEvent::MoveBackend { node, port, pause_ms: rng.gen_range(200..=3_000) })
        }
        _ => None,
    }
}

/// The node a fault names, if this cluster has it.
fn role_named(cluster: &SimCluster, name: &str) -> Option<Role> {
    cluster.nodes.iter().find(|n| n.name == name).map(|n| n.role)
}

/// Whether `event` can strike now (a scripted one may name a node that is down or cannot move).
fn applicable(cluster: &SimCluster, event: &FaultEvent, world: &WorldProfile, movable: &[Role]) -> bool {
    let up = |name: &str| role_named(cluster, name).is_some_and(|r| cluster.node(r).up);
    match event {
        FaultEvent::Kill { node, .. } => up(node),
        FaultEvent::CutLink { node, .. } => role_named(cluster, node).is_some_and(|r| r != Role::Fe),
        FaultEvent::PacketLoss { .. } => true,
        FaultEvent::DiskFaults { node, .. } | FaultEvent::DiskFull { node, .. } => {
            role_named(cluster, node).is_some_and(|r| cluster.node(r).disk.is_some())
        }
        FaultEvent::MoveBackend { node, port, .. } => {
            world.backend_moves
                && up(node)
                && role_named(cluster, node).is_some_and(|r| movable.contains(&r) && cluster.node(r).port != *port)
        }
    }
}

/// Strikes `event` now (it is [`applicable`]), records it, and schedules its undo.
fn apply(
    cluster: &mut SimCluster,
    event: &FaultEvent,
    pending: &mut Vec<(Duration, Undo)>,
    clean_disks: &SimDiskFaults,
) {
    let at_ms = cluster.now().as_millis() as u64;
    STRUCK.with(|s| s.borrow_mut().push(ScheduledFault { at_ms, event: event.clone() }));
    let after = |cluster: &SimCluster, ms: u64| cluster.now() + Duration::from_millis(ms);
    match event {
        FaultEvent::Kill { node, outage_ms } => {
            let Some(victim) = role_named(cluster, node) else { return };
            palo_buggify::struck(crash_of(victim));
            cluster.kill(victim);
            pending.push((after(cluster, *outage_ms), Undo::Restart(victim)));
        }
        FaultEvent::CutLink { node, ms } => {
            let Some(victim) = role_named(cluster, node) else { return };
            palo_buggify::struck(FaultKind::CutLink.name());
            cluster.partition(Role::Fe, victim);
            pending.push((after(cluster, *ms), Undo::Heal(Role::Fe, victim)));
        }
        FaultEvent::PacketLoss { percent, ms } => {
            palo_buggify::struck(FaultKind::PacketLoss.name());
            cluster.set_packet_loss(f64::from(*percent) / 100.0);
            pending.push((after(cluster, *ms), Undo::NoLoss));
        }
        FaultEvent::DiskFaults { node, eio_per_million, slow_per_million, slow_ms, ms } => {
            let Some(victim) = role_named(cluster, node) else { return };
            let faults = SimDiskFaults {
                eio_per_million: *eio_per_million,
                slow_per_million: *slow_per_million,
                slow_ms: *slow_ms,
                ..*clean_disks
            };
            palo_buggify::struck(FaultKind::DiskFaults.name());
            cluster.set_disk_faults(victim, faults);
            pending.push((after(cluster, *ms), Undo::CleanDisk(victim)));
        }
        FaultEvent::DiskFull { node, headroom_bytes, ms } => {
            let Some(victim) = role_named(cluster, node) else { return };
            let used = cluster.node(victim).disk.as_ref().map_or(0, |d| d.used_bytes());
            let faults = SimDiskFaults { capacity_bytes: used + headroom_bytes, ..*clean_disks };
            palo_buggify::struck(FaultKind::DiskFull.name());
            cluster.set_disk_faults(victim, faults);
            pending.push((after(cluster, *ms), Undo::CleanDisk(victim)));
        }
        FaultEvent::MoveBackend { node, port, pause_ms } => {
            let Some(victim) = role_named(cluster, node) else { return };
            palo_buggify::struck(FaultKind::MoveBackend.name());
            move_backend(cluster, victim, *port, Duration::from_millis(*pause_ms));
        }
    }
}

/// Failures of a state's work the aim injects: the job stays in the state for their backoffs
/// (1 s, then 2 s), long enough for the nemesis (a step every 2 s at most) to see it there.
const AIM_HOLDS: u32 = 2;
/// How long past the chaos the nemesis waits for a job to reach the aimed state.
const AIM_GRACE: Duration = Duration::from_secs(60);
/// Repository operations an aimed object-store fault makes fail.
const AIMED_STORE_FAULTS: u32 = 3;

/// Holds the first job of the aim's kind that reaches the aim's state there a while.
fn hold(cluster: &SimCluster, aim: &Aim) {
    let step = match aim.kind {
        "backup" => BackupState::parse(aim.state).map(|s| s.step_fault()),
        _ => RestoreState::parse(aim.state).map(|s| s.step_fault()),
    };
    let Some(step) = step else { return };
    cluster.event(format!("nemesis: aiming {} at {} {}", aim.fault.name(), aim.kind, aim.state));
    palo_buggify::inject_task_failure(cluster.node(Role::Fe).handle.id(), &step, AIM_HOLDS);
}

/// Strikes the aimed fault now (a job is in the aimed state); what it breaks is undone later.
fn strike(rng: &mut Stream, cluster: &mut SimCluster, aim: &Aim, roles: &[Role], pending: &mut Vec<(Duration, Undo)>) {
    cluster.event(format!("nemesis: aimed {} strikes {} {}", aim.fault.name(), aim.kind, aim.state));
    let mut up = |cluster: &SimCluster, wanted: fn(&Role) -> bool| -> Option<Role> {
        let candidates: Vec<Role> = roles.iter().copied().filter(|r| wanted(r) && cluster.node(*r).up).collect();
        (!candidates.is_empty()).then(|| candidates[rng.gen_range(0..candidates.len())])
    };
    let victim = match aim.fault {
        AimedFault::FeCrash => up(cluster, |r| *r == Role::Fe),
        AimedFault::BeCrash | AimedFault::CutLink => up(cluster, |r| matches!(r, Role::Be(_))),
        AimedFault::BrokerCrash => up(cluster, |r| *r == Role::Broker),
        AimedFault::ObjectStore | AimedFault::TaskFailure | AimedFault::Cancel => None,
    };
    match (aim.fault, victim) {
        (AimedFault::FeCrash | AimedFault::BeCrash | AimedFault::BrokerCrash, Some(victim)) => {
            palo_buggify::struck(crash_of(victim));
            cluster.kill(victim);
            let outage_ms = rng.gen_range(300..=4_000);
            pending.push((cluster.now() + Duration::from_millis(outage_ms), Undo::Restart(victim)));
        }
        (AimedFault::CutLink, Some(victim)) => {
            palo_buggify::struck(FaultKind::CutLink.name());
            cluster.partition(Role::Fe, victim);
            let ms = rng.gen_range(1_000..=6_000);
            pending.push((cluster.now() + Duration::from_millis(ms), Undo::Heal(Role::Fe, victim)));
        }
        (AimedFault::ObjectStore, _) => {
            palo_buggify::force_faults("object-store", AIMED_STORE_FAULTS);
            // An operator looks at the repository meanwhile, so the store is used (and fails) while
            // the job is in the state even when the state's own work does not touch it.
            let statement = format!("SHOW SNAPSHOT ON {}", crate::workloads::backups::REPOSITORY);
            let (client, fe_addr, recorder) = (cluster.client.clone(), cluster.fe_addr(), cluster.recorder.clone());
            tokio::spawn(async move {
                let _ = crate::client::sql_on(&client, fe_addr, recorder, statement).await;
            });
        }
        (AimedFault::Cancel, _) => {
            palo_buggify::struck_kind("cancel", aim.kind);
            let statement = match aim.kind {
                "backup" => "CANCEL BACKUP FROM w".to_string(),
                _ => format!("CANCEL RESTORE FROM {}", crate::workloads::restores::TARGET_DB),
            };
            let (client, fe_addr, recorder) = (cluster.client.clone(), cluster.fe_addr(), cluster.recorder.clone());
            tokio::spawn(async move {
                let _ = crate::client::sql_on(&client, fe_addr, recorder, statement).await;
            });
        }
        // The hold's failures of the state's work are the task failures; a crash with nothing
        // up to crash strikes nothing.
        _ => {}
    }
}

/// The coverage name of a power loss of `role`.
fn crash_of(role: Role) -> &'static str {
    match role {
        Role::Fe => "fe-crash",
        Role::Be(_) => "be-crash",
        Role::Broker => "broker-crash",
    }
}

/// How long the operator of one move keeps an eye on the address it added, at most.
const OPERATOR_WATCH_SECS: u32 = 300;

/// Restarts `role` on `port`, then adds it again at its new address `pause` later, as an
/// operator (or `palo-node standalone`, which registers its backends at every start) would.
///
/// What the operator added can outlive the backend's stay there: added while the backend does
/// not answer (down, cut off), the row is a new id at an address the FE has never heard the
/// backend at, and when the backend comes back somewhere else before the FE finds it there, that
/// row stays dead (the FE cannot tell it from a backend not started yet). The operator cleans up
/// as a person would, from SHOW BACKENDS: once the backend has left the address and is shown
/// alive at the one it is at now, a dead row of another id at the left address is the
/// operator's, and is dropped. A row of the backend's own id (it reported the address, then
/// moved on) is never dropped: the backend reports its next address itself, and dropping it
/// would drop the backend, its id and its tablets.
fn move_backend(cluster: &mut SimCluster, role: Role, port: u16, pause: Duration) {
    cluster.move_backend(role, port);
    let ip = cluster.node(role).ip;
    let addr = cluster.node(role).addr();
    let statement = format!("ALTER SYSTEM ADD BACKEND \"{addr}\"");
    let (client, fe_addr, recorder) = (cluster.client.clone(), cluster.fe_addr(), cluster.recorder.clone());
    let now_at = cluster.port_of(role);
    tokio::spawn(async move {
        tokio::time::sleep(pause).await;
        // An operator adds the address the backend is at; one it has left again meanwhile would
        // be a backend nothing listens at, dead for good (an operator's mistake the FE cannot
        // tell from a backend not started yet).
        let still_there = || now_at.load(std::sync::atomic::Ordering::Relaxed) == port;
        if !still_there() {
            return;
        }
        // Whatever the answer (added, refused because the address is already the backend's,
        // unknown), the rows are judged below by what SHOW BACKENDS shows.
        let _ = crate::client::sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await;
        for _ in 0..OPERATOR_WATCH_SECS {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if still_there() {
                // The FE finds the backend here (its report, or a heartbeat it answers).
                continue;
            }
            let here = format!("{ip}:{}", now_at.load(std::sync::atomic::Ordering::Relaxed));
            let Some(rows) = backend_rows(&client, &fe_addr, &recorder).await else { continue };
            match (rows.get(&here), rows.get(&addr)) {
                // Nothing at the address any more (merged into the backend, moved, dropped).
                (_, None) => return,
                // The backend is alive where it is now, and the row it left is another id's.
                // Dropped; the next look confirms the row is gone. A DROP without an answer (the
                // FE died, packets lost) is sent again then, as an operator would (seed 9525 of
                // the 10 000-seed campaign: one lost DROP left a dead row for good).
                (Some(backend), Some(left))
                    if backend.alive && !left.alive && left.id != backend.id && !still_there() =>
                {
                    let drop = format!("ALTER SYSTEM DROP BACKEND \"{addr}\"");
                    let _ = crate::client::sql_on(&client, fe_addr.clone(), recorder.clone(), drop).await;
                }
                // Not shown alive at its new address yet (it has not reported, or is down).
                _ => {}
            }
        }
    });
}

/// One row of SHOW BACKENDS, as the operator reads it.
struct BackendRow {
    id: String,
    alive: bool,
}

/// SHOW BACKENDS by address (`host:port`); `None` when the FE does not answer it.
async fn backend_rows(
    client: &madsim::runtime::NodeHandle,
    fe_addr: &str,
    recorder: &crate::trace::Recorder,
) -> Option<std::collections::BTreeMap<String, BackendRow>> {
    use crate::client::col;
    let shown = crate::client::sql_on(client, fe_addr.to_string(), recorder.clone(), "SHOW BACKENDS".to_string()).await;
    let Ok(palo_node::fe::QueryOutput::Rows { columns, rows }) = shown else { return None };
    let (id, host, port, alive) = (
        col(&columns, "BackendId").ok()?,
        col(&columns, "Host").ok()?,
        col(&columns, "BePort").ok()?,
        col(&columns, "Alive").ok()?,
    );
    let rows = rows.iter().map(|row| {
        let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        (format!("{}:{}", cell(host), cell(port)), BackendRow { id: cell(id), alive: cell(alive) == "true" })
    });
    Some(rows.collect())
}

fn apply_undo(cluster: &mut SimCluster, undo: Undo, clean_disks: &SimDiskFaults) {
    match undo {
        Undo::Restart(role) => cluster.restart(role),
        Undo::Heal(a, b) => cluster.heal_partition(a, b),
        Undo::NoLoss => cluster.set_packet_loss(0.0),
        Undo::CleanDisk(role) => cluster.set_disk_faults(role, *clean_disks),
    }
}
