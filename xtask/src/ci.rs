//! `cargo xtask test`, `clippy`, `fmt-check` and `ci`: the checks, in both worlds.

use crate::cmd::{self, World};
use crate::lint;
use crate::simulate::{self, SimulateArgs};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Seeds that `ci` runs through the simulator: enough that every (job state x fault) cell is
/// struck (`--coverage-min 1`) and every deliberate bug is met hundreds of times.
const CI_SEEDS: u64 = 10_000;
/// Every this-many-th seed of the campaign runs twice (the determinism check of a sample).
const CI_TWICE_EVERY: u64 = 25;

/// Lint, then the normal tests, then the simulated tests, then the scenarios (if any).
pub fn test() -> Result<(), String> {
    let started = Instant::now();
    let root = cmd::workspace_root();

    step(1, "lint", || lint::run(&root))?;
    step(2, "tests (normal world)", || cmd::run(&mut cmd::cargo(World::Normal, &["test", "--workspace"])))?;
    step(3, "tests (simulated world)", || {
        // Everything of palo-node and palo-sim but the scenario files, which step 4 runs.
        cmd::run(&mut cmd::cargo(World::Sim, &["test", "--profile", "sim", "-p", "palo-node"]))?;
        let tests = sim_integration_tests(&root.join("sim/tests"));
        let mut sim_tests = vec!["test", "--profile", "sim", "-p", "palo-sim", "--lib", "--bins"];
        for test in &tests {
            sim_tests.push("--test");
            sim_tests.push(test);
        }
        cmd::run(&mut cmd::cargo(World::Sim, &sim_tests))
    })?;
    let scenarios = root.join("scenarios");
    if has_scenarios(&scenarios) {
        step(4, "scenarios", || scenarios_run(false))?;
    } else {
        eprintln!("xtask test: step 4/4 (scenarios) skipped: no *.scn files in {}", scenarios.display());
    }

    println!("xtask test: all steps passed ({})", cmd::format_duration(started.elapsed()));
    Ok(())
}

/// The integration tests of palo-sim (files in `sim/tests/`), except the scenario runner.
fn sim_integration_tests(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.path().file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .filter(|name| name != "scenarios")
        .collect();
    names.sort();
    names
}

/// Runs every scenario file against its snapshot; `accept` writes new snapshots instead of
/// failing on a difference (review them with `git diff scenarios/`).
pub fn scenarios_run(accept: bool) -> Result<(), String> {
    let mut command = cmd::cargo(World::Sim, &["test", "--profile", "sim", "-p", "palo-sim", "--test", "scenarios"]);
    command.env("INSTA_UPDATE", if accept { "always" } else { "no" });
    if accept {
        command.env("INSTA_FORCE_PASS", "1");
    }
    cmd::run(&mut command)
}

/// Runs step `n` of `test`, naming it in the error if it fails.
fn step(n: u32, name: &str, run: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    eprintln!("xtask test: step {n}/4 ({name})");
    run().map_err(|e| format!("test step {n}/4 ({name}) failed: {e}"))
}

/// Whether `dir` holds any `*.scn` file (searching subdirectories too).
fn has_scenarios(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() { has_scenarios(&path) } else { path.extension().is_some_and(|ext| ext == "scn") }
    })
}

/// `cargo clippy --workspace --all-targets -- -D warnings` in the normal world.
pub fn clippy_normal() -> Result<(), String> {
    cmd::run(&mut cmd::cargo(World::Normal, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

/// The same in the simulated world. The xtask itself is left out: it is never built with
/// `--cfg madsim`.
pub fn clippy_sim() -> Result<(), String> {
    cmd::run(&mut cmd::cargo(
        World::Sim,
        &["clippy", "--profile", "sim", "--workspace", "--exclude", "xtask", "--all-targets", "--", "-D", "warnings"],
    ))
}

/// Clippy in both worlds.
pub fn clippy() -> Result<(), String> {
    clippy_normal().map_err(|e| format!("clippy (normal world): {e}"))?;
    clippy_sim().map_err(|e| format!("clippy (simulated world): {e}"))
}

/// `cargo fmt --all -- --check`.
pub fn fmt_check() -> Result<(), String> {
    cmd::run(&mut cmd::cargo(World::Normal, &["fmt", "--all", "--", "--check"]))
}

/// Everything, in order, stopping at the first failure; then a table of what ran and how long.
pub fn ci() -> Result<(), String> {
    let simulate_name = format!("simulate ({CI_SEEDS} seeds, one in {CI_TWICE_EVERY} twice)");
    type Step<'a> = (&'a str, fn() -> Result<(), String>);
    let steps: [Step; 5] = [
        ("fmt-check", fmt_check),
        ("clippy (normal world)", clippy_normal),
        ("clippy (simulated world)", clippy_sim),
        ("test", test),
        (&simulate_name, simulate_ci),
    ];

    let started = Instant::now();
    let mut results: Vec<(&str, Option<Duration>, &str)> = Vec::new();
    let mut failure = None;
    for (name, run) in steps {
        if failure.is_some() {
            results.push((name, None, "skipped"));
            continue;
        }
        eprintln!("xtask ci: {name}");
        let step_started = Instant::now();
        let outcome = run();
        let elapsed = step_started.elapsed();
        eprintln!("xtask ci: {name} took {}", cmd::format_duration(elapsed));
        match outcome {
            Ok(()) => results.push((name, Some(elapsed), "ok")),
            Err(e) => {
                results.push((name, Some(elapsed), "FAILED"));
                failure = Some(format!("ci step `{name}` failed: {e}"));
            }
        }
    }

    let width = results.iter().map(|(name, ..)| name.len()).max().unwrap_or(0);
    println!();
    println!("{:<width$}  {:<7}  time", "step", "result");
    for (name, elapsed, result) in &results {
        let time = elapsed.map_or_else(|| "-".to_string(), cmd::format_duration);
        println!("{name:<width$}  {result:<7}  {time}");
    }
    let total = cmd::format_duration(started.elapsed());
    println!("{:<width$}  {:<7}  {total}", "total", "");

    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `simulate --seeds 10000 --jobs <cores> --check-determinism-every 25 --coverage-min 1`, failing
/// unless the simulator exits 0: no seed failed, the sampled seeds gave the same trace twice (two
/// runs of one seed in one process, next to other seeds, or a failing seed would not replay),
/// and every required coverage cell was struck.
fn simulate_ci() -> Result<(), String> {
    let args = SimulateArgs {
        check_determinism_every: Some(CI_TWICE_EVERY),
        coverage_min: Some(1),
        ..SimulateArgs::with_seeds(CI_SEEDS)
    };
    match simulate::run(&args)? {
        0 => Ok(()),
        code => Err(format!("the simulator exited with code {code}")),
    }
}
