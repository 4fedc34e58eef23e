//! The nemesis: faults chosen by the seed. Each step it may kill a node (power loss; a long
//! outage now and then so heartbeats declare it dead), cut a link, drop packets, or make a disk
//! fail or stall; every fault is undone after a seed-chosen time. Everything it does goes to the
//! trace.

use std::time::Duration;

use madsim::rand::{Rng, thread_rng};

use crate::cluster::{Role, SimCluster};
use crate::sim_disk::SimDiskFaults;

/// Faults undone later: (when, what).
enum Undo {
    Restart(Role),
    Heal(Role, Role),
    NoLoss,
    CleanDisk(Role),
}

/// Limits of the nemesis, so every run ends and every fault is bounded.
pub const MAX_PENDING_FAULTS: usize = 8;
const STEP_MIN_MS: u64 = 200;
const STEP_MAX_MS: u64 = 2_000;

/// Injects faults into `cluster` for `duration` of simulated time, then returns with every
/// fault still pending undone.
pub async fn run(cluster: &mut SimCluster, duration: Duration, clean_disks: &SimDiskFaults) {
    let end = cluster.now() + duration;
    let mut pending: Vec<(Duration, Undo)> = Vec::new();
    let roles: Vec<Role> = cluster.nodes.iter().map(|n| n.role).collect();
    while cluster.now() < end {
        let step = Duration::from_millis(thread_rng().gen_range(STEP_MIN_MS..=STEP_MAX_MS));
        tokio::time::sleep(step).await;

        // Undo what is due, in the order it was scheduled.
        let now = cluster.now();
        let (due, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(at, _)| *at <= now);
        pending = later;
        for (_, undo) in due {
            apply_undo(cluster, undo, clean_disks);
        }

        if pending.len() >= MAX_PENDING_FAULTS {
            continue;
        }
        let roll = thread_rng().gen_range(0..100u32);
        let victim = roles[thread_rng().gen_range(0..roles.len())];
        match roll {
            0..=24 if cluster.node(victim).up => {
                cluster.kill(victim);
                // One outage in ten outlasts the heartbeat failure threshold.
                let outage_ms = if thread_rng().gen_bool(0.1) {
                    thread_rng().gen_range(5_000..=12_000)
                } else {
                    thread_rng().gen_range(300..=4_000)
                };
                pending.push((cluster.now() + Duration::from_millis(outage_ms), Undo::Restart(victim)));
            }
            25..=44 if victim != Role::Fe => {
                cluster.partition(Role::Fe, victim);
                let ms = thread_rng().gen_range(1_000..=6_000);
                pending.push((cluster.now() + Duration::from_millis(ms), Undo::Heal(Role::Fe, victim)));
            }
            45..=54 => {
                let rate = thread_rng().gen_range(5..=25) as f64 / 100.0;
                cluster.set_packet_loss(rate);
                let ms = thread_rng().gen_range(1_000..=4_000);
                pending.push((cluster.now() + Duration::from_millis(ms), Undo::NoLoss));
            }
            55..=69 => {
                let faults = SimDiskFaults {
                    eio_per_million: thread_rng().gen_range(0..=50_000),
                    slow_per_million: thread_rng().gen_range(0..=200_000),
                    slow_ms: thread_rng().gen_range(50..=1_500),
                    ..*clean_disks
                };
                cluster.set_disk_faults(victim, faults);
                let ms = thread_rng().gen_range(1_000..=5_000);
                pending.push((cluster.now() + Duration::from_millis(ms), Undo::CleanDisk(victim)));
            }
            _ => {}
        }
    }
    for (_, undo) in pending {
        apply_undo(cluster, undo, clean_disks);
    }
}

fn apply_undo(cluster: &mut SimCluster, undo: Undo, clean_disks: &SimDiskFaults) {
    match undo {
        Undo::Restart(role) => cluster.restart(role),
        Undo::Heal(a, b) => cluster.heal_partition(a, b),
        Undo::NoLoss => cluster.set_packet_loss(0.0),
        Undo::CleanDisk(role) => cluster.set_disk_faults(role, *clean_disks),
    }
}
