//! Shrinking a failing seed (delta debugging). A failing run's faults are recorded; `simulate
//! --shrink SEED` runs the seed again with parts of its world turned off and faults removed,
//! keeping each removal under which the run still fails the same check, until no single fault
//! can go. What is left is written as a schedule file that `simulate --schedule FILE` replays
//! exactly: the seed, the deliberate bugs, the world (every dimension pinned) and the faults.
//!
//! A run with its own schedule replays identically (the nemesis draws from streams of its own and
//! wakes at the same moments whatever it strikes), so a smaller schedule differs from the
//! original only by what the removed faults did.

use std::time::{Duration, Instant};

use crate::faults::ScheduledFault;
use crate::nemesis::Plan;
use crate::runner::{self, SeedResult};
use crate::workload::{InjectedBug, RunOptions};
use crate::world::WorldOverride;

/// A run pinned down: what a schedule file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub seed: u64,
    pub bugs: Vec<InjectedBug>,
    pub chaos_secs: u64,
    /// The world as a `--world` spec that pins every dimension.
    pub world: String,
    /// The check the run fails (`runner::caught_by`), if it fails.
    pub expect: Option<String>,
    pub faults: Vec<ScheduledFault>,
}

impl Schedule {
    /// The options that replay it.
    pub fn options(&self, verbose: bool) -> Result<RunOptions, String> {
        Ok(RunOptions {
            chaos: Duration::from_secs(self.chaos_secs),
            bugs: self.bugs.clone(),
            verbose,
            world: WorldOverride::parse(&self.world)?,
            plan: Plan::Scripted(self.faults.clone()),
        })
    }

    pub fn to_text(&self) -> String {
        let mut out = String::from("# A Palo simulator schedule: `cargo xtask simulate --schedule FILE` replays it.\n");
        out.push_str(&format!("seed {}\n", self.seed));
        out.push_str(&format!("chaos_secs {}\n", self.chaos_secs));
        for bug in &self.bugs {
            out.push_str(&format!("fault {}\n", bug.name()));
        }
        out.push_str(&format!("world {}\n", self.world));
        if let Some(expect) = &self.expect {
            out.push_str(&format!("expect {expect}\n"));
        }
        out.push_str("# faults: at <ms of simulated time> <what> (milliseconds throughout)\n");
        for fault in &self.faults {
            out.push_str(&format!("{fault}\n"));
        }
        out
    }

    pub fn parse(text: &str) -> Result<Schedule, String> {
        let mut schedule = Schedule {
            seed: 0,
            bugs: Vec::new(),
            chaos_secs: 30,
            world: String::new(),
            expect: None,
            faults: Vec::new(),
        };
        let mut seed = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", n + 1);
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "seed" => seed = Some(value.parse::<u64>().map_err(|_| at(format!("bad seed {value:?}")))?),
                "chaos_secs" => {
                    let secs = value.parse::<u64>().ok().filter(|s| (1..=3_000).contains(s));
                    schedule.chaos_secs =
                        secs.ok_or_else(|| at(format!("chaos_secs takes 1 to 3000, not {value:?}")))?;
                }
                "fault" => {
                    schedule.bugs.push(InjectedBug::parse(value).ok_or_else(|| at(format!("unknown fault {value:?}")))?)
                }
                "world" => {
                    WorldOverride::parse(value).map_err(at)?;
                    schedule.world = value.to_string();
                }
                "expect" => schedule.expect = Some(value.to_string()),
                "at" => schedule.faults.push(ScheduledFault::parse(line).map_err(at)?),
                other => return Err(at(format!("unknown line {other:?}"))),
            }
        }
        schedule.seed = seed.ok_or("a schedule names its seed (`seed N`)")?;
        if schedule.faults.windows(2).any(|w| w[0].at_ms > w[1].at_ms) {
            return Err("the faults of a schedule are in time order".into());
        }
        Ok(schedule)
    }
}

/// What a shrink found.
#[derive(Debug)]
pub struct Shrunk {
    pub original: Schedule,
    pub smallest: Schedule,
    pub runs: usize,
    pub wall: Duration,
}

/// A run of `schedule` fails the check it expects.
fn still_fails(schedule: &Schedule, result: &SeedResult) -> bool {
    result.failure.as_deref().map(runner::caught_by) == schedule.expect
}

