//! `cargo xtask bench scale`: BACKUP and RESTORE of nearly empty tables of many tablets, to see
//! how a job's cost grows with tablets (it should grow linearly: the time per tablet the same at
//! every size). A measurement, not a test: it fails only on errors (a job cancelled, a snapshot
//! missing, a restored table without its rows), never on a number.
//!
//! For each size N of `--tablets`: T tables of P range partitions x B buckets = N tablets (B at
//! most 1 024, T the fewest tables of at most 64 partitions: a table holds at most 65 536
//! tablets), one replica each, holding `--rows` rows; BACKUP of them, then RESTORE of that
//! snapshot into new tables; each timed from the statement to FINISHED with the time in each
//! state and the CPU palo-node used. Then a summary: time and CPU per tablet at each size, and
//! how the time per tablet grew from the smallest size to the largest.

use std::time::{Duration, Instant};

use super::cluster::{self, Watched, field, parse_vertical};
use super::setup::{self, Bench, DB, REPO, Start};

pub const ABOUT: &str = "Build palo-node and palo in release mode and start a local cluster \
    (palo-node standalone: one FE, three BEs, a broker; compaction held off) in a temporary \
    directory, which also holds a file:// repository (WITH BROKER local_broker); it is removed at \
    the end.\n\n\
    For each size N of --tablets (in order): CREATE TABLE of P range partitions x B buckets = N \
    tablets (B = N / P with P the fewest partitions that keep B <= 1024; N must split so; above \
    65 536 tablets, the fewest tables of at most 64 partitions each, as a table holds at most \
    65 536 tablets), replication_num = 1, and --rows rows in one INSERT per table (spread over \
    the partitions); BACKUP SNAPSHOT ON those tables, timed from the statement to FINISHED (SHOW BACKUP polled every \
    --poll-ms), with the time in each state and palo-node's busy cores; then RESTORE SNAPSHOT of \
    it into new tables (replication_num = 1), timed the same way, and the restored tables' row \
    counts checked by SELECT count(*).\n\n\
    Prints, for each size: backup and restore time, time and CPU per tablet, palo-node's resident \
    memory after the restore; and the growth of the time per tablet from the smallest size to \
    the largest (1.0 is linear growth of a job's cost with tablets). Then a table of one tablet \
    holding --versions rowsets (one INSERT of one row each), backed up and restored the same \
    way, with files/s. Last, the cluster is killed \
    (SIGKILL) and started again on its data, the FE holding every table and its restored copy: \
    the time until it answers with its backends alive (journal replay included), the journal's \
    size, palo-node's resident memory, and the time of SHOW PARTITIONS and SHOW TABLETS of the \
    largest size's tables. A measurement, not a test: it fails only on errors, never on a number.";

/// Buckets of one partition at most (as `CREATE TABLE` allows).
const MAX_BUCKETS: u32 = 1_024;
/// Partitions of one table at most (a table holds at most 65 536 tablets).
const MAX_PARTITIONS_PER_TABLE: u32 = 64;
/// Rows of each range partition's key range.
const PARTITION_SPAN: u64 = 1_000_000;

#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// Table sizes, in tablets (comma-separated; each a multiple of its partition count).
    #[arg(long, value_delimiter = ',', default_values_t = [2_048u32, 8_192, 32_768])]
    tablets: Vec<u32>,
    /// Rows loaded into each table (one INSERT), spread over its partitions.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    rows: u64,
    /// Rowsets of the one-tablet table backed up and restored after the sizes (0: none).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(0..=2_000))]
    versions: u32,
    /// Milliseconds between two polls of SHOW BACKUP / SHOW RESTORE.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    poll_ms: u64,
    /// Port offset for the local cluster (9020, 9030, 9060.., 8000 plus this).
    #[arg(long, default_value_t = 840)]
    port_offset: u16,
    /// Keep the temporary directory (cluster data, repository) instead of removing it.
    #[arg(long)]
    keep: bool,
}

/// One size's results.
struct Measured {
    tablets: u32,
    backup: Timed,
    restore: Timed,
    rss_kib: Option<u64>,
}

/// A job's wall time and palo-node's CPU time meanwhile.
#[derive(Clone, Copy)]
struct Timed {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Timed {
    fn per_tablet_ms(&self, tablets: u32) -> f64 {
        self.wall.as_secs_f64() * 1e3 / f64::from(tablets)
    }

