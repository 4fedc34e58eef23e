//! `cargo xtask simulate`: build the simulator in the madsim world and forward to it.

use crate::cmd::{self, World};
use clap::Args;
use std::process::Command;

#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    /// How many consecutive seeds to run, starting at --first.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,

    /// Run exactly this one seed (to reproduce a failure); replaces --seeds and --first.
    #[arg(long, value_name = "S", conflicts_with_all = ["seeds", "first"])]
    pub seed: Option<u64>,

    /// The first seed of the range that --seeds counts from.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub first: u64,

    /// How many seeds the simulator runs in parallel [default: the number of available cores].
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,

    /// Run every seed twice and fail if the two runs differ (passed to the simulator).
    #[arg(long)]
    pub check_determinism: bool,

    /// Run every N-th seed twice (a sample of a long campaign) and fail if the two runs differ.
    #[arg(long, value_name = "N", conflicts_with = "check_determinism")]
    pub check_determinism_every: Option<u64>,

    /// Shrink this failing seed to the smallest schedule that still fails the same check, write
    /// it to a file and print the line that replays it.
    #[arg(long, value_name = "SEED", conflicts_with_all = ["seed", "schedule"])]
    pub shrink: Option<u64>,

    /// Replay a schedule file (what --shrink writes) exactly.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["seed", "shrink"])]
    pub schedule: Option<String>,

    /// A fault for the simulator's nemesis, by name; repeat the flag for several faults. Passed
    /// through as-is: `target/sim/sim/simulate --help` lists the names it accepts.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,

    /// Simulated (not wall-clock) seconds each seed runs for [default: the simulator's own].
    #[arg(long, value_name = "D")]
    pub duration_secs: Option<u64>,

    /// Ask the simulator for detailed per-seed output.
    #[arg(long)]
    pub verbose: bool,

    /// Fix parts of every seed's world instead of drawing them, e.g. `loaders=4,many=3x600`
    /// (passed to the simulator: `target/sim/sim/simulate --help` lists the keys).
    #[arg(long, value_name = "SPEC")]
    pub world: Option<String>,

    /// Print the coverage table at the end (job state x fault kind: the seeds that struck it).
    #[arg(long)]
    pub coverage: bool,

    /// Fail when a required coverage cell was struck by fewer than N seeds (implies --coverage).
    #[arg(long, value_name = "N")]
    pub coverage_min: Option<u64>,
}

impl SimulateArgs {
    /// The defaults with `seeds` seeds, as `ci` runs it.
    pub fn with_seeds(seeds: u64) -> Self {
        SimulateArgs {
            seeds,
            seed: None,
            first: 1,
            jobs: None,
            check_determinism: false,
            check_determinism_every: None,
            shrink: None,
            schedule: None,
            faults: Vec::new(),
            duration_secs: None,
            verbose: false,
            world: None,
            coverage: false,
            coverage_min: None,
        }
    }

    /// The arguments for the simulator binary.
    fn simulator_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let jobs = self.jobs.unwrap_or(cmd::available_cores() as u64);
        match (self.seed, self.shrink, &self.schedule) {
            (_, Some(seed), _) => {
                args.extend(["--shrink".into(), seed.to_string()]);
                args.extend(["--jobs".into(), jobs.to_string()]);
            }
            (_, _, Some(file)) => args.extend(["--schedule".into(), file.clone()]),
            (Some(seed), _, _) => {
                args.extend(["--seed".into(), seed.to_string()]);
                args.extend(["--count".into(), "1".into()]);
            }
            (None, None, None) => {
                args.extend(["--first".into(), self.first.to_string()]);
                args.extend(["--count".into(), self.seeds.to_string()]);
                args.extend(["--jobs".into(), jobs.to_string()]);
            }
        }
        if self.check_determinism {
            args.push("--check-determinism".into());
        }
        if let Some(n) = self.check_determinism_every {
            args.extend(["--check-determinism-every".into(), n.to_string()]);
        }
        for fault in &self.faults {
            args.extend(["--fault".into(), fault.clone()]);
        }
        if let Some(secs) = self.duration_secs {
            args.extend(["--duration-secs".into(), secs.to_string()]);
        }
        if self.verbose {
            args.push("--verbose".into());
        }
        if let Some(world) = &self.world {
            args.extend(["--world".into(), world.clone()]);
        }
        if self.coverage {
            args.push("--coverage".into());
        }
        if let Some(n) = self.coverage_min {
            args.extend(["--coverage-min".into(), n.to_string()]);
        }
        args
    }
}

/// Builds the simulator, runs it, and returns its exit code.
pub fn run(args: &SimulateArgs) -> Result<u8, String> {
    let mut build = cmd::cargo(World::Sim, &["build", "--profile", "sim", "-p", "palo-sim", "--bin", "simulate"]);
    cmd::run(&mut build).map_err(|e| format!("building the simulator: {e}"))?;

    let binary = cmd::sim_target_dir().join("sim").join("simulate");
    let mut simulate = Command::new(&binary);
    simulate.args(args.simulator_args()).current_dir(cmd::workspace_root());
    let status = cmd::status(&mut simulate)?;
    if !status.success() {
        eprintln!("xtask: simulator exited with {status}");
    }
    Ok(cmd::exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(argv: &[&str]) -> SimulateArgs {
        Wrapper::try_parse_from(std::iter::once("simulate").chain(argv.iter().copied())).expect("valid arguments").args
    }

    #[test]
    fn range_of_seeds() {
        let args = parse(&["--seeds", "7", "--first", "3", "--jobs", "2"]).simulator_args();
        assert_eq!(args, ["--first", "3", "--count", "7", "--jobs", "2"]);
    }

    #[test]
    fn one_seed_with_everything() {
        let args = parse(&[
            "--seed",
            "42",
            "--check-determinism",
            "--fault",
            "disk",
            "--fault",
            "partition",
            "--duration-secs",
            "30",
            "--verbose",
        ])
        .simulator_args();
        assert_eq!(
            args,
            [
                "--seed",
                "42",
                "--count",
                "1",
                "--check-determinism",
                "--fault",
                "disk",
                "--fault",
                "partition",
                "--duration-secs",
                "30",
                "--verbose"
            ]
        );
    }

    #[test]
    fn shrink_schedule_and_samples() {
        let args = parse(&["--shrink", "17", "--jobs", "2", "--fault", "lying-fsync"]).simulator_args();
        assert_eq!(args, ["--shrink", "17", "--jobs", "2", "--fault", "lying-fsync"]);
        let args = parse(&["--schedule", "s.schedule"]).simulator_args();
        assert_eq!(args, ["--schedule", "s.schedule"]);
        let args = parse(&["--seeds", "100", "--jobs", "2", "--check-determinism-every", "10", "--coverage-min", "1"])
            .simulator_args();
        assert_eq!(
            args,
            ["--first", "1", "--count", "100", "--jobs", "2", "--check-determinism-every", "10", "--coverage-min", "1"]
        );
        assert!(Wrapper::try_parse_from(["simulate", "--shrink", "1", "--seed", "2"]).is_err());
    }

    #[test]
    fn seed_conflicts_with_a_range() {
        let argv = ["simulate", "--seed", "1", "--seeds", "5"];
        assert!(Wrapper::try_parse_from(argv).is_err());
        let argv = ["simulate", "--jobs", "0"];
        assert!(Wrapper::try_parse_from(argv).is_err());
    }
}
