//! What the backup and restore benchmarks share: a standalone cluster with compaction held off,
//! started in a temporary directory that also holds a `file://` repository (through the
//! standalone broker); part 1's table (`--rows` rows in `--loads` INSERTs into `--buckets`
//! tablets, one rowset file per tablet per INSERT: >= 2 GB in >= 1 000 files by default) loaded
//! and backed up to it, the backup timed from the statement to FINISHED and checked in the
//! repository; and the printing of a watched job's states.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::cluster::{self, Cluster, SqlSession, TempDir, Watched, field, mb, parse_vertical};
use super::files::{self, Stats, TabletDirs, Timed};

/// The repository the benchmarks create, and the broker standalone registers.
pub const REPO: &str = "bench_repo";
pub const BROKER: &str = "local_broker";
pub const DB: &str = "bench";
/// Compaction passes this far apart never run during a benchmark (the BE's largest interval).
pub const COMPACTION_OFF_MS: &str = "3600000";
/// Part 1's table, and the label of its backup.
pub const THROUGHPUT_TABLE: &str = "throughput_t";
pub const THROUGHPUT_LABEL: &str = "throughput";

/// The flags of part 1's table and its backup.
#[derive(clap::Args, Debug)]
pub struct ThroughputArgs {
    /// Rows of the throughput table over all its loads (about 95 bytes each as stored; the
    /// default is just over 2 GiB).
    #[arg(long, default_value_t = 24_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rows: u64,
    /// Buckets (tablets, one replica each) of the throughput table.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub buckets: u32,
    /// INSERTs into the throughput table; each gives every tablet one rowset file.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub loads: u32,
    /// Milliseconds between two polls of SHOW BACKUP (and SHOW RESTORE) of the throughput
    /// table's jobs (coarse: a job takes seconds, and polls cost the cluster some CPU).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub throughput_poll_ms: u64,
}

/// Builds the release binaries, starts the cluster (compaction held off) in a temporary
/// directory `palo-bench-<name>-<pid>` and runs `body` with a [`Bench`] on it; on an error,
/// prints the end of the cluster's log.
pub fn with_cluster(
    name: &'static str,
    port_offset: u16,
    keep: bool,
    body: impl FnOnce(&mut Bench) -> Result<(), String>,
) -> Result<(), String> {
    with_cluster_restarted(name, port_offset, keep, body, None::<fn(&mut Bench, Duration) -> Result<(), String>>)
}

/// [`with_cluster`], then, with `after`, the cluster killed (SIGKILL, as a crash would) and
/// started again on the same data: `after` runs on it, given the time from the new process's
/// start until its FE answered with every backend shown alive (the journal replayed, the
/// tablets opened).
pub fn with_cluster_restarted(
    name: &'static str,
    port_offset: u16,
    keep: bool,
    body: impl FnOnce(&mut Bench) -> Result<(), String>,
    after: Option<impl FnOnce(&mut Bench, Duration) -> Result<(), String>>,
) -> Result<(), String> {
    let bin = cluster::build_release()?;
    let temp = TempDir::new(&format!("palo-bench-{name}"), keep)?;
    let start = |log: &str| {
        Cluster::start(
            &bin,
            &temp.path().join("data"),
            &temp.path().join(log),
            port_offset,
            &["--compaction-interval-ms", COMPACTION_OFF_MS],
        )
    };
    on_cluster(&start("node.log")?, &temp, name, body)?;
    let Some(after) = after else { return Ok(()) };
    let restarted_at = Instant::now();
    let cluster = start("node-restarted.log")?;
    let up = restarted_at.elapsed();
    on_cluster(&cluster, &temp, name, |bench| after(bench, up))
}

/// Runs `body` with a [`Bench`] on `cluster`; on an error, prints the end of the cluster's log.
fn on_cluster(
    cluster: &Cluster,
    temp: &TempDir,
    name: &'static str,
    body: impl FnOnce(&mut Bench) -> Result<(), String>,
) -> Result<(), String> {
    let outcome = Bench::new(cluster, temp, name).and_then(|mut bench| body(&mut bench));
    if outcome.is_err() {
        eprintln!("bench: the cluster's log ends with:\n{}", cluster.log_tail(30));
        if temp.kept() {
            eprintln!("bench: the whole log is in {}", temp.path().display());
        }
    }
    outcome
}