    fn cpu_per_tablet_ms(&self, tablets: u32) -> String {
        self.cpu.map_or("?".into(), |c| format!("{:.2}", c.as_secs_f64() * 1e3 / f64::from(tablets)))
    }
}

pub fn run(args: &ScaleArgs) -> Result<(), String> {
    let shapes: Vec<Shape> = args.tablets.iter().map(|&n| shape(n)).collect::<Result<_, _>>()?;
    let held: u32 = shapes.iter().map(|s| 2 * s.tablets()).sum();
    let largest = shapes.iter().copied().max_by_key(Shape::tablets).ok_or("--tablets: no size given")?;
    setup::with_cluster_restarted(
        "scale",
        args.port_offset,
        args.keep,
        |bench| {
            bench.prepare()?;
            let mut measured = Vec::new();
            for &size in &shapes {
                measured.push(one_size(bench, args, size)?);
            }
            summary(&measured);
            if args.versions > 0 {
                many_versions(bench, args)?;
            }
            Ok(())
        },
        Some(|bench: &mut Bench, up: Duration| restarted(bench, up, held, largest)),
    )
}

/// The FE holding every table (each size's and its restored copy): the cluster's restart
/// (killed, then started on its data), its resident memory, and SHOW PARTITIONS and SHOW
/// TABLETS of the largest size's tables.
fn restarted(bench: &mut Bench, up: Duration, held: u32, largest: Shape) -> Result<(), String> {
    let meta = bench.cluster.data_dir().join("fe").join("meta");
    let journal_bytes: u64 = std::fs::read_dir(&meta)
        .map_err(|e| format!("reading {}: {e}", meta.display()))?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!();
    println!(
        "bench scale: the cluster killed (SIGKILL) and started again on its data, the FE holding {held} tablets: \
         answering with 3 backends alive in {:.2} s (journal and image: {:.1} MiB); palo-node (FE, 3 BEs, broker) \
         resident {}",
        up.as_secs_f64(),
        journal_bytes as f64 / (1024.0 * 1024.0),
        resident_kib(bench.cluster.pid()).map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
    );
    for table in largest.table_names() {
        for show in ["PARTITIONS", "TABLETS"] {
            let at = Instant::now();
            let out = bench.sql(&format!("SHOW {show} FROM {DB}.{table};"))?;
            let rows = out.lines().filter(|l| l.starts_with("| ")).count().saturating_sub(1);
            println!("  SHOW {show} FROM {table}: {rows} rows in {:.2} s", at.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// How one size is laid out: `tables` tables of `partitions` partitions of `buckets` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    tables: u32,
    partitions: u32,
    buckets: u32,
}

impl Shape {
    fn tablets(&self) -> u32 {
        self.tables * self.partitions * self.buckets
    }

    /// The tables of this size: `t<N>`, or `t<N>_<i>` when there are several.
    fn table_names(&self) -> Vec<String> {
        let tablets = self.tablets();
        if self.tables == 1 {
            vec![format!("t{tablets}")]
        } else {
            (0..self.tables).map(|i| format!("t{tablets}_{i}")).collect()
        }
    }
}

/// The shape of `tablets` tablets: the fewest partitions of at most [`MAX_BUCKETS`] buckets
/// each, in the fewest tables of at most [`MAX_PARTITIONS_PER_TABLE`] partitions.
fn shape(tablets: u32) -> Result<Shape, String> {
    if tablets == 0 {
        return Err("--tablets: a table has at least one tablet".into());
    }
    let all_partitions = tablets.div_ceil(MAX_BUCKETS);
    let tables = all_partitions.div_ceil(MAX_PARTITIONS_PER_TABLE);
    if !tablets.is_multiple_of(all_partitions) || !all_partitions.is_multiple_of(tables) {
        return Err(format!(
            "--tablets {tablets}: needs {all_partitions} partitions of at most {MAX_BUCKETS} buckets in {tables} \
             table(s) of at most {MAX_PARTITIONS_PER_TABLE}, and {tablets} does not split so; pick a multiple of \
             {}",
            MAX_BUCKETS * tables
        ));
    }
    Ok(Shape { tables, partitions: all_partitions / tables, buckets: tablets / all_partitions })
}

fn one_size(bench: &mut Bench, args: &ScaleArgs, size: Shape) -> Result<Measured, String> {
    let Shape { tables: table_count, partitions, buckets } = size;
    let tablets = size.tablets();
    let tables = size.table_names();
    println!();
    println!(
        "bench scale: {tablets} tablets ({table_count} table(s) of {partitions} partitions x {buckets} buckets), {} \
         rows per table",
        args.rows
    );
    let created = Instant::now();
    let ranges: Vec<String> = (0..u64::from(partitions))
        .map(|p| format!("PARTITION p{p} VALUES [(\"{}\"), (\"{}\"))", p * PARTITION_SPAN, (p + 1) * PARTITION_SPAN))
        .collect();
    let values: Vec<String> =
        (0..args.rows).map(|i| format!("({}, 'r{i}')", (i % u64::from(partitions)) * PARTITION_SPAN + i)).collect();
    for table in &tables {
        bench.sql(&format!(
            "CREATE TABLE {DB}.{table} (id BIGINT NOT NULL, v VARCHAR(16)) DUPLICATE KEY(id) PARTITION BY RANGE(id) \
             ({}) DISTRIBUTED BY HASH(id) BUCKETS {buckets} PROPERTIES (\"replication_num\" = \"1\");",
            ranges.join(", ")
        ))?;
        bench.sql(&format!("INSERT INTO {DB}.{table} VALUES {};", values.join(", ")))?;
    }
    println!("  CREATE TABLE and INSERT: {:.2} s", created.elapsed().as_secs_f64());

    let label = format!("scale_{tablets}");
    let on = tables.join(", ");
    println!("  BACKUP SNAPSHOT {DB}.{label} ON ({on}):");
    bench.drop_caches();
    let (start, watched) = bench.backup(&label, &on, args.poll_ms)?;
    let backup = finished(&start, &watched, "BACKUP")?;
    let timestamp = snapshot_timestamp(bench, &label)?;

    let restore = restore_timed(bench, &label, &timestamp, &tables, args.rows, args.poll_ms)?;
    let cluster = bench.cluster;
    let rss_kib = resident_kib(cluster.pid());
    println!(
        "  {tablets} tablets: BACKUP {:.2} s ({:.3} ms/tablet), RESTORE {:.2} s ({:.3} ms/tablet); restored rows \
         checked; palo-node resident {}",
        backup.wall.as_secs_f64(),
        backup.per_tablet_ms(tablets),
        restore.wall.as_secs_f64(),
        restore.per_tablet_ms(tablets),
        rss_kib.map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
    );
    Ok(Measured { tablets, backup, restore, rss_kib })
}

/// RESTORE of snapshot `label` (at `timestamp`) of `tables` into `<table>_r`, timed from the
/// statement to FINISHED; each restored table must hold `rows` rows.
fn restore_timed(
    bench: &mut Bench,
    label: &str,
    timestamp: &str,
    tables: &[String],
    rows: u64,
    poll_ms: u64,
) -> Result<Timed, String> {
    let renames: Vec<String> = tables.iter().map(|t| format!("{t} AS {t}_r")).collect();
    let statement = format!(
        "RESTORE SNAPSHOT {DB}.{label} FROM {REPO} ON ({}) PROPERTIES (\"backup_timestamp\" = \"{timestamp}\", \
         \"replication_num\" = \"1\");",
        renames.join(", ")
    );
    println!("  {statement}");
    bench.drop_caches();
    let cluster = bench.cluster;
    let start = bench.start();
    bench.sql(&statement)?;
    let every = Duration::from_millis(poll_ms);
    let watched = cluster::watch_restore(&mut bench.session, DB, label, every, &|| cluster.cpu_time())?;
    println!("    states first seen (polled every {poll_ms} ms): {}", watched.timeline(start.at));
    setup::print_phases(&watched, &start);
    let restore = finished(&start, &watched, "RESTORE")?;
    for table in tables {
        let restored = format!("{table}_r");
        let count = bench.sql(&format!("SELECT count(*) FROM {DB}.{restored}\\G"))?;
        let counted = parse_vertical(&count);
        let got = counted.first().and_then(|r| field(r, "count(*)")).unwrap_or("?");
        if got != rows.to_string() {
            return Err(format!("the restored table {restored} holds {got} rows, not the {rows} loaded"));
        }
    }
    Ok(restore)
}

/// BACKUP and RESTORE of one tablet of `versions` one-row rowsets (compaction held off): the
/// per-file costs, paid per batch or per file.
fn many_versions(bench: &mut Bench, args: &ScaleArgs) -> Result<(), String> {
    let versions = args.versions;
    let table = "tv".to_string();
    println!();
    println!("bench scale: 1 tablet of {versions} rowsets (one INSERT of one row each; compaction held off)");
    bench.sql(&format!(
        "CREATE TABLE {DB}.{table} (id BIGINT NOT NULL, v VARCHAR(16)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) \
         BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\");"
    ))?;
    let loaded = Instant::now();
    for i in 0..versions {
        bench.sql(&format!("INSERT INTO {DB}.{table} VALUES ({i}, 'v{i}');"))?;
    }
    println!("  {versions} INSERTs: {:.2} s", loaded.elapsed().as_secs_f64());
    let label = "scale_versions";
    println!("  BACKUP SNAPSHOT {DB}.{label} ON ({table}):");
    bench.drop_caches();
    let (start, watched) = bench.backup(label, &table, args.poll_ms)?;
    let backup = finished(&start, &watched, "BACKUP")?;
    let timestamp = snapshot_timestamp(bench, label)?;
    let restore = restore_timed(bench, label, &timestamp, &[table], u64::from(versions), args.poll_ms)?;
    let files = f64::from(versions + 1);
    println!(
        "  1 tablet of {versions} rowsets ({} files with its header): BACKUP {:.2} s ({:.0} files/s), RESTORE {:.2} s \
         ({:.0} files/s)",
        versions + 1,
        backup.wall.as_secs_f64(),
        files / backup.wall.as_secs_f64().max(1e-9),
        restore.wall.as_secs_f64(),
        files / restore.wall.as_secs_f64().max(1e-9),
    );
    Ok(())
}

/// The job's time from the statement to the poll that first showed FINISHED, and the CPU
/// palo-node used meanwhile.
fn finished(start: &Start, watched: &Watched, what: &str) -> Result<Timed, String> {
    let Some(at) = watched.seen("FINISHED") else {
        return Err(format!("{what} did not finish: states seen {}", watched.timeline(start.at)));
    };
    let cpu = watched.states.last().and_then(|s| s.cpu).zip(start.cpu).map(|(end, begin)| end.saturating_sub(begin));
    Ok(Timed { wall: at.duration_since(start.at), cpu })
}

/// SHOW SNAPSHOT's timestamp of `label` (what RESTORE's `backup_timestamp` names).
fn snapshot_timestamp(bench: &mut Bench, label: &str) -> Result<String, String> {
    let out = bench.sql(&format!("SHOW SNAPSHOT ON {REPO} WHERE SNAPSHOT = \"{label}\"\\G"))?;
    let rows = parse_vertical(&out);
    let row = rows.first().ok_or_else(|| format!("SHOW SNAPSHOT ON {REPO} does not show {label}:\n{out}"))?;
    match (field(row, "Status"), field(row, "Timestamp")) {
        (Some("OK"), Some(ts)) => Ok(ts.to_string()),
        (status, _) => Err(format!("SHOW SNAPSHOT ON {REPO} says {status:?} for {label}:\n{out}")),
    }
}

/// The resident memory of process `pid` (VmRSS), off Linux `None`.
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn summary(measured: &[Measured]) {
    println!();
    println!("bench scale: summary (one replica per tablet; palo-node's CPU per tablet in brackets)");
    println!(
        "  {:>8}  {:>10}  {:>16}  {:>10}  {:>16}  {:>9}",
        "tablets", "backup s", "ms/tablet", "restore s", "ms/tablet", "RSS MiB"
    );
    for m in measured {
        println!(
            "  {:>8}  {:>10.2}  {:>7.3} [{:>6}]  {:>10.2}  {:>7.3} [{:>6}]  {:>9}",
            m.tablets,
            m.backup.wall.as_secs_f64(),
            m.backup.per_tablet_ms(m.tablets),
            m.backup.cpu_per_tablet_ms(m.tablets),
            m.restore.wall.as_secs_f64(),
            m.restore.per_tablet_ms(m.tablets),
            m.restore.cpu_per_tablet_ms(m.tablets),
            m.rss_kib.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
        );
    }
    let (Some(small), Some(large)) =
        (measured.iter().min_by_key(|m| m.tablets), measured.iter().max_by_key(|m| m.tablets))
    else {
        return;
    };
    if large.tablets > small.tablets {
        let growth = |f: fn(&Measured) -> Timed| {
            f(large).per_tablet_ms(large.tablets) / f(small).per_tablet_ms(small.tablets).max(1e-9)
        };
        println!(
            "  time per tablet from {} to {} tablets: backup x{:.2}, restore x{:.2} (1.0: cost linear in tablets)",
            small.tablets,
            large.tablets,
            growth(|m| m.backup),
            growth(|m| m.restore),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_splits_into_the_fewest_partitions_of_at_most_1024_buckets() {
        let one = |partitions, buckets| Ok(Shape { tables: 1, partitions, buckets });
        assert_eq!(shape(256), one(1, 256));
        assert_eq!(shape(1024), one(1, 1024));
        assert_eq!(shape(20_480), one(20, 1024));
        assert_eq!(shape(3_000), one(3, 1000));
        assert_eq!(shape(65_536), one(64, 1024));
        assert_eq!(shape(102_400), Ok(Shape { tables: 2, partitions: 50, buckets: 1024 }));
        assert!(shape(1025).unwrap_err().contains("pick a multiple"));
        assert!(shape(100_000).unwrap_err().contains("pick a multiple of 2048"));
        assert!(shape(0).is_err());
    }
}
