//! Runs many seeds: each on a fresh OS thread (so per-thread hash keys and tokio's select RNG
//! start fresh), `jobs` at a time, and reports failures with the line that reproduces them.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Runs `seeds`, `jobs` at a time. Results come back in seed order.
pub fn run_seeds(seeds: &[u64], jobs: usize, check_determinism: bool, options: &RunOptions) -> Vec<SeedResult> {
    assert!(jobs >= 1, "at least one job");
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(seeds.len())));
    let seeds: Arc<Vec<u64>> = Arc::new(seeds.to_vec());
    let workers: Vec<_> = (0..jobs.min(seeds.len().max(1)))
        .map(|_| {
            let (next, results, seeds, options) = (next.clone(), results.clone(), seeds.clone(), options.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let result =
                        if check_determinism { run_seed_checked(seed, &options) } else { run_seed(seed, &options) };
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
