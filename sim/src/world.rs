//! The world a seed draws: what it loads, how many sessions load at once, how wide its rows
//! are, how many tablets its big table has, and which faults it enables. Different seeds test
//! different worlds (swarm testing), so a campaign covers the real world's dimensions instead of
//! one small, uniform cluster.

use std::fmt;

use madsim::rand::{Rng, thread_rng};

use crate::faults::{Aim, FaultKind};

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
    /// A second cluster shares the repository and races the first for its backup labels.
    pub second_cluster: bool,
    /// Kinds of random fault this world never strikes (swarm testing: with some kinds off, the
    /// others' rare interleavings get room).
    pub faults_off: Vec<FaultKind>,
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
            faults_off: FaultKind::ALL.into_iter().filter(|_| rng.gen_ratio(1, 4)).collect(),
            second_cluster: rng.gen_ratio(1, 3),
        }
    }
}

/// Parts of the world fixed by `--world` instead of drawn (to aim a campaign at one dimension,
/// or to reproduce a failure with one dimension changed), comma-separated: `backends=N`,
/// `loaders=N`, `wide=on|off|W1/W2/..` (widths in bytes), `many=off|PxB` (partitions x buckets),
/// `moves=on|off`, `aimed=on|off`, `aim=off|kind:STATE:fault`, `fsync_us=N`, `write_us=N`,
/// `passes_ms=N`. [`WorldProfile::spec`] writes a whole world this way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorldOverride {
    pub backends: Option<usize>,
    pub loaders: Option<usize>,
    pub wide: Option<Wide>,
    pub many_tablets: Option<Option<(usize, usize)>>,
    pub backend_moves: Option<bool>,
    pub aimed_cancels: Option<bool>,
    pub sync_latency_us: Option<u64>,
    pub write_latency_us: Option<u64>,
    pub compaction_interval_ms: Option<u64>,
    pub aim: Option<Option<Aim>>,
    pub faults_off: Option<Vec<FaultKind>>,
    pub second_cluster: Option<bool>,
}

/// `--world wide=`: none, some (widths drawn), or these widths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wide {
    Off,
    On,
    Widths(Vec<usize>),
}

/// The keys `--world` takes.
const KEYS: &str = "backends, loaders, wide, many, moves, aimed, aim, fsync_us, write_us, passes_ms, off, second";

fn switch(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("--world {key}= takes on or off, not {value:?}")),
    }
}

fn number_in<T: std::str::FromStr + PartialOrd + fmt::Display>(
    key: &str,
    value: &str,
    min: T,
    max: T,
) -> Result<T, String> {
    let n = value.parse::<T>().ok().filter(|n| *n >= min && *n <= max);
    n.ok_or_else(|| format!("--world {key}= takes {min} to {max}, not {value:?}"))
}

fn parse_wide(value: &str) -> Result<Wide, String> {
    match value {
        "on" => Ok(Wide::On),
        "off" => Ok(Wide::Off),
        _ => {
            let widths: Option<Vec<usize>> = value
                .split('/')
                .map(|w| w.parse::<usize>().ok().filter(|w| (1..=MAX_WIDE_ROW_BYTES).contains(w)))
                .collect();
            let widths = widths.ok_or_else(|| {
                format!("--world wide= takes on, off or widths W1/W2/.. (1 to {MAX_WIDE_ROW_BYTES}), not {value:?}")
            })?;
            Ok(Wide::Widths(widths))
        }
    }
}

fn parse_off(value: &str) -> Result<Vec<FaultKind>, String> {
    if value == "none" {
        return Ok(Vec::new());
    }
    let mut kinds: Vec<FaultKind> = value
        .split('+')
        .map(|name| {
            FaultKind::parse(name).ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!("--world off= takes none or kinds joined by + ({}), not {name:?}", names.join(", "))
            })
        })
        .collect::<Result<_, _>>()?;
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