/// Runs the candidates at once (`jobs` at a time) and returns the first (in order) that still
/// fails, with its own recorded schedule.
fn first_failing(candidates: &[Schedule], jobs: usize, runs: &mut usize) -> Option<Schedule> {
    for batch in candidates.chunks(jobs.max(1)) {
        let results: Vec<(Schedule, SeedResult)> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|c| scope.spawn(move || (c.clone(), c.options(false).map(|o| runner::run_seed(c.seed, &o)))))
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).filter_map(|(c, r)| r.ok().map(|r| (c, r))).collect()
        });
        *runs += batch.len();
        if let Some((candidate, _)) = results.into_iter().find(|(c, r)| still_fails(c, r)) {
            return Some(candidate);
        }
    }
    None
}

/// World dimensions a shrink tries to turn off, most costly first.
const WORLD_CUTS: [&str; 8] =
    ["many=off", "wide=off", "second=off", "aim=off", "moves=off", "aimed=off", "loaders=1", "fsync_us=0"];

/// Shrinks `seed` (which must fail under `options`): first the world, then the faults (ddmin),
/// `jobs` runs at a time. `Err` when the seed passes or its schedule does not replay the failure.
pub fn shrink(seed: u64, options: &RunOptions, jobs: usize) -> Result<Shrunk, String> {
    let started = Instant::now();
    let first = runner::run_seed(seed, options);
    let Some(failure) = first.failure.as_deref() else {
        return Err(format!("seed {seed} passes: nothing to shrink"));
    };
    let original = Schedule {
        seed,
        bugs: options.bugs.clone(),
        chaos_secs: options.chaos.as_secs(),
        world: first.world.clone(),
        expect: Some(runner::caught_by(failure)),
        faults: first.schedule.clone(),
    };
    let mut runs = 1;
    if first_failing(std::slice::from_ref(&original), 1, &mut runs).is_none() {
        return Err(format!("seed {seed}'s own schedule does not fail the same way when replayed"));
    }
    let mut smallest = original.clone();
    // The world: every dimension off at once, else each, kept off if the failure stays.
    let all = Schedule { world: format!("{},{}", smallest.world, WORLD_CUTS.join(",")), ..smallest.clone() };
    let cuts: &[&str] = match first_failing(&[all], 1, &mut runs) {
        Some(kept) => {
            smallest = kept;
            &[]
        }
        None => &WORLD_CUTS,
    };
    for cut in cuts {
        let candidate = Schedule { world: format!("{},{cut}", smallest.world), ..smallest.clone() };
        if let Some(kept) = first_failing(&[candidate], 1, &mut runs) {
            smallest = kept;
        }
    }
    smallest.world = pinned(&smallest.world)?;
    // The faults: ddmin over the list.
    let mut granularity = 2;
    while smallest.faults.len() >= 2 {
        let n = smallest.faults.len();
        let chunk = n.div_ceil(granularity);
        let without: Vec<Schedule> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let mut faults = smallest.faults.clone();
                faults.drain(start..(start + chunk).min(n));
                Schedule { faults, ..smallest.clone() }
            })
            .collect();
        match first_failing(&without, jobs, &mut runs) {
            Some(kept) => {
                smallest = kept;
                granularity = (granularity - 1).max(2);
            }
            None if granularity >= n => break,
            None => granularity = (granularity * 2).min(n),
        }
    }
    if smallest.faults.len() == 1 {
        let none = Schedule { faults: Vec::new(), ..smallest.clone() };
        if let Some(kept) = first_failing(&[none], 1, &mut runs) {
            smallest = kept;
        }
    }
    Ok(Shrunk { original, smallest, runs, wall: started.elapsed() })
}

/// A world spec with later keys winning, written once per key (what `WorldOverride` applies).
fn pinned(spec: &str) -> Result<String, String> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("bad world part {part:?}"))?;
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = value.to_string(),
            None => keys.push((key.to_string(), value.to_string())),
        }
    }
    Ok(keys.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_file_reads_back() {
        let schedule = Schedule {
            seed: 17,
            bugs: vec![InjectedBug::LyingFsync],
            chaos_secs: 20,
            world: "backends=4,loaders=2".into(),
            expect: Some("loads".into()),
            faults: vec![
                ScheduledFault::parse("at 1200 kill be1 for 700").expect("a fault line"),
                ScheduledFault::parse("at 5000 cut-link broker for 2000").expect("a fault line"),
            ],
        };
        assert_eq!(Schedule::parse(&schedule.to_text()), Ok(schedule));
        assert!(Schedule::parse("chaos_secs 30\n").unwrap_err().contains("seed"));
        assert!(Schedule::parse("seed 1\nat 9 kill be1 for 1\nat 3 kill be1 for 1\n").is_err());
        assert_eq!(pinned("a=1,b=2,a=3").as_deref(), Ok("a=3,b=2"));
    }
}
