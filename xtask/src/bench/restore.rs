//! `cargo xtask bench restore`: RESTORE from a local `file://` repository (through the standalone
//! broker) next to `cp -r` of the same snapshot files on the same disk, the ratio measured in the
//! same run. A measurement, not a test: it fails on errors (a load, a cancelled job), and on a
//! restore that did not do its job (rows or files missing), never on a number.
//!
//! The snapshot is the one `bench backup` takes in its part 1 ([`super::setup`]: `--rows` rows in
//! `--loads` INSERTs into `--buckets` tablets, >= 2 GB in >= 1 000 rowset files by default). It is
//! restored into a new table of the same database (`ON (t AS t_restored)`, `replication_num` 1),
//! timed from the statement to FINISHED; the restored table is checked (its rows counted, by the
//! backends' reports and by SELECT count(*) when the FE's query row limit allows it; its rowset
//! files on disk against the repository's); then `cp -r` of the snapshot's directory in the
//! repository.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::cluster::{self, field, mb, parse_vertical};
use super::files::{self, Stats, TabletDirs, Timed};
use super::setup::{
    self, BackedUp, Bench, DB, REPO, Snapshot, THROUGHPUT_LABEL, THROUGHPUT_TABLE, ThroughputArgs, rate, ratio,
};

pub const ABOUT: &str = "Build palo-node and palo in release mode and start a local cluster \
    (palo-node standalone: one FE, three BEs, a broker; compaction held off) in a temporary \
    directory, which also holds a file:// repository (WITH BROKER local_broker) and the copy; it is \
    removed at the end.\n\n\
    Setup, as bench backup's part 1: a table of --rows rows loaded by --loads INSERTs into \
    --buckets tablets (replication_num = 1; by default just over 2 GiB in 1 000 rowset files), \
    backed up to the repository (the backup's time is printed too; the snapshot is checked: SHOW \
    SNAPSHOT says OK, the rowset files are all there).\n\n\
    Measured: RESTORE SNAPSHOT of that snapshot into a new table of the same database (ON (t AS \
    t_restored), replication_num = 1), from the statement to the job seen FINISHED (SHOW RESTORE \
    polled every --throughput-poll-ms), with the time the job spent in each state and the CPU the \
    cluster used; then cp -r of the snapshot's directory in the repository into a fresh directory \
    of the same disk, then sync (a restore syncs every file it lands before FINISHED; cp -r leaves \
    its writes in the page cache). Prints the bytes (all the snapshot's files), MB/s of both and \
    the ratios restore time / cp -r time and restore time / (cp -r + sync) time.\n\n\
    Checked (the bench fails otherwise): the restored table holds the source table's rows (the \
    sums of SHOW TABLETS' RowCount, as the backends report them, agree within 60 s of the end; and \
    SELECT count(*) of both agrees, where the FE's query row limit, 20 M rows, lets it run: not at \
    the default size, which the output says), and the restored tablets' rowset files on disk are \
    as many and hold as many bytes as the snapshot's rowset files (a restore rewrites each file's \
    header and footer in place, keeping its size).\n\n\
    The page cache is dropped before the restore and before the cp when the system allows it \
    (sync; echo 3 > /proc/sys/vm/drop_caches); the output says whether it was. A measurement: it \
    fails only on errors and on a restore that lost rows or files, never on a number.";

/// The table the snapshot is restored into.
const RESTORED_TABLE: &str = "throughput_t_restored";
/// How long the restored tablets' row counts may take to be reported after the job ends.
const REPORT_WAIT: Duration = Duration::from_secs(60);
/// What the FE answers a query that would read more rows than it allows (node/src/fe/statements/select.rs).
const QUERY_LIMIT_ERROR: &str = "the query reads more than";

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    throughput: ThroughputArgs,
    /// Port offset for the local cluster (9020, 9030, 9060.., 8000 plus this; the default differs
    /// from the other benchmarks', so this one can run next to them).
    #[arg(long, default_value_t = 780)]
    port_offset: u16,
    /// Keep the temporary directory (cluster data and log, repository) instead of removing it.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: &RestoreArgs) -> Result<(), String> {
    setup::with_cluster("restore", args.port_offset, args.keep, |bench| restore_bench(bench, args))
}