/// Part 1's table as loaded: its tablet directories, their rowset files and all their files.
pub struct Loaded {
    pub dirs: TabletDirs,
    pub rowsets: Stats,
    pub tablet_files: Stats,
}

/// A backup as timed and found in the repository.
pub struct BackedUp {
    /// From the statement to the poll that first showed FINISHED.
    pub time: Duration,
    pub snapshot: Snapshot,
}

/// A snapshot in the repository: SHOW SNAPSHOT's timestamp (what RESTORE's `backup_timestamp`
/// names), its directory, all its files and its rowset files (`<name>.rowset.<md5>`).
pub struct Snapshot {
    pub timestamp: String,
    pub dir: PathBuf,
    pub all: Stats,
    pub rowsets: Stats,
}

/// When a job was submitted, and the cluster's CPU time then.
pub struct Start {
    pub at: Instant,
    pub cpu: Option<Duration>,
}

/// A running benchmark: its cluster, temporary directory and SQL session.
pub struct Bench<'a> {
    pub cluster: &'a Cluster,
    pub temp: &'a TempDir,
    pub session: SqlSession,
    /// `backup`, `restore`: how the output names the benchmark.
    name: &'static str,
    caches_droppable: bool,
}

impl<'a> Bench<'a> {
    fn new(cluster: &'a Cluster, temp: &'a TempDir, name: &'static str) -> Result<Bench<'a>, String> {
        let session = cluster.session(3_600)?;
        let caches_droppable = files::drop_caches();
        Ok(Bench { cluster, temp, session, name, caches_droppable })
    }

    /// Prints how the cluster is set up, and creates the database and the repository.
    pub fn prepare(&mut self) -> Result<(), String> {
        let name = self.name;
        let repo_dir = self.repo_dir();
        println!(
            "bench {name}: palo-node standalone (release): 1 FE, 3 BEs, broker {BROKER}; compaction held off \
             (--compaction-interval-ms {COMPACTION_OFF_MS})"
        );
        println!(
            "bench {name}: replication_num = 1 for every table (one replica per tablet: faster loads; a backup \
             uploads one replica per tablet anyway)"
        );
        println!(
            "bench {name}: cluster data, repository file://{} and any cp copies share one disk, under {}",
            repo_dir.display(),
            self.temp.path().display()
        );
        println!(
            "bench {name}: page cache {}",
            if self.caches_droppable {
                "dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before each timed job (and cp)"
            } else {
                "NOT dropped (writing /proc/sys/vm/drop_caches is not permitted here): jobs and cps read \
                 files that may be cached alike"
            }
        );
        self.sql(&format!("CREATE DATABASE {DB};"))?;
        self.sql(&format!(
            "CREATE REPOSITORY {REPO} WITH BROKER {BROKER} ON LOCATION \"file://{}\";",
            repo_dir.display()
        ))?;
        Ok(())
    }

    /// The repository's location on disk.
    pub fn repo_dir(&self) -> PathBuf {
        self.temp.path().join("repo")
    }

    /// The directory of snapshot `label` in the repository.
    pub fn snapshot_dir(&self, label: &str) -> PathBuf {
        self.repo_dir().join(format!("__palo_repository_{REPO}")).join(format!("__ss_{label}"))
    }

    pub fn sql(&mut self, statement: &str) -> Result<String, String> {
        self.session.query(statement)
    }

    /// Drops the page cache if the system allows it.
    pub fn drop_caches(&self) {
        if self.caches_droppable && !files::drop_caches() {
            eprintln!("bench: dropping the page cache failed this time");
        }
    }

    /// The cluster's CPU time now.
    pub fn start(&self) -> Start {
        Start { at: Instant::now(), cpu: self.cluster.cpu_time() }
    }

    /// Creates `table` and loads it with `loads` INSERTs of `rows_per_load(i)` rows; the load time.
    pub fn create_and_load(
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
    pub fn tablet_files(
        &mut self,
        table: &str,
        load_time: Duration,
        rows: u64,
        loads: u32,
    ) -> Result<TabletDirs, String> {
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

    /// Runs BACKUP of `table` as `label` and watches it to FINISHED: when the statement was sent,
    /// and what the watch saw.
    pub fn backup(&mut self, label: &str, table: &str, poll_ms: u64) -> Result<(Start, Watched), String> {
        let every = Duration::from_millis(poll_ms);
        let cluster = self.cluster;
        let start = self.start();
        self.sql(&format!("BACKUP SNAPSHOT {DB}.{label} TO {REPO} ON ({table});"))?;
        let watched = cluster::watch_backup(&mut self.session, DB, label, every, &|| cluster.cpu_time())?;
        println!("    states first seen (polled every {poll_ms} ms): {}", watched.timeline(start.at));
        print_phases(&watched, &start);
        print_show_times(
            "SHOW BACKUP",
            &watched,
            &["CreateTime", "SnapshotFinishedTime", "UploadFinishedTime", "FinishedTime"],
        );
        Ok((start, watched))
    }

    /// Checks the snapshot is in the repository: SHOW SNAPSHOT says OK, and its directory holds
    /// as many rowset files (`<name>.rowset.<md5>`) of as many bytes as the tablets had.
    pub fn verify(&mut self, label: &str, rowsets: Stats) -> Result<Snapshot, String> {
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
        let timestamp = field(row, "Timestamp").unwrap_or("?").to_string();
        let dir = self.snapshot_dir(label);
        let all = Stats::of_tree(&dir)?;
        let uploaded = Stats::of_tree_matching(&dir, &|name| name.contains(".rowset."))?;
        println!(
            "  repository: SHOW SNAPSHOT says OK (timestamp {timestamp}); {} holds {} files, {:.1} MB, of which {} \
             rowset files, {:.1} MB",
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
        Ok(Snapshot { timestamp, dir, all, rowsets: uploaded })
    }

    /// Part 1's table ([`THROUGHPUT_TABLE`]) created and loaded, its files counted.
    pub fn load_throughput_table(&mut self, args: &ThroughputArgs) -> Result<Loaded, String> {
        let (rows, loads, buckets) = (args.rows, args.loads, args.buckets);
        let per_load = rows / u64::from(loads);
        let load_time = self.create_and_load(THROUGHPUT_TABLE, buckets, loads, |i| {
            if i + 1 == loads { rows - per_load * u64::from(loads - 1) } else { per_load }
        })?;
        let dirs = self.tablet_files(THROUGHPUT_TABLE, load_time, rows, loads)?;
        let (rowsets, tablet_files) = (dirs.rowsets()?, dirs.everything()?);
        Ok(Loaded { dirs, rowsets, tablet_files })
    }

    /// Part 1's table backed up as [`THROUGHPUT_LABEL`] (page cache dropped first), timed from the
    /// statement to FINISHED, and checked in the repository.
    pub fn backup_throughput_table(&mut self, args: &ThroughputArgs, loaded: &Loaded) -> Result<BackedUp, String> {
        self.drop_caches();
        println!("  BACKUP SNAPSHOT {DB}.{THROUGHPUT_LABEL} ON ({THROUGHPUT_TABLE}):");
        let (start, watched) = self.backup(THROUGHPUT_LABEL, THROUGHPUT_TABLE, args.throughput_poll_ms)?;
        let time = watched.seen("FINISHED").unwrap_or_else(Instant::now).duration_since(start.at);
        let cpu =
            watched.states.last().and_then(|s| s.cpu).zip(start.cpu).map(|(end, begin)| end.saturating_sub(begin));
        println!(
            "  BACKUP: {:.2} s from the statement to FINISHED = {:.1} MB/s of tablet files; palo-node {}",
            time.as_secs_f64(),
            rate(loaded.tablet_files.bytes, time),
            Timed { wall: time, cpu }.cpu_text()
        );
        let snapshot = self.verify(THROUGHPUT_LABEL, loaded.rowsets)?;
        Ok(BackedUp { time, snapshot })
    }
}

/// How long each state lasted as the polls saw it (FINISHED, the last, has no end), and the
/// cores the cluster kept busy meanwhile.
pub fn print_phases(watched: &Watched, start: &Start) {
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

/// The job's own times, `columns` of its last row (`show` names the statement; second
/// resolution).
pub fn print_show_times(show: &str, watched: &Watched, columns: &[&str]) {
    let row = &watched.last_row;
    let times: Vec<String> = columns.iter().map(|c| format!("{c} {}", field(row, c).unwrap_or("?"))).collect();
    println!("    {show}: {}", times.join(", "));
}

/// MB/s of `bytes` moved in `time`.
pub fn rate(bytes: u64, time: Duration) -> f64 {
    mb(bytes as f64) / time.as_secs_f64().max(1e-9)
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}
