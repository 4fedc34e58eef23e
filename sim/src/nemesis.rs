//! The nemesis: faults chosen by the seed. Each step it may kill a node (power loss; a long
//! outage now and then so heartbeats declare it dead), cut a link, drop packets, or make a disk
//! fail or stall, or (in worlds that enable it) restart a backend on another port, which an
//! operator then adds again as the standalone does; every fault is undone after a seed-chosen
//! time. Everything it does goes to the trace.

use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use palo_node::fe::jobs::backup::job::BackupState;
use palo_node::fe::jobs::restore::job::RestoreState;
use palo_node::fe::jobs::state::JobState;

use crate::cluster::{BE_PORT, Role, SimCluster};
use crate::faults::{Aim, AimedFault, FaultKind, ROLL_RANGE};
use crate::sim_disk::SimDiskFaults;
use crate::world::WorldProfile;

/// Faults undone later: (when, what).
enum Undo {
    Restart(Role),
    Heal(Role, Role),
    NoLoss,
    CleanDisk(Role),
}

/// Limits of the nemesis, so every run ends and every fault is bounded.
pub const MAX_PENDING_FAULTS: usize = 8;
const MIN_STEP_MS: u64 = 200;
const MAX_STEP_MS: u64 = 2_000;

/// Injects faults into `cluster` for `duration` of simulated time, then returns with every
/// fault still pending undone.
/// `movable` are the backends that may come back on another port (when the world enables it).
pub async fn run(
    cluster: &mut SimCluster,
    duration: Duration,
    clean_disks: &SimDiskFaults,
    world: &WorldProfile,
    movable: &[Role],
) {
    let end = cluster.now() + duration;
    let mut pending: Vec<(Duration, Undo)> = Vec::new();
    let roles: Vec<Role> = cluster.nodes.iter().map(|n| n.role).collect();
    let mut aim = world.aim;
    if let Some(aim) = &aim {
        hold(cluster, aim);
    }
    // An aim not struck by the chaos's end (its job reached the state later) is waited for a
    // while longer, with no other fault, so the checks still start with every fault undone.
    let aim_end = end + AIM_GRACE;
    while cluster.now() < end || (aim.is_some() && cluster.now() < aim_end) {
        let step = Duration::from_millis(thread_rng().gen_range(MIN_STEP_MS..=MAX_STEP_MS));
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
            strike(cluster, &target, &roles, &mut pending);
            aim = None;
            continue;
        }
        if cluster.now() >= end || pending.len() >= MAX_PENDING_FAULTS {
            continue;
        }
        let roll = thread_rng().gen_range(0..ROLL_RANGE);
        let victim = roles[thread_rng().gen_range(0..roles.len())];
        match FaultKind::of_roll(roll) {
            Some(FaultKind::Kill) if cluster.node(victim).up => {
                palo_buggify::struck(crash_of(victim));
                cluster.kill(victim);
                // One outage in ten outlasts the heartbeat failure threshold.
                let outage_ms = if thread_rng().gen_bool(0.1) {
                    thread_rng().gen_range(5_000..=12_000)
                } else {
                    thread_rng().gen_range(300..=4_000)
                };
                pending.push((cluster.now() + Duration::from_millis(outage_ms), Undo::Restart(victim)));
            }
            Some(FaultKind::CutLink) if victim != Role::Fe => {
                palo_buggify::struck(FaultKind::CutLink.name());
                cluster.partition(Role::Fe, victim);
                let ms = thread_rng().gen_range(1_000..=6_000);
                pending.push((cluster.now() + Duration::from_millis(ms), Undo::Heal(Role::Fe, victim)));
            }
            Some(FaultKind::PacketLoss) => {
                palo_buggify::struck(FaultKind::PacketLoss.name());
                let rate = thread_rng().gen_range(5..=25) as f64 / 100.0;
                cluster.set_packet_loss(rate);
                let ms = thread_rng().gen_range(1_000..=4_000);
                pending.push((cluster.now() + Duration::from_millis(ms), Undo::NoLoss));
            }
            Some(FaultKind::DiskFaults) => {
                let faults = SimDiskFaults {
                    eio_per_million: thread_rng().gen_range(0..=50_000),
                    slow_per_million: thread_rng().gen_range(0..=200_000),
                    slow_ms: thread_rng().gen_range(50..=1_500),
                    ..*clean_disks
                };
                palo_buggify::struck(FaultKind::DiskFaults.name());
                cluster.set_disk_faults(victim, faults);
                let ms = thread_rng().gen_range(1_000..=5_000);
                pending.push((cluster.now() + Duration::from_millis(ms), Undo::CleanDisk(victim)));
            }
            Some(FaultKind::MoveBackend)
                if world.backend_moves && movable.contains(&victim) && cluster.node(victim).up =>
            {
                palo_buggify::struck(FaultKind::MoveBackend.name());
                move_backend(cluster, victim);
            }
            _ => {}
        }
    }
    for (_, undo) in pending {
        apply_undo(cluster, undo, clean_disks);
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
fn strike(cluster: &mut SimCluster, aim: &Aim, roles: &[Role], pending: &mut Vec<(Duration, Undo)>) {
    cluster.event(format!("nemesis: aimed {} strikes {} {}", aim.fault.name(), aim.kind, aim.state));
    let up = |cluster: &SimCluster, wanted: fn(&Role) -> bool| -> Option<Role> {
        let candidates: Vec<Role> = roles.iter().copied().filter(|r| wanted(r) && cluster.node(*r).up).collect();
        (!candidates.is_empty()).then(|| candidates[thread_rng().gen_range(0..candidates.len())])
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
            let outage_ms = thread_rng().gen_range(300..=4_000);
            pending.push((cluster.now() + Duration::from_millis(outage_ms), Undo::Restart(victim)));
        }
        (AimedFault::CutLink, Some(victim)) => {
            palo_buggify::struck(FaultKind::CutLink.name());
            cluster.partition(Role::Fe, victim);
            let ms = thread_rng().gen_range(1_000..=6_000);
            pending.push((cluster.now() + Duration::from_millis(ms), Undo::Heal(Role::Fe, victim)));
        }
        (AimedFault::ObjectStore, _) => palo_buggify::force_faults("object-store", AIMED_STORE_FAULTS),
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

/// Restarts `role` on another port, then adds it again at its new address a moment later, as an
/// operator (or `palo-node standalone`, which registers its backends at every start) would.
fn move_backend(cluster: &mut SimCluster, role: Role) {
    let from = cluster.node(role).port;
    let port = loop {
        let port = BE_PORT + thread_rng().gen_range(0..=9);
        if port != from {
            break port;
        }
    };
    cluster.move_backend(role, port);
    let addr = cluster.node(role).addr();
    let statement = format!("ALTER SYSTEM ADD BACKEND \"{addr}\"");
    let (client, fe_addr, recorder) = (cluster.client.clone(), cluster.fe_addr(), cluster.recorder.clone());
    let pause = Duration::from_millis(thread_rng().gen_range(200..=3_000));
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
        let _ = crate::client::sql_on(&client, fe_addr.clone(), recorder.clone(), statement).await;
        // It moved again while the statement ran (ADD BACKEND waits for an answer a while):
        // the operator sees a dead backend at an address nobody serves and drops it.
        if !still_there() {
            let drop = format!("ALTER SYSTEM DROP BACKEND \"{addr}\"");
            let _ = crate::client::sql_on(&client, fe_addr, recorder, drop).await;
        }
    });
}

fn apply_undo(cluster: &mut SimCluster, undo: Undo, clean_disks: &SimDiskFaults) {
    match undo {
        Undo::Restart(role) => cluster.restart(role),
        Undo::Heal(a, b) => cluster.heal_partition(a, b),
        Undo::NoLoss => cluster.set_packet_loss(0.0),
        Undo::CleanDisk(role) => cluster.set_disk_faults(role, *clean_disks),
    }
}