fn restore_bench(bench: &mut Bench, args: &RestoreArgs) -> Result<(), String> {
    bench.prepare()?;
    println!();
    println!("bench restore: setup (bench backup's part 1): the table, backed up to {REPO}");
    let loaded = bench.load_throughput_table(&args.throughput)?;
    let BackedUp { snapshot, .. } = bench.backup_throughput_table(&args.throughput, &loaded)?;

    println!();
    println!("bench restore: RESTORE next to cp -r of the snapshot's files");
    let restore = timed_restore(bench, &snapshot, args.throughput.throughput_poll_ms)?;
    check_restored(bench, &snapshot)?;

    bench.drop_caches();
    let copy = bench.temp.path().join("cp-r");
    std::fs::create_dir_all(&copy).map_err(|e| format!("creating {}: {e}", copy.display()))?;
    let cp = files::timed_cp("-r", &[(std::slice::from_ref(&snapshot.dir), copy.clone())])?;
    let copied = Stats::of_tree(&copy)?;
    println!(
        "  cp -r of {} into the fresh directory {}: {:.2} s = {:.1} MB/s ({} files, {:.1} MB copied); cp {}",
        snapshot.dir.display(),
        copy.display(),
        cp.wall.as_secs_f64(),
        rate(snapshot.all.bytes, cp.wall),
        copied.files,
        mb(copied.bytes as f64),
        cp.cpu_text()
    );
    if copied != snapshot.all {
        return Err(format!(
            "cp -r copied {} files of {} bytes, but the snapshot holds {} of {} bytes",
            copied.files, copied.bytes, snapshot.all.files, snapshot.all.bytes
        ));
    }
    println!("  restore / cp -r = {:.1}", ratio(restore.wall, cp.wall));
    // A restore syncs every file it lands before it says FINISHED; cp -r leaves its writes in
    // the page cache. The same copy made durable:
    let sync = files::timed_sync()?;
    let durable = cp.wall + sync;
    println!(
        "  then sync (cp -r's writes reach the disk, as a restore's do before FINISHED): {:.2} s; cp -r + sync = {:.2} s; \
         restore / (cp -r + sync) = {:.1}",
        sync.as_secs_f64(),
        durable.as_secs_f64(),
        ratio(restore.wall, durable)
    );
    std::fs::remove_dir_all(&copy).map_err(|e| format!("removing {}: {e}", copy.display()))?;

    println!();
    println!("bench restore: summary");
    println!(
        "  RESTORE of {:.1} MB in {} rowset files ({} files in all, {} bytes) from {REPO}: {:.2} s = {:.1} MB/s; \
         cp -r {:.2} s = {:.1} MB/s; restore / cp -r = {:.1}; restore / (cp -r + sync) = {:.1}",
        mb(snapshot.all.bytes as f64),
        snapshot.rowsets.files,
        snapshot.all.files,
        snapshot.all.bytes,
        restore.wall.as_secs_f64(),
        rate(snapshot.all.bytes, restore.wall),
        cp.wall.as_secs_f64(),
        rate(snapshot.all.bytes, cp.wall),
        ratio(restore.wall, cp.wall),
        ratio(restore.wall, durable),
    );
    Ok(())
}

/// Runs RESTORE of the snapshot into [`RESTORED_TABLE`] (page cache dropped first) and watches it
/// to FINISHED; the time from the statement to the poll that first showed FINISHED, and the
/// cluster's CPU time meanwhile.
fn timed_restore(bench: &mut Bench, snapshot: &Snapshot, poll_ms: u64) -> Result<Timed, String> {
    let statement = format!(
        "RESTORE SNAPSHOT {DB}.{THROUGHPUT_LABEL} FROM {REPO} ON ({THROUGHPUT_TABLE} AS {RESTORED_TABLE}) \
         PROPERTIES (\"backup_timestamp\" = \"{}\", \"replication_num\" = \"1\");",
        snapshot.timestamp
    );
    bench.drop_caches();
    println!("  {statement}");
    let cluster = bench.cluster;
    let start = bench.start();
    bench.sql(&statement)?;
    let every = Duration::from_millis(poll_ms);
    let watched = cluster::watch_restore(&mut bench.session, DB, THROUGHPUT_LABEL, every, &|| cluster.cpu_time())?;
    println!("    states first seen (polled every {poll_ms} ms): {}", watched.timeline(start.at));
    setup::print_phases(&watched, &start);
    setup::print_show_times(
        "SHOW RESTORE",
        &watched,
        &["CreateTime", "MetaPreparedTime", "SnapshotFinishedTime", "DownloadFinishedTime", "FinishedTime"],
    );
    let row = &watched.last_row;
    println!(
        "    SHOW RESTORE at FINISHED: UnfinishedTasks [{}], Progress [{}], TaskErrMsg [{}], Status {}",
        field(row, "UnfinishedTasks").unwrap_or("?"),
        field(row, "Progress").unwrap_or("?"),
        field(row, "TaskErrMsg").unwrap_or("?"),
        field(row, "Status").unwrap_or("?")
    );
    match &watched.last_progress {
        Some((state, progress)) => println!("    last Progress the polls showed (in {state}): {progress}"),
        None => println!("    the polls never showed a Progress ({} polls)", watched.polls),
    }
    let wall = watched.seen("FINISHED").unwrap_or_else(Instant::now).duration_since(start.at);
    let cpu = watched.states.last().and_then(|s| s.cpu).zip(start.cpu).map(|(end, begin)| end.saturating_sub(begin));
    let timed = Timed { wall, cpu };
    println!(
        "  RESTORE: {:.2} s from the statement to FINISHED = {:.1} MB/s of the snapshot's files; palo-node {}",
        wall.as_secs_f64(),
        rate(snapshot.all.bytes, wall),
        timed.cpu_text()
    );
    Ok(timed)
}

