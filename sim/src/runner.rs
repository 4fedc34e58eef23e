//! Runs many seeds: each on a fresh OS thread (so per-thread hash keys and tokio's select RNG
//! start fresh), `jobs` at a time, and reports failures with the line that reproduces them.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::faults::ScheduledFault;
use crate::trace::{Recorder, Trace};
use crate::workload::{self, RunOptions};

/// A run that goes past this much simulated time is a hang, and fails.
pub const SIMULATED_TIME_LIMIT: Duration = Duration::from_secs(3_600);
/// Trace lines shown with a failure.
pub const FAILURE_TAIL_LINES: usize = 40;

#[derive(Debug, Clone)]
pub struct SeedResult {
    pub seed: u64,
    pub failure: Option<String>,
    pub trace_hash: u64,
    pub simulated: Duration,
    /// Wall-clock time the run took (the runner is outside the simulation).
    pub wall: Duration,
    pub tail: Vec<String>,
    pub lines: Vec<String>,
    /// (job kind, state, fault kind) struck in this seed, with counts (`crate::coverage`).
    pub coverage: Vec<((&'static str, &'static str, &'static str), u64)>,
    /// The faults the nemesis struck, in order: the run's schedule.
    pub schedule: Vec<ScheduledFault>,
    /// The world it drew, as a `--world` spec that pins all of it.
    pub world: String,
    /// Items each invariant checked (`Invariant::checked`).
    pub checked: Vec<(&'static str, u64)>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs one seed on a fresh thread and waits for it.
pub fn run_seed(seed: u64, options: &RunOptions) -> SeedResult {
    let options = options.clone();
    let started = Instant::now();
    let thread = std::thread::Builder::new().name(format!("seed-{seed}")).spawn(move || {
        let trace = Trace::new(options.verbose);
        let run_trace = trace.clone();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.set_time_limit(SIMULATED_TIME_LIMIT);
            runtime.block_on(async move {
                let recorder = Recorder::start(run_trace);
                let result = workload::run(options, recorder.clone()).await;
                (result, recorder.now())
            })
        }));
        let coverage = palo_buggify::take_coverage();
        let schedule = crate::nemesis::take_schedule();
        let world = crate::workload::take_world_spec();
        let checked = crate::invariants::take_checked();
        let (failure, simulated) = match outcome {
            Ok((Ok(()), simulated)) => (None, simulated),
            Ok((Err(broken), simulated)) => (Some(format!("invariant violated: {broken}")), simulated),
            Err(payload) => (Some(format!("panic: {}", panic_message(payload.as_ref()))), Duration::ZERO),
        };
        SeedResult {
            seed,
            failure,
            trace_hash: trace.hash(),
            simulated,
            wall: started.elapsed(),
            tail: trace.tail(FAILURE_TAIL_LINES),
            lines: trace.lines(),
            coverage,
            schedule,
            world,
            checked,
        }
    });
    match thread.map(|t| t.join()) {
        Ok(Ok(result)) => result,
        Ok(Err(payload)) => SeedResult {
            seed,
            failure: Some(format!("seed thread panicked: {}", panic_message(payload.as_ref()))),
            trace_hash: 0,
            simulated: Duration::ZERO,
            wall: started.elapsed(),
            tail: Vec::new(),
            lines: Vec::new(),
            coverage: Vec::new(),
            schedule: Vec::new(),
            world: String::new(),
            checked: Vec::new(),
        },
        Err(e) => SeedResult {
            seed,
            failure: Some(format!("cannot start a thread for the seed: {e}")),
            trace_hash: 0,
            simulated: Duration::ZERO,
            wall: started.elapsed(),
            tail: Vec::new(),
            lines: Vec::new(),
            coverage: Vec::new(),
            schedule: Vec::new(),
            world: String::new(),
            checked: Vec::new(),
        },
    }
}

/// The check a failure message names: an invariant's name (`invariant loads broke: ...`), else
/// `panic` (an assertion in node or simulator code), `nondeterminism` or `other`.
pub fn caught_by(failure: &str) -> String {
    if let Some(rest) = failure.split("invariant ").nth(2).or_else(|| failure.split("invariant ").nth(1))
        && let Some((name, _)) = rest.split_once(" broke")
        && !name.contains(' ')
    {
        return name.to_string();
    }
    if failure.starts_with("panic") || failure.starts_with("seed thread panicked") {
        "panic".to_string()
    } else if failure.starts_with("nondeterminism") {
        "nondeterminism".to_string()
    } else {
        "other".to_string()
    }
}

/// Runs one seed twice and compares the traces.
pub fn run_seed_checked(seed: u64, options: &RunOptions) -> SeedResult {
    let first = run_seed(seed, options);
    let second = run_seed(seed, options);
    if first.failure.is_some() || first.trace_hash == second.trace_hash {
        return first;
    }
    let at = first.lines.iter().zip(&second.lines).position(|(a, b)| a != b).unwrap_or(0);
    let show = |lines: &[String]| lines.get(at).cloned().unwrap_or_else(|| "<end of trace>".into());
    SeedResult {
        failure: Some(format!(
            "nondeterminism: two runs of seed {seed} differ at trace line {}:\n    first:  {}\n    second: {}",
            at + 1,
            show(&first.lines),
            show(&second.lines)
        )),
        ..first
    }
}

/// The longest campaign whose results keep every seed's trace.
pub const MAX_SEEDS_WITH_TRACES: usize = 1_000;
/// How often a long campaign says how far it is (on stderr).
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// A campaign's progress line, printed now and then.
struct Progress {
    started: Instant,
    last: Instant,
    total: usize,
    done: usize,
    failed: usize,
}

impl Progress {
    fn tick(&mut self, failed: bool) {
        self.done += 1;
        self.failed += usize::from(failed);
        let (done, failed) = (self.done, self.failed);
        if self.last.elapsed() < PROGRESS_EVERY || done == self.total {
            return;
        }
        self.last = Instant::now();
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let left_s = (self.total - done) as f64 / rate.max(1e-9);
        eprintln!(
            "simulate: {done}/{} seeds, {failed} failed, {rate:.1} seeds/s, about {:.0} min left",
            self.total,
            left_s / 60.0
        );
    }
}

/// Runs `seeds`, `jobs` at a time; every `twice_every`-th of them (by position: 1 is every seed,
/// 0 none) runs twice, and fails if the two traces differ. Results come back in seed order.
pub fn run_seeds(seeds: &[u64], jobs: usize, twice_every: usize, options: &RunOptions) -> Vec<SeedResult> {
    assert!(jobs >= 1, "at least one job");
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(seeds.len())));
    let now = Instant::now();
    let progress = Arc::new(Mutex::new(Progress { started: now, last: now, total: seeds.len(), done: 0, failed: 0 }));
    let seeds: Arc<Vec<u64>> = Arc::new(seeds.to_vec());
    let workers: Vec<_> = (0..jobs.min(seeds.len().max(1)))
        .map(|_| {
            let (next, results, seeds, options) = (next.clone(), results.clone(), seeds.clone(), options.clone());
            let progress = progress.clone();
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let twice = twice_every > 0 && i % twice_every == 0;
                    let result = if twice { run_seed_checked(seed, &options) } else { run_seed(seed, &options) };
                    if let Ok(mut p) = progress.lock() {
                        p.tick(result.failure.is_some());
                    }
                    // A long campaign keeps only the traces of the seeds that failed (and the first
                    // line, the world, of the others): thousands of traces would be gigabytes.
                    let mut result = result;
                    if result.failure.is_none() && seeds.len() > MAX_SEEDS_WITH_TRACES {
                        result.lines.truncate(1);
                        result.lines.shrink_to_fit();
                        result.tail = Vec::new();
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push(result);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let mut results = match Arc::try_unwrap(results) {
        Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
        Err(shared) => shared.lock().map(|r| r.clone()).unwrap_or_default(),
    };
    results.sort_by_key(|r| r.seed);
    results
}

/// Wall-clock stopwatch for the summary (the runner is outside the simulation).
pub fn stopwatch() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    use super::caught_by;

    #[test]
    fn a_failure_names_the_check_that_caught_it() {
        assert_eq!(caught_by("invariant violated: invariant loads broke: row 7 twice"), "loads");
        assert_eq!(caught_by("invariant violated: invariant no-snapshots-left broke: x"), "no-snapshots-left");
        assert_eq!(caught_by("panic: assertion failed"), "panic");
        assert_eq!(caught_by("nondeterminism: two runs differ"), "nondeterminism");
        assert_eq!(caught_by("something else"), "other");
    }
}
