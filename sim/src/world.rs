//! The world a seed draws: what it loads, how many sessions load at once, how wide its rows
//! are, how many tablets its big table has, and which faults it enables. Different seeds test
//! different worlds (swarm testing), so a campaign covers the real world's dimensions instead of
//! one small, uniform cluster.

use std::fmt;

use madsim::rand::{Rng, thread_rng};

use crate::faults::Aim;

/// The longest `pad` value the wide-row table is loaded with: a STRING's maximum, less room for
/// the rest of the row.
pub const MAX_WIDE_ROW_BYTES: usize = palo_node::schema::MAX_STRING_BYTES as usize - 64;

/// The fewest and most backends a world has (the spare among them): three for tables of three
/// replicas while the spare is out.
pub const MIN_BACKENDS: usize = 4;
pub const MAX_BACKENDS: usize = 6;
/// The most loader sessions at once.
pub const MAX_LOADERS: usize = 6;
/// Buckets per partition of the many-tablet table (2 to 4 partitions).
const MIN_MANY_BUCKETS: usize = 64;
const MAX_MANY_BUCKETS: usize = 1_024;

/// One seed's world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldProfile {
    /// Backends of the cluster, the last of them the spare the client adds and drops.
    pub backends: usize,
    /// Loader sessions writing into the load table at once (during the chaos and after it).
    pub loaders: usize,
    /// Widths (bytes of the `pad` column) of the wide-row loads once faults stop; empty: none.
    pub wide_rows_bytes: Vec<usize>,
    /// Partitions x buckets of the many-tablet table, loaded once faults stop; `None`: no such
    /// table in this world.
    pub many_tablets: Option<(usize, usize)>,
    /// The nemesis may restart a backend on another port.
    pub backend_moves: bool,
    /// Some restore cancels wait for the job to be creating its tablets (SNAPSHOTING).
    pub aimed_cancels: bool,
    /// How long every fsync takes on every disk (0: instant, as a RAM disk).
    pub sync_latency_us: u64,
    /// How long every other change (create, write, rename, ...) takes on every disk.
    pub write_latency_us: u64,
    /// Every backend's background pass interval (compaction, trash, stray directories).
    pub compaction_interval_ms: u64,
    /// A fault the nemesis aims at a job state (`None`: only random faults).
    pub aim: Option<Aim>,
}

impl WorldProfile {
    /// Draws a world from the seed's random stream.
    pub fn draw() -> WorldProfile {
        let mut rng = thread_rng();
        let backends = rng.gen_range(MIN_BACKENDS..=MAX_BACKENDS);
        let loaders = rng.gen_range(1..=MAX_LOADERS);
        // The costly dimensions are drawn in a minority of seeds (swarm testing: each seed tests
        // some things hard), so a campaign of CI's size still meets each hundreds of times.
        let wide_rows_bytes = if rng.gen_ratio(1, 4) {
            // Narrow to the maximum: one width near each end and one between.
            vec![
                rng.gen_range(1..=64),
                rng.gen_range(200..=2_000),
                rng.gen_range(MAX_WIDE_ROW_BYTES / 2..=MAX_WIDE_ROW_BYTES),
            ]
        } else {
            Vec::new()
        };
        let many_tablets = rng.gen_ratio(1, 8).then(|| {
            // Buckets spread evenly on a log scale, from a few hundred tablets to a few thousand.
            let buckets = (MIN_MANY_BUCKETS as f64 * 2f64.powf(rng.gen_range(0.0..4.0))) as usize;
            (rng.gen_range(2..=4), buckets.clamp(MIN_MANY_BUCKETS, MAX_MANY_BUCKETS))
        });
        WorldProfile {
            backends,
            loaders,
            wide_rows_bytes,
            many_tablets,
            backend_moves: rng.gen_bool(0.5),
            aimed_cancels: rng.gen_bool(0.5),
            // From a RAM disk to a slow SSD (about 650 flushes a second, one at a time).
            sync_latency_us: if rng.gen_bool(0.25) { 0 } else { rng.gen_range(50..=1_500) },
            write_latency_us: if rng.gen_bool(0.25) { 0 } else { rng.gen_range(5..=100) },
            compaction_interval_ms: if rng.gen_bool(0.5) { 10_000 } else { rng.gen_range(100..=2_000) },
            aim: {
                let all = Aim::all();
                rng.gen_ratio(3, 4).then(|| all[rng.gen_range(0..all.len())])
            },
        }
    }
}

/// Parts of the world fixed by `--world` instead of drawn (to aim a campaign at one dimension,
/// or to reproduce a failure with one dimension changed): `backends=N`, `loaders=N`, `wide=on|off`,
/// `many=off|PxB` (partitions x buckets), `moves=on|off`, `aimed=on|off`,
/// `aim=off|kind:STATE:fault`, `fsync_us=N`, `write_us=N`, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorldOverride {
    pub backends: Option<usize>,
    pub loaders: Option<usize>,
    pub wide: Option<bool>,
    pub many_tablets: Option<Option<(usize, usize)>>,
    pub backend_moves: Option<bool>,
    pub aimed_cancels: Option<bool>,
    pub sync_latency_us: Option<u64>,
    pub write_latency_us: Option<u64>,
    pub aim: Option<Option<Aim>>,
}