/// Checks the restore did its job: the restored table has the source's rows (by the backends'
/// reports, and by SELECT count(*) where the FE's query row limit allows it), and its tablets'
/// rowset files are the snapshot's (as many, as many bytes).
fn check_restored(bench: &mut Bench, snapshot: &Snapshot) -> Result<(), String> {
    let (source, restored) = (format!("{DB}.{THROUGHPUT_TABLE}"), format!("{DB}.{RESTORED_TABLE}"));
    // The source's reports settled long ago; the restored tablets are reported with the next
    // heartbeats after the job ends.
    let (source_rows, _) = cluster::reported_rows(bench.cluster, &source)?;
    let started = Instant::now();
    let (restored_rows, replicas) = loop {
        let (rows, replicas) = cluster::reported_rows(bench.cluster, &restored)?;
        if rows == source_rows || started.elapsed() > REPORT_WAIT {
            break (rows, replicas);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!(
        "  check: rows by SHOW TABLETS' RowCount (the backends' reports): {source} {source_rows}, {restored} \
         {restored_rows} ({replicas} replicas; seen {:.1} s after FINISHED)",
        started.elapsed().as_secs_f64()
    );
    if restored_rows != source_rows {
        return Err(format!(
            "the backends report {restored_rows} rows in the restored table {restored} ({} s after the job \
             finished), but {source_rows} in {source}",
            REPORT_WAIT.as_secs()
        ));
    }
    match (count_rows(bench, &source), count_rows(bench, &restored)) {
        (Ok(a), Ok(b)) => {
            println!("  check: SELECT count(*): {source} {a} rows, {restored} {b} rows");
            if a != b || a != source_rows {
                return Err(format!(
                    "SELECT count(*) says {b} rows in the restored table {restored} and {a} in {source} (the \
                     backends report {source_rows})"
                ));
            }
        }
        (Err(e), _) | (Ok(_), Err(e)) if e.contains(QUERY_LIMIT_ERROR) => println!(
            "  check: SELECT count(*) is refused for a table this large (the FE's query row limit: {}); the rows \
             were counted by the backends' reports only",
            e.rsplit_once("detailMessage = ").map_or(e.as_str(), |(_, message)| message).trim()
        ),
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
    }

    let ids: BTreeSet<i64> = cluster::tablet_ids(bench.cluster, &restored)?;
    let dirs = TabletDirs::find(bench.cluster.data_dir(), &ids)?;
    let rowsets = dirs.rowsets()?;
    println!(
        "  check: {restored} has {} tablets; on disk {} rowset files, {} bytes ({:.1} MB) in {} tablet directories \
         on {} backends; the snapshot's rowset files: {}, {} bytes; difference {} files, {} bytes",
        ids.len(),
        rowsets.files,
        rowsets.bytes,
        mb(rowsets.bytes as f64),
        dirs.count(),
        dirs.per_backend.len(),
        snapshot.rowsets.files,
        snapshot.rowsets.bytes,
        rowsets.files as i64 - snapshot.rowsets.files as i64,
        rowsets.bytes as i64 - snapshot.rowsets.bytes as i64
    );
    if dirs.count() != ids.len() {
        return Err(format!(
            "found {} tablet directories for the {} tablets of {restored} (one replica each)",
            dirs.count(),
            ids.len()
        ));
    }
    if rowsets != snapshot.rowsets {
        return Err(format!(
            "the restored tablets of {restored} hold {} rowset files of {} bytes, but the snapshot holds {} of {} \
             bytes (a restored rowset file keeps its backed-up size)",
            rowsets.files, rowsets.bytes, snapshot.rowsets.files, snapshot.rowsets.bytes
        ));
    }
    Ok(())
}

/// `SELECT count(*)` of `table`.
fn count_rows(bench: &mut Bench, table: &str) -> Result<u64, String> {
    let out = bench.sql(&format!("SELECT count(*) FROM {table}\\G"))?;
    let rows = parse_vertical(&out);
    let value = rows
        .first()
        .and_then(|r| r.first())
        .map(|(_, v)| v.trim().to_string())
        .ok_or_else(|| format!("SELECT count(*) FROM {table} answered:\n{out}"))?;
    value.parse().map_err(|e| format!("SELECT count(*) FROM {table} answered {value:?}: {e}"))
}
