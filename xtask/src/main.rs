//! Palo's project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! The workspace builds in two worlds: the normal one (real tokio/tonic, `target/`) and the
//! simulated one (`--cfg madsim`, `--profile sim`, `target/sim/`). These tasks drive both.

mod bench;
mod ci;
mod cmd;
mod lint;
mod rooms;
mod simulate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Palo project tasks: simulate, scenarios, lint, test, clippy, fmt-check, bench, ci",
    long_about = "Palo project tasks: simulate, lint, test, clippy, fmt-check, ci.\n\n\
                  The simulated world is built with RUSTFLAGS=\"$RUSTFLAGS --cfg madsim\", \
                  --profile sim and CARGO_TARGET_DIR=target/sim, so it never invalidates \
                  the normal build in target/. Cargo is $CARGO, or `cargo` from PATH."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Build the deterministic simulator and run seeds through it.
    #[command(long_about = "Build the deterministic simulator (palo-sim's `simulate` binary, \
                            in target/sim with --cfg madsim) and run a range of seeds through \
                            it, or a single seed with --seed. The simulator prints the summary \
                            and a repro command for each failing seed; this task exits with \
                            the simulator's exit code.")]
    Simulate(simulate::SimulateArgs),

    /// Check node, buggify and sim code for nondeterminism hazards.
    #[command(long_about = "Check node, buggify and sim code for nondeterminism hazards, by \
                            plain text matching after stripping // comments:\n\n\
                            - node/src, node/buggify/src, sim/src: every `select!` must start \
                            with `biased;`.\n\
                            - node/src (except node/src/disk/real.rs and node/src/clock.rs): \
                            no std::thread, thread::spawn, std::fs, tokio::fs, Instant::now, \
                            SystemTime::now, rand::thread_rng, rand::rng(), spawn_blocking.\n\n\
                            Prints each violation as `path:line: message` and exits 1 if \
                            there are any.")]
    Lint,

    /// Lint, then the normal tests, the simulated tests and the scenarios.
    #[command(long_about = "Run, in order, stopping at the first failure:\n\
                            1. lint;\n\
                            2. cargo test --workspace (normal world, target/);\n\
                            3. cargo test --profile sim -p palo-sim -p palo-node (simulated \
                            world, target/sim);\n\
                            4. cargo test --profile sim -p palo-sim --test scenarios \
                            (simulated world), if scenarios/ holds any *.scn file.")]
    Test,

    /// Run the scenario files in the simulator and compare their transcripts with the snapshots.
    #[command(long_about = "Run every scenarios/*.scn file in the simulated cluster and compare its \
                            transcript with scenarios/snapshots/<name>.snap. With --accept, write \
                            the new transcripts as the snapshots instead (review with git diff).")]
    Scenarios {
        /// Write new snapshots instead of failing on a difference.
        #[arg(long)]
        accept: bool,
    },

    /// Clippy with -D warnings on the whole workspace, in both worlds.
    #[command(long_about = "Run cargo clippy --workspace --all-targets -- -D warnings in the \
                            normal world (target/), then in the simulated world (target/sim, \
                            --cfg madsim, --profile sim; the xtask itself is excluded there).")]
    Clippy,

    /// Check formatting: cargo fmt --all -- --check.
    FmtCheck,

    /// Benchmarks on a local release cluster: `load` (the default), `backup` and `restore`.
    #[command(long_about = "Benchmarks on a local release cluster (palo-node standalone in a \
                            temporary directory, removed at the end). Measurements, not tests: \
                            they fail only on errors, never on a number.\n\n\
                            - load (also what bare `cargo xtask bench [--rows N ...]` runs): one \
                            INSERT ... SELECT into a table with 3 replicas; wall time, rows/s, MB/s.\n\
                            - backup: BACKUP of a >= 2 GB table in >= 1 000 rowset files to a \
                            file:// repository next to cp -r of the same files (throughput and \
                            ratio), and the snapshot phase of a 10 000-file table next to cp -al.\n\
                            - restore: RESTORE of that >= 2 GB backup into a new table next to \
                            cp -r of the snapshot's files in the repository (throughput and \
                            ratio), the restored table's rows and files checked.\n\n\
                            `cargo xtask bench <load|backup|restore> --help` lists each one's flags.")]
    Bench(bench::BenchArgs),

    /// Everything CI runs: fmt-check, clippy, test, then simulate 10 000 seeds (one in 25 twice,
    /// every coverage cell struck).
    #[command(long_about = "Run fmt-check, clippy (both worlds), test, then \
                            simulate --seeds 10000 --check-determinism-every 25 --coverage-min 1 \
                            --jobs <available cores>, stopping at the first failure. Prints each step's wall time and a summary table.")]
    Ci,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Simulate(args) => simulate::run(&args),
        Task::Scenarios { accept } => ci::scenarios_run(accept).map(|()| 0),
        Task::Lint => lint::run(&cmd::workspace_root()).map(|()| 0),
        Task::Test => ci::test().map(|()| 0),
        Task::Clippy => ci::clippy().map(|()| 0),
        Task::FmtCheck => ci::fmt_check().map(|()| 0),
        Task::Ci => ci::ci().map(|()| 0),
        Task::Bench(args) => bench::run(&args).map(|()| 0),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
