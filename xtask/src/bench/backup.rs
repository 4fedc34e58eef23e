//! `cargo xtask bench backup`: BACKUP to a local `file://` repository (through the standalone
//! broker) next to `cp -r` of the same tablet files on the same disk, and the snapshot phase
//! (SNAPSHOTING: hard links on every backend) next to `cp -al`, both ratios measured in the same
//! run. A measurement, not a test: it fails only on errors (a load, a cancelled backup, a missing
//! snapshot), never on a number.
//!
//! One cluster, two tables, one replica per tablet, compaction held off (so the rowset files
//! are the ones the loads wrote):
//! 1. throughput: `--rows` rows in `--loads` INSERTs into `--buckets` tablets (each INSERT gives
//!    every tablet one rowset file): >= 2 GB in >= 1 000 files by default. BACKUP is timed from
//!    the statement to FINISHED; then `cp -r` of the table's tablet directories. The table and its
//!    backup are [`super::setup`]'s, which `bench restore` shares.
//! 2. snapshot phase: `--snapshot-loads` small INSERTs into `--snapshot-buckets` tablets
//!    (10 000 files by default). SNAPSHOTING is timed from the poll that first shows it to the
//!    poll that first shows the job past it; then `cp -al` of the table's tablet directories.

use std::time::Duration;

use super::cluster::mb;
use super::files::{Stats, Timed};
use super::setup::{self, Bench, ThroughputArgs, rate, ratio};

pub const ABOUT: &str = "Build palo-node and palo in release mode and start a local cluster \
    (palo-node standalone: one FE, three BEs, a broker; compaction held off with \
    --compaction-interval-ms 3600000 so the rowset files stay as loaded) in a temporary directory, \
    which also holds a file:// repository (WITH BROKER local_broker) and the copies; it is removed \
    at the end. Tables have replication_num = 1.\n\n\
    Part 1, throughput: a table of --rows rows (about 95 bytes each as stored; the default is just \
    over 2 GiB by SHOW PARTITIONS' DataSize) loaded by --loads INSERTs into --buckets tablets, so \
    --loads x --buckets rowset files (counted on disk right before the backup). Measures BACKUP \
    SNAPSHOT from the statement to the job seen FINISHED (SHOW BACKUP polled every \
    --throughput-poll-ms), then cp -r of the same tablet directories to another directory of the \
    same disk, and prints both times, the bytes, MB/s and the ratio backup time / cp -r time, \
    with the time the job spent in each state and the CPU the cluster and cp used.\n\n\
    Part 2, snapshot phase: a table of --snapshot-buckets tablets and --snapshot-loads small \
    INSERTs (10 000 rowset files by default), backed up; measures the SNAPSHOTING phase (from the \
    SHOW BACKUP poll that first shows it to the one that first shows the job past it; polled every \
    --poll-ms, so that plus a poll's round trip is the resolution), then cp -al (hard links) of \
    the same tablet directories, and prints both and the ratio.\n\n\
    The page cache is dropped before each timed step when the system allows it (sync; echo 3 > \
    /proc/sys/vm/drop_caches); the output says whether it was. Each backup is checked: SHOW \
    SNAPSHOT says OK, and the files and bytes of its snapshot directory in the repository are \
    printed. A measurement, not a test: it fails only on errors, never on a number.";

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    throughput: ThroughputArgs,
    /// Buckets (tablets, one replica each) of the snapshot-phase table.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1024))]
    snapshot_buckets: u32,
    /// INSERTs into the snapshot-phase table; each gives every tablet one rowset file.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    snapshot_loads: u32,
    /// Rows of each INSERT into the snapshot-phase table (enough for every tablet to get some).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_rows: u64,
    /// Milliseconds between two polls of SHOW BACKUP in part 2: the resolution of the snapshot
    /// phase's time.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    poll_ms: u64,
    /// Port offset for the local cluster (9020, 9030, 9060.., 8000 plus this).
    #[arg(long, default_value_t = 720)]
    port_offset: u16,
    /// Keep the temporary directory (cluster data, repository) instead of removing it.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: &BackupArgs) -> Result<(), String> {
    setup::with_cluster("backup", args.port_offset, args.keep, |bench| Backup { bench, args }.run())
}

/// The throughput part's result.
struct Throughput {
    backup: Duration,
    cp: Timed,
    rowsets: Stats,
    tablet_files: Stats,
}

/// The snapshot part's result.
struct SnapshotPhase {
    snapshoting: Duration,
    resolution: Duration,
    cp: Timed,
    rowsets: Stats,
}

struct Backup<'b, 'a> {
    bench: &'b mut Bench<'a>,
    args: &'b BackupArgs,
}