impl WorldOverride {
    pub fn parse(spec: &str) -> Result<WorldOverride, String> {
        let mut out = WorldOverride::default();
        let switch = |key: &str, value: &str| match value {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(format!("--world {key}= takes on or off, not {value:?}")),
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| format!("--world: {part:?} is not key=value"))?;
            match key {
                "backends" => {
                    let n = value.parse().ok().filter(|n| (MIN_BACKENDS..=MAX_BACKENDS).contains(n));
                    let range = format!("{MIN_BACKENDS} to {MAX_BACKENDS}");
                    out.backends = Some(n.ok_or_else(|| format!("--world backends= takes {range}, not {value:?}"))?);
                }
                "loaders" => {
                    let n: usize =
                        value.parse().map_err(|_| format!("--world loaders= takes 1 to 16, not {value:?}"))?;
                    if !(1..=16).contains(&n) {
                        return Err(format!("--world loaders= takes 1 to 16, not {n}"));
                    }
                    out.loaders = Some(n);
                }
                "wide" => out.wide = Some(switch(key, value)?),
                "many" if value == "off" => out.many_tablets = Some(None),
                "many" => {
                    let parsed = value
                        .split_once('x')
                        .and_then(|(p, b)| Some((p.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
                        .filter(|(p, b)| (1..=64).contains(p) && (1..=1_024).contains(b));
                    let Some(shape) = parsed else {
                        return Err(format!("--world many= takes off or PxB (1-64 x 1-1024), not {value:?}"));
                    };
                    out.many_tablets = Some(Some(shape));
                }
                "moves" => out.backend_moves = Some(switch(key, value)?),
                "aimed" => out.aimed_cancels = Some(switch(key, value)?),
                "aim" if value == "off" => out.aim = Some(None),
                "aim" => {
                    let aim = Aim::parse(value).ok_or_else(|| {
                        format!("--world aim= takes off or kind:STATE:fault (backup:UPLOADING:be-crash), not {value:?}")
                    })?;
                    out.aim = Some(Some(aim));
                }
                "fsync_us" | "write_us" => {
                    let us = value.parse().ok().filter(|us| *us <= 1_000_000);
                    let us = Some(us.ok_or_else(|| format!("--world {key}= takes 0 to 1000000, not {value:?}"))?);
                    if key == "fsync_us" {
                        out.sync_latency_us = us;
                    } else {
                        out.write_latency_us = us;
                    }
                }
                other => {
                    return Err(format!(
                        "--world: unknown key {other:?}; keys: backends, loaders, wide, many, moves, aimed, aim, fsync_us, write_us"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// `world` with the fixed parts replaced. A world forced to have wide rows draws their
    /// widths from the seed.
    pub fn apply(&self, mut world: WorldProfile) -> WorldProfile {
        if let Some(n) = self.backends {
            world.backends = n;
        }
        if let Some(n) = self.loaders {
            world.loaders = n;
        }
        match self.wide {
            Some(false) => world.wide_rows_bytes.clear(),
            Some(true) if world.wide_rows_bytes.is_empty() => {
                world.wide_rows_bytes = vec![48, 1_024, MAX_WIDE_ROW_BYTES];
            }
            _ => {}
        }
        if let Some(many) = self.many_tablets {
            world.many_tablets = many;
        }
        if let Some(on) = self.backend_moves {
            world.backend_moves = on;
        }
        if let Some(on) = self.aimed_cancels {
            world.aimed_cancels = on;
        }
        if let Some(us) = self.sync_latency_us {
            world.sync_latency_us = us;
        }
        if let Some(us) = self.write_latency_us {
            world.write_latency_us = us;
        }
        if let Some(aim) = self.aim {
            world.aim = aim;
        }
        world
    }
}

impl fmt::Display for WorldProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} backends, {} loader session(s)", self.backends, self.loaders)?;
        if !self.wide_rows_bytes.is_empty() {
            write!(f, ", wide rows of {:?} bytes", self.wide_rows_bytes)?;
        }
        if let Some((partitions, buckets)) = self.many_tablets {
            write!(f, ", a table of {partitions} x {buckets} tablets")?;
        }
        if self.backend_moves {
            write!(f, ", backends that come back on another port")?;
        }
        if self.aimed_cancels {
            write!(f, ", restore cancels aimed at SNAPSHOTING")?;
        }
        if let Some(aim) = self.aim {
            write!(f, ", {} aimed at {} {}", aim.fault.name(), aim.kind, aim.state)?;
        }
        write!(
            f,
            ", fsync {} us, write {} us, backend passes every {} ms",
            self.sync_latency_us, self.write_latency_us, self.compaction_interval_ms
        )
    }
}
