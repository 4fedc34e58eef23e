//! `cargo xtask bench`: measurements on a local release cluster (`palo-node standalone`) in a
//! temporary directory. Measurements, never tests: they fail only on errors, never on a number.
//!
//! - [`load`]: the bulk-load benchmark (`cargo xtask bench` or `cargo xtask bench load`).
//! - [`backup`]: BACKUP to a local repository next to `cp -r`, and its snapshot phase next to
//!   `cp -al` (`cargo xtask bench backup`).
//! - [`restore`]: RESTORE of the backup bench's part-1 snapshot next to `cp -r` of its files in
//!   the repository (`cargo xtask bench restore`).
//! - [`scale`]: BACKUP and RESTORE of nearly empty tables of 2 048 to 32 768 tablets: how a job's
//!   cost grows with tablets (`cargo xtask bench scale`).
//!
//! The pieces a benchmark needs are shared: [`setup`] starts the cluster the backup and restore
//! benchmarks use, creates the repository, and loads and backs up part 1's table; [`cluster`]
//! builds the binaries, starts the cluster, runs SQL through the `palo` binary (one-shot or as a
//! long-lived session for fast polling) and watches a job through its SHOW output; [`files`]
//! finds a table's tablet directories on the backends' disks, counts their files, drops the page
//! cache and times `cp`; [`cpu`] reads the CPU time a process (the cluster, the `cp`s) used, to
//! tell a step bound by the CPU.

pub mod backup;
pub mod cluster;
pub mod cpu;
pub mod files;
pub mod load;
pub mod restore;
pub mod scale;
pub mod setup;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Option<Which>,
    /// Without a subcommand: the bulk-load benchmark, with its flags.
    #[command(flatten)]
    load: load::LoadArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// The bulk-load benchmark (what bare `cargo xtask bench` runs): rows/s and MB/s.
    #[command(long_about = load::ABOUT)]
    Load(load::LoadArgs),
    /// BACKUP throughput next to `cp -r`, and the snapshot phase next to `cp -al`.
    #[command(long_about = backup::ABOUT)]
    Backup(backup::BackupArgs),
    /// RESTORE throughput (of the backup bench's part-1 snapshot) next to `cp -r` of its files.
    #[command(long_about = restore::ABOUT)]
    Restore(restore::RestoreArgs),
    /// BACKUP and RESTORE of nearly empty tables of many tablets: time per tablet as they grow.
    #[command(long_about = scale::ABOUT)]
    Scale(scale::ScaleArgs),
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    match &args.which {
        None => load::run(&args.load),
        Some(Which::Load(load)) => load::run(load),
        Some(Which::Backup(backup)) => backup::run(backup),
        Some(Which::Restore(restore)) => restore::run(restore),
        Some(Which::Scale(scale)) => scale::run(scale),
    }
}
