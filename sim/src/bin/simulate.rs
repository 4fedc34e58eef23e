//! The simulator's seed runner. Build and run it through `cargo xtask simulate`, which compiles
//! it with `--cfg madsim` in `target/sim`.

#[cfg(madsim)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(madsim)]
unsafe extern "C" {
    /// mimalloc's `mi_option_set` (its `include/mimalloc.h`; the crate links the library).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc's `mi_option_purge_delay` (the v3 header's `mi_option_e`; the crate builds v3).
#[cfg(madsim)]
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    // Each seed runs on a fresh thread and frees its whole world at the end; by default mimalloc
    // hands that memory back to the OS, and the next seed faults it in again, zeroed page by page
    // (a sixth of the run's time in the kernel). Never purging ran a campaign 1.3x faster (40
    // seeds: 12.9 s against 17.0 s wall, side by side) for a resident size that stays at the
    // largest world's.
    // SAFETY: sets an integer option before any seed runs; mimalloc reads options atomically.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    sim_main::main()
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("simulate: this binary only works when built with --cfg madsim; run `cargo xtask simulate`");
    std::process::ExitCode::from(2)
}

#[cfg(madsim)]
mod sim_main {
    use std::process::ExitCode;
    use std::time::Duration;

    use clap::Parser;
    use palo_sim::coverage::Coverage;
    use palo_sim::runner;
    use palo_sim::workload::{InjectedBug, RunOptions};
    use palo_sim::world::WorldOverride;

    /// Run seeds of Palo's deterministic simulation: a cluster of real FE, BE and broker code
    /// under faults chosen by each seed (node power loss, partitions, packet loss, disk errors
    /// and stalls), with the invariants checked after every seed.
    #[derive(Parser, Debug)]
    #[command(name = "simulate", about, long_about)]
    struct Args {
        /// First seed to run.
        #[arg(long, default_value_t = 1)]
        first: u64,
        /// Number of seeds, from --first on.
        #[arg(long, default_value_t = 100)]
        count: u64,
        /// Run exactly this seed (same as --first S --count 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Seeds run at once, each on its own thread.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Run every seed twice and fail if the two traces differ.
        #[arg(long)]
        check_determinism: bool,
        /// Run every N-th seed twice (the first, the N+1-th, ...) and fail if the two traces
        /// differ: a determinism check of a sample of a long campaign.
        #[arg(long, value_name = "N", conflicts_with = "check_determinism")]
        check_determinism_every: Option<usize>,
        /// Inject a deliberate bug, to see the simulator catch it (the run then prints the share of
        /// seeds that caught it, and by which check): lying-fsync (disks acknowledge fsync without
        /// persisting), load-skips-empty-rowsets, load-acks-failed-writes, backup-leaks-snapshots,
        /// snapshot-misses-newest-rowset, upload-drops-last-byte, download-drops-last-chunk,
        /// restore-forgets-versions, restore-commit-keeps-old-tablets, restore-cancel-keeps-tables,
        /// checkpoint-misses-last-record, fe-forgets-replayed-jobs, label-owner-ignored
        /// (`palo_buggify::Bug` says what
        /// each does).
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<String>,
        /// Simulated seconds of faults per seed.
        #[arg(long, default_value_t = 30)]
        duration_secs: u64,
        /// Print every trace line as it happens.
        #[arg(long)]
        verbose: bool,
        /// Fix parts of every seed's world instead of drawing them: comma-separated
        /// backends=N (4-6, the spare among them), loaders=N (loader sessions at once),
        /// wide=on|off|W1/W2/.. (rows up to the maximum width), off=none|kill+cut-link+..
        /// (random fault kinds this world never strikes), passes_ms=N, many=off|PxB (a table of P partitions x B buckets), moves=on|off (backends that come
        /// back on another port), aimed=on|off (restore cancels aimed at tablet creation),
        /// fsync_us=N and write_us=N (the latency of every fsync and every other change).
        #[arg(long, value_name = "SPEC", default_value = "")]
        world: String,
        /// Print the coverage table at the end: for each job state and fault kind, how many
        /// seeds struck a job in that state with that fault.
        #[arg(long)]
        coverage: bool,
        /// Shrink this failing seed: turn parts of its world off and remove faults while it still
        /// fails the same check, then write the smallest schedule found (see --schedule-out) and
        /// print the line that replays it.
        #[arg(long, value_name = "SEED", conflicts_with_all = ["schedule", "check_determinism"])]
        shrink: Option<u64>,
        /// Where --shrink writes the schedule [default: target/sim/shrink-SEED.schedule].
        #[arg(long, value_name = "FILE", requires = "shrink")]
        schedule_out: Option<std::path::PathBuf>,
        /// Replay a schedule file exactly (its seed, bugs, world and faults; what --shrink writes).
        #[arg(long, value_name = "FILE")]
        schedule: Option<std::path::PathBuf>,
        /// Fail the run when a cell of (every working state of backup and restore) x (fe-crash,
        /// be-crash, broker-crash, cut-link, object-store, task-failure, cancel) was struck by
        /// fewer than N seeds (implies --coverage).
        #[arg(long, value_name = "N")]
        coverage_min: Option<u64>,
    }

