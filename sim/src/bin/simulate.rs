//! The simulator's seed runner. Build and run it through `cargo xtask simulate`, which compiles
//! it with `--cfg madsim` in `target/sim`.

#[cfg(madsim)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
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
        /// Inject a deliberate bug, to see the simulator catch it (the run then prints the share of
        /// seeds that caught it, and by which check): lying-fsync (disks acknowledge fsync without
        /// persisting), load-skips-empty-rowsets, load-acks-failed-writes, backup-leaks-snapshots,
        /// snapshot-misses-newest-rowset, upload-drops-last-byte, download-drops-last-chunk,
        /// restore-forgets-versions, restore-commit-keeps-old-tablets, restore-cancel-keeps-tables,
        /// checkpoint-misses-last-record, fe-forgets-replayed-jobs (`palo_buggify::Bug` says what
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
        /// wide=on|off (rows up to the maximum width), many=off|PxB (a table of P partitions x B buckets), moves=on|off (backends that come
        /// back on another port), aimed=on|off (restore cancels aimed at tablet creation),
        /// fsync_us=N and write_us=N (the latency of every fsync and every other change).
        #[arg(long, value_name = "SPEC", default_value = "")]
        world: String,
        /// Print the coverage table at the end: for each job state and fault kind, how many
        /// seeds struck a job in that state with that fault.
        #[arg(long)]
        coverage: bool,
        /// Fail the run when a cell of (every working state of backup and restore) x (fe-crash,
        /// be-crash, broker-crash, cut-link, object-store, task-failure, cancel) was struck by
        /// fewer than N seeds (implies --coverage).
        #[arg(long, value_name = "N")]
        coverage_min: Option<u64>,
    }

    /// Seeds listed as the slowest at the end of a campaign.
    const SLOWEST_SHOWN: usize = 3;

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
        let options = RunOptions { chaos: Duration::from_secs(args.duration_secs), bugs, verbose: args.verbose, world };
        let (first, count) = match args.seed {
            Some(seed) => (seed, 1),
            None => (args.first, args.count),
        };
        let seeds: Vec<u64> = (first..first.saturating_add(count)).collect();
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
            if args.check_determinism { ", each run twice to check determinism" } else { "" },
            if repro_flags.is_empty() { String::new() } else { format!(", extra:{repro_flags}") },
        );

        let started = runner::stopwatch();
        let results = runner::run_seeds(&seeds, args.jobs, args.check_determinism, &options);
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
            println!("seed {}: ok, trace hash {:016x}, {} trace lines", r.seed, r.trace_hash, r.lines.len());
        }
        let simulated: f64 = results.iter().map(|r| r.simulated.as_secs_f64()).sum();
        let runs = if args.check_determinism { 2 * results.len() } else { results.len() };
        println!(
            "simulate: {} seeds, {} failed, {simulated:.1} s simulated, {:.1} s wall, {:.1} seeds/s{}",
            results.len(),
            failed.len(),
            wall.as_secs_f64(),
            runs as f64 / wall.as_secs_f64().max(1e-9),
            if args.check_determinism { " (determinism checked: two runs per seed)" } else { "" }
        );
        for r in &failed {
            println!("  repro: cargo xtask simulate --seed {}{repro_flags}", r.seed);
        }
        if results.len() > 1 {
            print_slowest(&results);
        }
        if !options.bugs.is_empty() {
            print_caught(&options.bugs, &results);
        }
        let mut coverage = Coverage::default();
        for r in &results {
            coverage.add_seed(r.coverage.iter().copied());
        }
        if args.coverage || args.coverage_min.is_some() {
            print!("{}", coverage.table());
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
