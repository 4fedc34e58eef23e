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
//!    the statement to FINISHED; then `cp -r` of the table's tablet directories.
//! 2. snapshot phase: `--snapshot-loads` small INSERTs into `--snapshot-buckets` tablets
//!    (10 000 files by default). SNAPSHOTING is timed from the poll that first shows it to the
//!    poll that first shows the job past it; then `cp -al` of the table's tablet directories.

use std::time::{Duration, Instant};

use super::cluster::{self, Cluster, SqlSession, TempDir, Watched, field, mb, parse_vertical};
use super::files::{self, Stats, TabletDirs, Timed};

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

/// The repository the benchmark creates, and the broker standalone registers.
const REPO: &str = "bench_repo";
const BROKER: &str = "local_broker";
const DB: &str = "bench";
/// Compaction passes this far apart never run during a benchmark (the BE's largest interval).
const COMPACTION_OFF_MS: &str = "3600000";

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Rows of the throughput table over all its loads (about 95 bytes each as stored; the
    /// default is just over 2 GiB).
    #[arg(long, default_value_t = 24_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
    /// Buckets (tablets, one replica each) of the throughput table.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1024))]
    buckets: u32,
    /// INSERTs into the throughput table; each gives every tablet one rowset file.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    loads: u32,
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
    /// Milliseconds between two polls of SHOW BACKUP in part 1 (coarser: the backup takes
    /// seconds, and polls cost the cluster some CPU).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    throughput_poll_ms: u64,
    /// Port offset for the local cluster (9020, 9030, 9060.., 8000 plus this).
    #[arg(long, default_value_t = 720)]
    port_offset: u16,
    /// Keep the temporary directory (cluster data, repository) instead of removing it.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: &BackupArgs) -> Result<(), String> {
    let bin = cluster::build_release()?;
    let temp = TempDir::new("palo-bench-backup", args.keep)?;
    let cluster = Cluster::start(
        &bin,
        &temp.path().join("data"),
        &temp.path().join("node.log"),
        args.port_offset,
        &["--compaction-interval-ms", COMPACTION_OFF_MS],
    )?;
    let outcome = Bench::new(&cluster, &temp, args).and_then(|mut bench| bench.run());
    if outcome.is_err() {
        eprintln!("bench: the cluster's log ends with:\n{}", cluster.log_tail(30));
    }
    outcome
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

struct Bench<'a> {
    cluster: &'a Cluster,
    temp: &'a TempDir,
    args: &'a BackupArgs,
    session: SqlSession,
    caches_droppable: bool,
}

