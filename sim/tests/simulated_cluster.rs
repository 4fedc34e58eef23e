//! The simulated cluster as a test (simulated world only): a few seeds pass with determinism
//! checked, and a deliberately injected bug is caught the same way on every run of its seed.
#![cfg(madsim)]

use std::time::Duration;

use palo_sim::runner;
use palo_sim::workload::{InjectedBug, RunOptions};

fn options(bugs: Vec<InjectedBug>) -> RunOptions {
    RunOptions {
        chaos: Duration::from_secs(20),
        bugs,
        verbose: false,
        world: Default::default(),
        plan: Default::default(),
    }
}

#[test]
fn seeds_pass_and_replay_identically() {
    let results = runner::run_seeds(&[1, 2, 3, 4], 2, 1, &options(Vec::new()));
    assert_eq!(results.len(), 4);
    for r in &results {
        assert!(r.failure.is_none(), "seed {} failed: {:?}\n{}", r.seed, r.failure, r.tail.join("\n"));
        assert!(r.lines.iter().any(|l| l.contains("nemesis:")), "seed {} injected no fault", r.seed);
        assert!(r.lines.iter().any(|l| l.contains("survived an FE restart")), "seed {} skipped a check", r.seed);
        // The trace shows what the FE's jobs did: their states, and their tasks' outcomes.
        let traced = |pattern: &[&str]| r.lines.iter().any(|l| pattern.iter().all(|p| l.contains(p)));
        assert!(traced(&["fe: backup job", "UPLOADING -> SAVE_META"]), "seed {}: no backup state traced", r.seed);
        assert!(traced(&["fe: backup job", "UPLOADING: ", "uploads done on"]), "seed {}: no uploads traced", r.seed);
        assert!(traced(&["fe: restore job", "DOWNLOADING: ", "downloads done on"]), "seed {}: no downloads", r.seed);
    }
}

#[test]
fn an_injected_lying_fsync_is_caught_and_reproduces_exactly() {
    let first = runner::run_seed(3, &options(vec![InjectedBug::LyingFsync]));
    let again = runner::run_seed(3, &options(vec![InjectedBug::LyingFsync]));
    let failure = first.failure.clone().expect("a disk that lies about fsync must break an invariant");
    assert_eq!(first.failure, again.failure, "the repro must fail the same way");
    assert_eq!(first.trace_hash, again.trace_hash, "the repro must replay the same trace");
    assert!(failure.contains("invariant violated"), "{failure}");
}

/// Restored partitions that enter the catalog at the wrong version are caught on every seed, by
/// the restore checks (rows or versions of a restored table differ from its backup's).
#[test]
fn an_injected_restore_bug_is_caught_on_every_seed() {
    for r in runner::run_seeds(
        &[1, 2, 3],
        2,
        0,
        &options(vec![InjectedBug::Node(palo_buggify::Bug::RestoreForgetsVersions)]),
    ) {
        let failure = r.failure.unwrap_or_else(|| panic!("seed {}: the restore bug went unnoticed", r.seed));
        assert!(failure.contains("invariant violated") && failure.contains("rdb."), "seed {}: {failure}", r.seed);
    }
}

/// Seeds each deliberate bug runs in the regression suite below.
const BUG_SEEDS: std::ops::RangeInclusive<u64> = 1..=30;