impl Backup<'_, '_> {
    fn run(&mut self) -> Result<(), String> {
        self.bench.prepare()?;
        let throughput = self.throughput()?;
        let snapshot = self.snapshot_phase()?;

        println!();
        println!("bench backup: summary");
        println!(
            "  BACKUP of {:.1} MB in {} rowset files ({} files in all): {:.2} s = {:.1} MB/s; cp -r {:.2} s = \
             {:.1} MB/s; backup / cp -r = {:.1}",
            mb(throughput.tablet_files.bytes as f64),
            throughput.rowsets.files,
            throughput.tablet_files.files,
            throughput.backup.as_secs_f64(),
            rate(throughput.tablet_files.bytes, throughput.backup),
            throughput.cp.wall.as_secs_f64(),
            rate(throughput.tablet_files.bytes, throughput.cp.wall),
            ratio(throughput.backup, throughput.cp.wall),
        );
        println!(
            "  SNAPSHOTING of {} rowset files: {:.3} s (+/- {:.3} s); cp -al {:.3} s; snapshot phase / cp -al = {:.1}",
            snapshot.rowsets.files,
            snapshot.snapshoting.as_secs_f64(),
            snapshot.resolution.as_secs_f64(),
            snapshot.cp.wall.as_secs_f64(),
            ratio(snapshot.snapshoting, snapshot.cp.wall),
        );
        Ok(())
    }

    fn throughput(&mut self) -> Result<Throughput, String> {
        println!();
        println!("bench backup: part 1, throughput (BACKUP next to cp -r)");
        let loaded = self.bench.load_throughput_table(&self.args.throughput)?;
        let backed_up = self.bench.backup_throughput_table(&self.args.throughput, &loaded)?;
        let (dirs, rowsets, tablet_files, backup) = (loaded.dirs, loaded.rowsets, loaded.tablet_files, backed_up.time);

        self.bench.drop_caches();
        let copy = self.bench.temp.path().join("cp-r");
        let cp = dirs.timed_cp("-r", &copy)?;
        let copied = Stats::of_tree(&copy)?;
        println!(
            "  cp -r of the same {} tablet directories: {:.2} s = {:.1} MB/s ({} files, {:.1} MB copied); cp {}",
            dirs.count(),
            cp.wall.as_secs_f64(),
            rate(tablet_files.bytes, cp.wall),
            copied.files,
            mb(copied.bytes as f64),
            cp.cpu_text()
        );
        println!("  backup / cp -r = {:.1}", ratio(backup, cp.wall));
        std::fs::remove_dir_all(&copy).map_err(|e| format!("removing {}: {e}", copy.display()))?;
        Ok(Throughput { backup, cp, rowsets, tablet_files })
    }

    fn snapshot_phase(&mut self) -> Result<SnapshotPhase, String> {
        let (buckets, loads, rows) = (self.args.snapshot_buckets, self.args.snapshot_loads, self.args.snapshot_rows);
        println!();
        println!("bench backup: part 2, snapshot phase (SNAPSHOTING next to cp -al)");
        let load_time = self.bench.create_and_load("snapshot_t", buckets, loads, |_| rows)?;
        let dirs = self.bench.tablet_files("snapshot_t", load_time, rows * u64::from(loads), loads)?;
        let rowsets = dirs.rowsets()?;

        self.bench.drop_caches();
        println!("  BACKUP SNAPSHOT {}.snapshot ON (snapshot_t):", setup::DB);
        let (start, watched) = self.bench.backup("snapshot", "snapshot_t", self.args.poll_ms)?;
        let (Some(from), Some(to)) = (watched.seen("SNAPSHOTING"), watched.seen_after("SNAPSHOTING")) else {
            return Err(format!(
                "the polls never showed the job in SNAPSHOTING (states seen: {}); try a smaller --poll-ms",
                watched.timeline(start.at)
            ));
        };
        let snapshoting = to.duration_since(from);
        let resolution = Duration::from_millis(self.args.poll_ms) + watched.max_round_trip;
        println!(
            "  SNAPSHOTING of {} tablets, {} rowset files: {:.3} s (first poll showing SNAPSHOTING to first poll \
             past it; {} polls, every {} ms, round trip mean {:.1} ms, max {:.1} ms: resolution +/- {:.0} ms)",
            dirs.count(),
            rowsets.files,
            snapshoting.as_secs_f64(),
            watched.polls,
            self.args.poll_ms,
            watched.mean_round_trip.as_secs_f64() * 1e3,
            watched.max_round_trip.as_secs_f64() * 1e3,
            resolution.as_secs_f64() * 1e3
        );
        self.bench.verify("snapshot", rowsets)?;

        self.bench.drop_caches();
        let copy = self.bench.temp.path().join("cp-al");
        let cp = dirs.timed_cp("-al", &copy)?;
        let linked = Stats::of_tree(&copy)?;
        println!(
            "  cp -al (hard links) of the same {} tablet directories into a fresh directory: {:.3} s ({} files \
             linked); cp {}",
            dirs.count(),
            cp.wall.as_secs_f64(),
            linked.files,
            cp.cpu_text()
        );
        println!("  snapshot phase / cp -al = {:.1}", ratio(snapshoting, cp.wall));
        std::fs::remove_dir_all(&copy).map_err(|e| format!("removing {}: {e}", copy.display()))?;
        Ok(SnapshotPhase { snapshoting, resolution, cp, rowsets })
    }
}