impl<'a> Bench<'a> {
    fn new(cluster: &'a Cluster, temp: &'a TempDir, args: &'a BackupArgs) -> Result<Bench<'a>, String> {
        let session = cluster.session(3_600)?;
        let caches_droppable = files::drop_caches();
        Ok(Bench { cluster, temp, args, session, caches_droppable })
    }

    fn run(&mut self) -> Result<(), String> {
        let repo_dir = self.temp.path().join("repo");
        println!(
            "bench backup: palo-node standalone (release): 1 FE, 3 BEs, broker {BROKER}; compaction held off \
             (--compaction-interval-ms {COMPACTION_OFF_MS})"
        );
        println!(
            "bench backup: replication_num = 1 for both tables (one replica per tablet: faster loads; a backup \
             uploads one replica per tablet anyway)"
        );
        println!(
            "bench backup: cluster data, repository file://{} and the cp copies share one disk, under {}",
            repo_dir.display(),
            self.temp.path().display()
        );
        println!(
            "bench backup: page cache {}",
            if self.caches_droppable {
                "dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before each timed backup and cp"
            } else {
                "NOT dropped (writing /proc/sys/vm/drop_caches is not permitted here): backups and cps read \
                 files that may be cached alike"
            }
        );
        self.sql(&format!("CREATE DATABASE {DB};"))?;
        self.sql(&format!(
            "CREATE REPOSITORY {REPO} WITH BROKER {BROKER} ON LOCATION \"file://{}\";",
            repo_dir.display()
        ))?;

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

    fn sql(&mut self, statement: &str) -> Result<String, String> {
        self.session.query(statement)
    }

    /// Creates `table` and loads it with `loads` INSERTs of `rows_per_load(i)` rows; the load time.
    fn create_and_load(
        &mut self,
        table: &str,
        buckets: u32,
        loads: u32,
        rows_per_load: impl Fn(u32) -> u64,
    ) -> Result<Duration, String> {
        self.sql(&format!(
            "CREATE TABLE {DB}.{table} (id BIGINT NOT NULL, k INT NOT NULL, payload VARCHAR(128)) DUPLICATE KEY(id) \
             DISTRIBUTED BY HASH(id) BUCKETS {buckets} PROPERTIES (\"replication_num\" = \"1\");"
        ))?;
        let started = Instant::now();
        let mut offset = 0u64;
        for i in 0..loads {
            let rows = rows_per_load(i);
            let one = Instant::now();
            // Every INSERT takes the next ids, so the rows are distinct and alike in size.
            self.sql(&format!(
                "INSERT INTO {DB}.{table} SELECT number + {offset}, (number + {offset}) % 1000, \
                 concat('payload-', number + {offset}, '-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz') \
                 FROM numbers(\"number\" = \"{rows}\");"
            ))?;
            offset += rows;
            eprintln!(
                "bench:   {table}: INSERT {}/{loads} of {rows} rows in {:.1} s",
                i + 1,
                one.elapsed().as_secs_f64()
            );
        }
        Ok(started.elapsed())
    }

    /// The table's tablet directories on disk, after printing its size and file counts.
    fn tablet_files(&mut self, table: &str, load_time: Duration, rows: u64, loads: u32) -> Result<TabletDirs, String> {
        let full = format!("{DB}.{table}");
        let data_size = cluster::table_data_size(self.cluster, &full, Duration::from_secs(30))?;
        let ids = cluster::tablet_ids(self.cluster, &full)?;
        let dirs = TabletDirs::find(self.cluster.data_dir(), &ids)?;
        let rowsets = dirs.rowsets()?;
        let everything = dirs.everything()?;
        println!(
            "  table {full}: {rows} rows in {loads} INSERTs ({:.1} s), {} tablets: {:.1} MB by SHOW PARTITIONS \
             DataSize (one replica)",
            load_time.as_secs_f64(),
            ids.len(),
            mb(data_size)
        );
        println!(
            "  on disk right before BACKUP: {} rowset files ({:.1} MB) in {} tablet directories on {} backends; \
             {} files, {:.1} MB with each tablet's meta.json",
            rowsets.files,
            mb(rowsets.bytes as f64),
            dirs.count(),
            dirs.per_backend.len(),
            everything.files,
            mb(everything.bytes as f64)
        );
        if dirs.count() != ids.len() {
            return Err(format!("found {} tablet directories for the {} tablets of {full}", dirs.count(), ids.len()));
        }
        Ok(dirs)
    }

    /// Drops the page cache if the system allows it.
    fn drop_caches(&self) {
        if self.caches_droppable && !files::drop_caches() {
            eprintln!("bench: dropping the page cache failed this time");
        }
    }

    /// Runs BACKUP of `table` as `label` and watches it to FINISHED: when the statement was sent,
    /// and what the watch saw.
    fn backup(&mut self, label: &str, table: &str, poll_ms: u64) -> Result<(Start, Watched), String> {
        let every = Duration::from_millis(poll_ms);
        let cluster = self.cluster;
        let start = Start { at: Instant::now(), cpu: cluster.cpu_time() };
        self.sql(&format!("BACKUP SNAPSHOT {DB}.{label} TO {REPO} ON ({table});"))?;
        let watched = cluster::watch_backup(&mut self.session, DB, label, every, &|| cluster.cpu_time())?;
        println!("    states first seen (polled every {poll_ms} ms): {}", watched.timeline(start.at));
        print_phases(&watched, &start);
        print_show_times(&watched);
        Ok((start, watched))
    }

    /// Checks the snapshot is in the repository: SHOW SNAPSHOT says OK, and its directory holds
    /// as many rowset files (`<name>.rowset.<md5>`) of as many bytes as the tablets had.
    fn verify(&mut self, label: &str, rowsets: Stats) -> Result<(), String> {
        let out = self.sql(&format!("SHOW SNAPSHOT ON {REPO}\\G"))?;
        let rows = parse_vertical(&out);
        let row = rows
            .iter()
            .find(|r| field(r, "Snapshot") == Some(label))
            .ok_or_else(|| format!("SHOW SNAPSHOT ON {REPO} does not show {label}:\n{out}"))?;
        let status = field(row, "Status").unwrap_or("");
        if status != "OK" {
            return Err(format!("SHOW SNAPSHOT ON {REPO} says {status} for {label}"));
        }
        let dir = self.temp.path().join("repo").join(format!("__palo_repository_{REPO}")).join(format!("__ss_{label}"));
        let all = Stats::of_tree(&dir)?;
        let uploaded = Stats::of_tree_matching(&dir, &|name| name.contains(".rowset."))?;
        println!(
            "  repository: SHOW SNAPSHOT says OK (timestamp {}); {} holds {} files, {:.1} MB, of which {} rowset \
             files, {:.1} MB",
            field(row, "Timestamp").unwrap_or("?"),
            dir.display(),
            all.files,
            mb(all.bytes as f64),
            uploaded.files,
            mb(uploaded.bytes as f64)
        );
        if uploaded != rowsets {
            return Err(format!(
                "the snapshot {label} holds {} rowset files of {} bytes, but the tablets had {} of {} bytes",
                uploaded.files, uploaded.bytes, rowsets.files, rowsets.bytes
            ));
        }
        Ok(())
    }

    fn throughput(&mut self) -> Result<Throughput, String> {
        let (rows, loads, buckets) = (self.args.rows, self.args.loads, self.args.buckets);
        println!();
        println!("bench backup: part 1, throughput (BACKUP next to cp -r)");
        let per_load = rows / u64::from(loads);
        let load_time = self.create_and_load("throughput_t", buckets, loads, |i| {
            if i + 1 == loads { rows - per_load * u64::from(loads - 1) } else { per_load }
        })?;
        let dirs = self.tablet_files("throughput_t", load_time, rows, loads)?;
        let (rowsets, tablet_files) = (dirs.rowsets()?, dirs.everything()?);

        self.drop_caches();
        println!("  BACKUP SNAPSHOT {DB}.throughput ON (throughput_t):");
        let (start, watched) = self.backup("throughput", "throughput_t", self.args.throughput_poll_ms)?;
        let finished = watched.seen("FINISHED").unwrap_or_else(Instant::now);
        let backup = finished.duration_since(start.at);
        let cpu =
            watched.states.last().and_then(|s| s.cpu).zip(start.cpu).map(|(end, begin)| end.saturating_sub(begin));
        println!(
            "  BACKUP: {:.2} s from the statement to FINISHED = {:.1} MB/s of tablet files; palo-node {}",
            backup.as_secs_f64(),
            rate(tablet_files.bytes, backup),
            Timed { wall: backup, cpu }.cpu_text()
        );
        self.verify("throughput", rowsets)?;

        self.drop_caches();
        let copy = self.temp.path().join("cp-r");
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
        let load_time = self.create_and_load("snapshot_t", buckets, loads, |_| rows)?;
        let dirs = self.tablet_files("snapshot_t", load_time, rows * u64::from(loads), loads)?;
        let rowsets = dirs.rowsets()?;

        self.drop_caches();
        println!("  BACKUP SNAPSHOT {DB}.snapshot ON (snapshot_t):");
        let (start, watched) = self.backup("snapshot", "snapshot_t", self.args.poll_ms)?;
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
        self.verify("snapshot", rowsets)?;

        self.drop_caches();
        let copy = self.temp.path().join("cp-al");
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

/// When a backup was submitted, and the cluster's CPU time then.
struct Start {
    at: Instant,
    cpu: Option<Duration>,
}

/// How long each state lasted as the polls saw it (FINISHED, the last, has no end), and the
/// cores the cluster kept busy meanwhile.
fn print_phases(watched: &Watched, start: &Start) {
    let mut parts = Vec::new();
    let (mut from, mut cpu_from) = (start.at, start.cpu);
    let mut name = "(statement)";
    for seen in &watched.states {
        let wall = seen.at.duration_since(from);
        let cores = match (seen.cpu, cpu_from) {
            (Some(end), Some(begin)) if wall > Duration::ZERO => {
                format!(" ({:.2} cores)", end.saturating_sub(begin).as_secs_f64() / wall.as_secs_f64())
            }
            _ => String::new(),
        };
        parts.push(format!("{name} {:.2}s{cores}", wall.as_secs_f64()));
        (from, cpu_from) = (seen.at, seen.cpu);
        name = &seen.state;
    }
    println!("    time in each state (palo-node's busy cores): {}", parts.join(", "));
}

/// SHOW BACKUP's own times (second resolution).
fn print_show_times(watched: &Watched) {
    let row = &watched.last_row;
    let times: Vec<String> = ["CreateTime", "SnapshotFinishedTime", "UploadFinishedTime", "FinishedTime"]
        .iter()
        .map(|c| format!("{c} {}", field(row, c).unwrap_or("?")))
        .collect();
    println!("    SHOW BACKUP: {}", times.join(", "));
}

fn rate(bytes: u64, time: Duration) -> f64 {
    mb(bytes as f64) / time.as_secs_f64().max(1e-9)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}