fn parse_many(value: &str) -> Result<Option<(usize, usize)>, String> {
    if value == "off" {
        return Ok(None);
    }
    let parsed = value
        .split_once('x')
        .and_then(|(p, b)| Some((p.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .filter(|(p, b)| (1..=64).contains(p) && (1..=1_024).contains(b));
    parsed.map(Some).ok_or_else(|| format!("--world many= takes off or PxB (1-64 x 1-1024), not {value:?}"))
}

impl WorldOverride {
    pub fn parse(spec: &str) -> Result<WorldOverride, String> {
        let mut out = WorldOverride::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| format!("--world: {part:?} is not key=value"))?;
            match key {
                "backends" => out.backends = Some(number_in(key, value, MIN_BACKENDS, MAX_BACKENDS)?),
                "loaders" => out.loaders = Some(number_in(key, value, 1, 16)?),
                "wide" => out.wide = Some(parse_wide(value)?),
                "many" => out.many_tablets = Some(parse_many(value)?),
                "moves" => out.backend_moves = Some(switch(key, value)?),
                "aimed" => out.aimed_cancels = Some(switch(key, value)?),
                "aim" if value == "off" => out.aim = Some(None),
                "aim" => {
                    let aim = Aim::parse(value).ok_or_else(|| {
                        format!("--world aim= takes off or kind:STATE:fault (backup:UPLOADING:be-crash), not {value:?}")
                    })?;
                    out.aim = Some(Some(aim));
                }
                "fsync_us" => out.sync_latency_us = Some(number_in(key, value, 0, 1_000_000)?),
                "write_us" => out.write_latency_us = Some(number_in(key, value, 0, 1_000_000)?),
                "passes_ms" => out.compaction_interval_ms = Some(number_in(key, value, 10, 600_000)?),
                "off" => out.faults_off = Some(parse_off(value)?),
                "second" => out.second_cluster = Some(switch(key, value)?),
                other => return Err(format!("--world: unknown key {other:?}; keys: {KEYS}")),
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
        match &self.wide {
            Some(Wide::Off) => world.wide_rows_bytes.clear(),
            Some(Wide::On) if world.wide_rows_bytes.is_empty() => {
                world.wide_rows_bytes = vec![48, 1_024, MAX_WIDE_ROW_BYTES];
            }
            Some(Wide::Widths(widths)) => world.wide_rows_bytes.clone_from(widths),
            Some(Wide::On) | None => {}
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
        if let Some(ms) = self.compaction_interval_ms {
            world.compaction_interval_ms = ms;
        }
        if let Some(aim) = self.aim {
            world.aim = aim;
        }
        if let Some(off) = &self.faults_off {
            world.faults_off.clone_from(off);
        }
        if let Some(on) = self.second_cluster {
            world.second_cluster = on;
        }
        world
    }
}

impl WorldProfile {
    /// The whole world as a `--world` spec: parsed and applied to any world, it gives this one.
    pub fn spec(&self) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        let wide = if self.wide_rows_bytes.is_empty() {
            "off".to_string()
        } else {
            self.wide_rows_bytes.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("/")
        };
        let many = self.many_tablets.map_or("off".to_string(), |(p, b)| format!("{p}x{b}"));
        let aim = self.aim.map_or("off".to_string(), |a| a.to_string());
        let off = if self.faults_off.is_empty() {
            "none".to_string()
        } else {
            self.faults_off.iter().map(|k| k.name()).collect::<Vec<_>>().join("+")
        };
        format!(
            "backends={},loaders={},wide={wide},many={many},moves={},aimed={},aim={aim},fsync_us={},write_us={},\
             passes_ms={},off={off},second={}",
            self.backends,
            self.loaders,
            on(self.backend_moves),
            on(self.aimed_cancels),
            self.sync_latency_us,
            self.write_latency_us,
            self.compaction_interval_ms,
            on(self.second_cluster)
        )
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
        if !self.faults_off.is_empty() {
            let names: Vec<&str> = self.faults_off.iter().map(|k| k.name()).collect();
            write!(f, ", no {}", names.join("/"))?;
        }
        if self.second_cluster {
            write!(f, ", a second cluster racing for labels")?;
        }
        write!(
            f,
            ", fsync {} us, write {} us, backend passes every {} ms",
            self.sync_latency_us, self.write_latency_us, self.compaction_interval_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_pins_every_part_of_a_world() {
        let world = WorldProfile {
            backends: 5,
            loaders: 3,
            wide_rows_bytes: vec![48, 1_061, 977_079],
            many_tablets: Some((3, 686)),
            backend_moves: true,
            aimed_cancels: false,
            sync_latency_us: 548,
            write_latency_us: 0,
            compaction_interval_ms: 762,
            aim: Aim::parse("backup:UPLOADING:be-crash"),
            faults_off: vec![FaultKind::Kill, FaultKind::DiskFull],
            second_cluster: true,
        };
        let other = WorldProfile {
            backends: 4,
            loaders: 1,
            wide_rows_bytes: Vec::new(),
            many_tablets: None,
            backend_moves: false,
            aimed_cancels: true,
            sync_latency_us: 0,
            write_latency_us: 9,
            compaction_interval_ms: 10_000,
            aim: None,
            faults_off: Vec::new(),
            second_cluster: false,
        };
        let spec = world.spec();
        assert_eq!(WorldOverride::parse(&spec).expect("a spec parses").apply(other.clone()), world, "{spec}");
        assert_eq!(WorldOverride::parse(&other.spec()).expect("a spec parses").apply(world), other);
        assert!(WorldOverride::parse("wide=0").is_err());
        assert!(WorldOverride::parse("passes_ms=5").is_err());
    }
}