    /// Seeds listed as the slowest at the end of a campaign.
    const SLOWEST_SHOWN: usize = 3;

    /// Where a campaign's wall time went: the seeds with each costly dimension of the world.
    fn print_time_by_world(results: &[runner::SeedResult]) {
        let total: f64 = results.iter().map(|r| r.wall.as_secs_f64()).sum();
        let share = |has: &dyn Fn(&str) -> bool| {
            let chosen: Vec<&runner::SeedResult> = results.iter().filter(|r| has(&r.world)).collect();
            let wall: f64 = chosen.iter().map(|r| r.wall.as_secs_f64()).sum();
            (chosen.len(), wall, 100.0 * wall / total.max(1e-9))
        };
        let many = share(&|w: &str| !w.contains("many=off"));
        let wide = share(&|w: &str| !w.contains("wide=off"));
        let plain = share(&|w: &str| w.contains("many=off") && w.contains("wide=off"));
        println!(
            "  time: {:.0} s of runs; {} seeds with many tablets {:.0} s ({:.0}%), {} with wide rows {:.0} s ({:.0}%), \
             {} with neither {:.0} s ({:.0}%)",
            total, many.0, many.1, many.2, wide.0, wide.1, wide.2, plain.0, plain.1, plain.2
        );
    }

    /// The slowest seeds of a campaign with their worlds: where its wall time went.
    fn print_slowest(results: &[runner::SeedResult]) {
        let mut by_wall: Vec<&runner::SeedResult> = results.iter().collect();
        by_wall.sort_by_key(|r| std::cmp::Reverse(r.wall));
        for r in by_wall.iter().take(SLOWEST_SHOWN) {
            let world = r.lines.iter().find_map(|l| l.split_once("world: ").map(|(_, w)| w)).unwrap_or("?");
            println!(
                "  slow: seed {} took {:.2} s wall ({:.0} s simulated): {world}",
                r.seed,
                r.wall.as_secs_f64(),
                r.simulated.as_secs_f64()
            );
        }
    }

    /// With deliberate bugs on: the share of seeds that caught them, and by which check.
    fn print_caught(bugs: &[InjectedBug], results: &[runner::SeedResult]) {
        let mut by_check: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for failure in results.iter().filter_map(|r| r.failure.as_deref()) {
            *by_check.entry(runner::caught_by(failure)).or_default() += 1;
        }
        let caught: usize = by_check.values().sum();
        let names: Vec<&str> = bugs.iter().map(|b| b.name()).collect();
        let checks: Vec<String> = by_check.iter().map(|(check, n)| format!("{check} {n}")).collect();
        println!(
            "simulate: {} caught by {caught} of {} seeds ({:.1}%){}",
            names.join(" + "),
            results.len(),
            100.0 * caught as f64 / results.len().max(1) as f64,
            if checks.is_empty() { String::new() } else { format!(": {}", checks.join(", ")) }
        );
    }