/// Every deliberate bug of the catalog (the disk's and the node code's) is caught by some of a
/// few dozen seeds of the default world, each by a named check or an assertion: the default
/// campaign (CI runs thousands of seeds) meets each many times. The share each catches is printed
/// (`cargo xtask simulate --fault NAME` measures it on more seeds).
#[test]
fn every_injected_bug_is_caught_by_the_default_campaign() {
    let seeds: Vec<u64> = BUG_SEEDS.collect();
    let mut missed = Vec::new();
    for bug in InjectedBug::all() {
        let default = RunOptions { chaos: Duration::from_secs(30), ..options(vec![bug]) };
        let results = runner::run_seeds(&seeds, 2, 0, &default);
        let caught: Vec<String> = results.iter().filter_map(|r| r.failure.as_deref()).map(runner::caught_by).collect();
        let mut by_check = std::collections::BTreeMap::new();
        for check in &caught {
            *by_check.entry(check.as_str()).or_insert(0) += 1;
        }
        println!("{}: caught by {} of {} seeds {by_check:?}", bug.name(), caught.len(), seeds.len());
        if caught.is_empty() {
            missed.push(bug.name());
        }
        assert!(caught.iter().all(|c| c != "nondeterminism" && c != "other"), "{}: {caught:?}", bug.name());
    }
    assert!(missed.is_empty(), "bugs no seed caught: {missed:?}");
}

/// A run replays exactly from its own schedule (the world pinned, the nemesis striking what it
/// recorded): the trace is the same line for line, so a shrink's candidates differ from the
/// original only by the faults they leave out.
#[test]
fn a_run_replays_exactly_from_its_own_schedule() {
    for seed in [3, 5] {
        let random = runner::run_seed(seed, &options(Vec::new()));
        assert!(random.failure.is_none(), "seed {seed}: {:?}", random.failure);
        assert!(!random.schedule.is_empty(), "seed {seed} struck no fault");
        let schedule = palo_sim::shrink::Schedule {
            seed,
            bugs: Vec::new(),
            chaos_secs: 20,
            world: random.world.clone(),
            expect: None,
            faults: random.schedule.clone(),
        };
        let replayed = runner::run_seed(seed, &schedule.options(false).expect("the schedule's options"));
        assert_eq!(replayed.failure, None);
        assert_eq!(replayed.schedule, random.schedule, "seed {seed}: the replay struck other faults");
        assert_eq!(replayed.trace_hash, random.trace_hash, "seed {seed}: the replay's trace differs");
    }
}

/// A deliberate bug's failing seed shrinks to a handful of faults, and the schedule it writes
/// replays the same failure (the line `simulate --shrink` prints is `--schedule FILE`).
#[test]
fn a_failing_seed_shrinks_to_a_few_faults_that_replay_the_failure() {
    let bug = InjectedBug::Node(palo_buggify::Bug::LoadAcksFailedWrites);
    let default = RunOptions { chaos: Duration::from_secs(30), ..options(vec![bug]) };
    let seed = (1..=10)
        .find(|s| runner::run_seed(*s, &default).failure.is_some())
        .expect("the bug is caught by one of the first ten seeds");
    let shrunk = palo_sim::shrink::shrink(seed, &default, 2).expect("a failing seed shrinks");
    assert!(shrunk.smallest.faults.len() <= 10, "{}", shrunk.smallest.to_text());
    assert!(shrunk.smallest.faults.len() <= shrunk.original.faults.len());
    let text = shrunk.smallest.to_text();
    let replayed = palo_sim::shrink::Schedule::parse(&text).expect("the schedule file reads back");
    let result = runner::run_seed(replayed.seed, &replayed.options(false).expect("options"));
    let caught = result.failure.as_deref().map(runner::caught_by);
    assert_eq!(caught, shrunk.smallest.expect, "the schedule replays the failure:\n{text}");
}

/// Every schedule in `sim/schedules/` once failed a check (its header says which and why) and
/// replays to the outcome it states now (a pass, when it has no `expect` line).
#[test]
fn regression_schedules_replay_to_their_stated_outcome() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("sim/schedules").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no schedule in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a schedule file");
        let schedule = palo_sim::shrink::Schedule::parse(&text).expect("the schedule parses");
        let result = runner::run_seed(schedule.seed, &schedule.options(false).expect("options"));
        let caught = result.failure.as_deref().map(runner::caught_by);
        assert_eq!(caught, schedule.expect, "{}: {:?}\n{}", path.display(), result.failure, result.tail.join("\n"));
    }
}