    /// `--shrink SEED`.
    fn shrink(seed: u64, options: &RunOptions, jobs: usize, out: Option<std::path::PathBuf>) -> ExitCode {
        eprintln!("simulate: shrinking seed {seed} ({jobs} runs at a time)");
        let shrunk = match palo_sim::shrink::shrink(seed, options, jobs) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("simulate: {e}");
                return ExitCode::FAILURE;
            }
        };
        let path = out.unwrap_or_else(|| format!("target/sim/shrink-{seed}.schedule").into());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = shrunk.smallest.to_text();
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("simulate: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        print!("{text}");
        println!(
            "simulate: seed {seed} shrunk from {} faults to {} in {:.1} s ({} runs); it still fails {}",
            shrunk.original.faults.len(),
            shrunk.smallest.faults.len(),
            shrunk.wall.as_secs_f64(),
            shrunk.runs,
            shrunk.smallest.expect.as_deref().unwrap_or("?")
        );
        println!("  replay: cargo xtask simulate --schedule {} --verbose", path.display());
        ExitCode::SUCCESS
    }

    /// `--schedule FILE`.
    fn replay(path: &std::path::Path, verbose: bool) -> ExitCode {
        let schedule = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| palo_sim::shrink::Schedule::parse(&text))
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("simulate: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let options = match schedule.options(verbose) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("simulate: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let r = runner::run_seed(schedule.seed, &options);
        let caught = r.failure.as_deref().map(runner::caught_by);
        match &r.failure {
            Some(failure) => {
                println!("FAIL seed {} (schedule {}): {failure}", schedule.seed, path.display());
                for line in &r.tail {
                    println!("    {line}");
                }
            }
            None => {
                println!("seed {} (schedule {}): ok, trace hash {:016x}", schedule.seed, path.display(), r.trace_hash)
            }
        }
        println!(
            "simulate: replayed {} faults; expected {}, got {}",
            schedule.faults.len(),
            schedule.expect.as_deref().unwrap_or("a pass"),
            caught.as_deref().unwrap_or("a pass")
        );
        if caught == schedule.expect { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }

    pub fn main() -> ExitCode {
        let args = Args::parse();
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::io::stderr)
                .try_init();
        }
        let mut bugs = Vec::new();
        for name in &args.faults {
            match InjectedBug::parse(name) {
                Some(bug) => bugs.push(bug),
                None => {
                    let known: Vec<&str> = InjectedBug::all().into_iter().map(InjectedBug::name).collect();
                    eprintln!("simulate: unknown fault {name:?}; known: {}", known.join(", "));
                    return ExitCode::from(2);
                }
            }
        }
        if !(1..=3_000).contains(&args.duration_secs) || args.jobs == 0 || args.count == 0 {
            eprintln!("simulate: --duration-secs must be 1..=3000, --jobs and --count at least 1");
            return ExitCode::from(2);
        }
        bugs.sort();
        bugs.dedup();
        let world = match WorldOverride::parse(&args.world) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("simulate: {e}");
                return ExitCode::from(2);
            }
        };
        let options = RunOptions {
            chaos: Duration::from_secs(args.duration_secs),
            bugs,
            verbose: args.verbose,
            world,
            plan: Default::default(),
        };
        if let Some(seed) = args.shrink {
            return shrink(seed, &options, args.jobs, args.schedule_out.clone());
        }
        if let Some(path) = &args.schedule {
            return replay(path, args.verbose);
        }
        let (first, count) = match args.seed {
            Some(seed) => (seed, 1),
            None => (args.first, args.count),
        };
        let seeds: Vec<u64> = (first..first.saturating_add(count)).collect();
        let twice_every = if args.check_determinism { 1 } else { args.check_determinism_every.unwrap_or(0) };
        let repro_flags = {
            let mut flags = String::new();
            for bug in &options.bugs {
                flags.push_str(&format!(" --fault {}", bug.name()));
            }
            if args.duration_secs != 30 {
                flags.push_str(&format!(" --duration-secs {}", args.duration_secs));
            }
            if !args.world.is_empty() {
                flags.push_str(&format!(" --world {}", args.world));
            }
            flags
        };
        eprintln!(
            "simulate: seeds {first}..={} ({} seeds), {} jobs{}{}",
            first + count - 1,
            seeds.len(),
            args.jobs,
            match twice_every {
                0 => String::new(),
                1 => ", each run twice to check determinism".to_string(),
                n => format!(", every {n}th run twice to check determinism"),
            },
            if repro_flags.is_empty() { String::new() } else { format!(", extra:{repro_flags}") },
        );

        let started = runner::stopwatch();
        let results = runner::run_seeds(&seeds, args.jobs, twice_every, &options);
        let wall = started.elapsed();
        let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
        for r in &failed {
            println!("FAIL seed {}: {}", r.seed, r.failure.as_deref().unwrap_or(""));
            if !r.tail.is_empty() {
                println!("  last {} trace lines:", r.tail.len());
                for line in &r.tail {
                    println!("    {line}");
                }
            }
            println!("  reproduce: cargo xtask simulate --seed {}{repro_flags} --verbose", r.seed);
        }
        if args.seed.is_some()
            && failed.is_empty()
            && let Some(r) = results.first()
        {
            println!("seed {}: ok, trace hash {:016x}", r.seed, r.trace_hash);
        }
        let simulated: f64 = results.iter().map(|r| r.simulated.as_secs_f64()).sum();
        let twice = if twice_every == 0 { 0 } else { results.len().div_ceil(twice_every) };
        let runs = results.len() + twice;
        println!(
            "simulate: {} seeds, {} failed, {simulated:.1} s simulated, {:.1} s wall, {:.1} seeds/s{}",
            results.len(),
            failed.len(),
            wall.as_secs_f64(),
            runs as f64 / wall.as_secs_f64().max(1e-9),
            if twice > 0 { format!(" (determinism checked: {twice} seeds run twice)") } else { String::new() }
        );
        for r in &failed {
            println!("  repro: cargo xtask simulate --seed {}{repro_flags}", r.seed);
        }
        if results.len() > 1 {
            print_slowest(&results);
            print_time_by_world(&results);
        }
        if !options.bugs.is_empty() {
            print_caught(&options.bugs, &results);
        }
        let mut coverage = Coverage::default();
        for r in &results {
            coverage.add_seed(r.coverage.iter().copied());
            coverage.add_checked(r.checked.iter().copied());
        }
        if args.coverage || args.coverage_min.is_some() {
            print!("{}", coverage.table());
            print!("{}", coverage.invariants_table());
        }
        let mut ok = failed.is_empty();
        if let Some(min) = args.coverage_min {
            let below = coverage.below(min);
            if !below.is_empty() {
                ok = false;
                let cells: Vec<String> = below.iter().map(|(k, s, f)| format!("{k} {s} x {f}")).collect();
                println!(
                    "simulate: {} cells struck by fewer than {min} seeds (--coverage-min): {}",
                    cells.len(),
                    cells.join(", ")
                );
            }
        }
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}
