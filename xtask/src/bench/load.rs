//! `cargo xtask bench [load]`: the bulk-load benchmark. Builds the release binaries, starts a
//! local cluster (`palo-node standalone`: one FE, three BEs) in a temporary directory, creates a
//! table (3 replicas by default; `--partitions` range partitions of `--buckets` tablets each),
//! runs one `INSERT INTO ... SELECT ... FROM numbers(...)` and reports the CREATE TABLE time,
//! rows/s and MB/s (MB of rows as stored in one replica, as SHOW PARTITIONS counts them); with
//! `--sessions`, that many sessions then run `--inserts` small INSERTs each into the table at
//! once. A measurement, not a test: it never fails on a number.

use std::time::{Duration, Instant};

use super::cluster::{self, Cluster, TempDir};

pub const ABOUT: &str = "Build palo-node and palo in release mode, start a local cluster \
                         (palo-node standalone: one FE, three BEs) in a temporary directory, \
                         create a table with 3 replicas and load it with one INSERT ... SELECT \
                         FROM numbers(...). Prints the wall time, rows/s and MB/s. A \
                         measurement, not a test: it fails only if the load fails.";

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Rows to load (about 95 bytes each as stored; 11500000 is just over 1 GiB).
    #[arg(long, default_value_t = 11_500_000)]
    rows: u64,
    /// Buckets of the table (one tablet per bucket; 3 replicas each).
    #[arg(long, default_value_t = 12)]
    buckets: u32,
    /// Range partitions of the table, splitting the rows evenly (each has --buckets tablets).
    #[arg(long, default_value_t = 1)]
    partitions: u32,
    /// Replicas of every tablet (1 to 3: the cluster has three backends).
    #[arg(long, default_value_t = 3)]
    replication: u32,
    /// After the bulk load: sessions that each run --inserts small INSERTs into the table at once.
    #[arg(long, default_value_t = 0)]
    sessions: u32,
    /// INSERT statements per session (10 rows each).
    #[arg(long, default_value_t = 20)]
    inserts: u32,
    /// Port offset for the local cluster (9020, 9030, 9060.. plus this).
    #[arg(long, default_value_t = 700)]
    port_offset: u16,
}

pub fn run(args: &LoadArgs) -> Result<(), String> {
    if !(1..=3).contains(&args.replication) || args.partitions == 0 || args.buckets == 0 {
        return Err("--replication is 1 to 3, --partitions and --buckets at least 1".into());
    }
    let bin = cluster::build_release()?;
    let temp = TempDir::new("palo-bench", false)?;
    let cluster =
        Cluster::start(&bin, &temp.path().join("data"), &temp.path().join("node.log"), args.port_offset, &[])?;
    cluster.sql("CREATE DATABASE bench", 30)?;
    let tablets = u64::from(args.partitions) * u64::from(args.buckets);
    let created = Instant::now();
    cluster.sql(&create_table(args), 3_600)?;
    let create_s = created.elapsed().as_secs_f64();
    println!(
        "bench: CREATE TABLE of {} partitions x {} buckets ({} tablets, {} replicas each): {:.1} s",
        args.partitions, args.buckets, tablets, args.replication, create_s
    );
    let insert = format!(
        "INSERT INTO bench.t SELECT number, number % 1000, concat('payload-', number, \
         '-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz') FROM numbers(\"number\" = \"{}\")",
        args.rows
    );
    eprintln!("bench: loading {} rows into {} replicas x {} tablets", args.rows, args.replication, tablets);
    let load_started = Instant::now();
    cluster.sql(&insert, 3_600)?;
    let seconds = load_started.elapsed().as_secs_f64();

    // Sizes come from the backends' tablet reports (every heartbeat): wait for them.
    let size_bytes = cluster::table_data_size(&cluster, "bench.t", Duration::from_secs(20))?;
    let mb = cluster::mb(size_bytes);
    let r = f64::from(args.replication);
    println!(
        "bench: bulk load of {} rows, {:.1} MB (one replica; {} replicas written)",
        args.rows, mb, args.replication
    );
    println!(
        "bench: {:.1} s, {:.0} rows/s, {:.1} MB/s ({:.1} MB/s across {} replicas)",
        seconds,
        args.rows as f64 / seconds,
        mb / seconds,
        r * mb / seconds,
        args.replication
    );
    if args.sessions > 0 {
        sessions(&cluster, args)?;
    }
    let count = cluster.sql("SELECT count(*) FROM bench.t", 600)?;
    println!("bench: SELECT count(*) says:\n{count}");
    Ok(())
}

fn create_table(args: &LoadArgs) -> String {
    let per_partition = args.rows.div_ceil(u64::from(args.partitions)).max(1);
    let partitions = if args.partitions == 1 {
        String::new()
    } else {
        let list: Vec<String> = (1..=u64::from(args.partitions))
            .map(|i| {
                let bound = if i == u64::from(args.partitions) {
                    "MAXVALUE".to_string()
                } else {
                    format!("(\"{}\")", i * per_partition)
                };
                format!("PARTITION p{i} VALUES LESS THAN {bound}")
            })
            .collect();
        format!("PARTITION BY RANGE(id) ({}) ", list.join(", "))
    };
    format!(
        "CREATE TABLE bench.t (id BIGINT NOT NULL, k INT NOT NULL, payload VARCHAR(128)) DUPLICATE KEY(id) \
         {partitions}DISTRIBUTED BY HASH(id) BUCKETS {} PROPERTIES (\"replication_num\" = \"{}\")",
        args.buckets, args.replication
    )
}

/// `--sessions` sessions at once, each running `--inserts` INSERTs of 10 rows; every one must
/// succeed. Prints the wall time of the slowest session.
fn sessions(cluster: &Cluster, args: &LoadArgs) -> Result<(), String> {
    let mut open = Vec::new();
    for _ in 0..args.sessions {
        open.push(cluster.session(600)?);
    }
    let started = Instant::now();
    let inserts = args.inserts;
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = open
            .into_iter()
            .enumerate()
            .map(|(s, mut session)| {
                scope.spawn(move || {
                    for i in 0..u64::from(inserts) {
                        let base = 10_000_000_000 + (s as u64 * 1_000_000) + i * 10;
                        let values: Vec<String> =
                            (base..base + 10).map(|id| format!("({id}, {s}, 'session-{s}-{i}')")).collect();
                        session.query(&format!("INSERT INTO bench.t VALUES {};", values.join(", ")))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a session thread panicked".into()))).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if let Some(first) = failed.first() {
        return Err(format!("{} of {} sessions failed; the first: {first}", failed.len(), args.sessions));
    }
    println!(
        "bench: {} sessions x {} INSERTs (10 rows each) into one table at once: {:.2} s, {:.0} INSERTs/s",
        args.sessions,
        args.inserts,
        seconds,
        f64::from(args.sessions * args.inserts) / seconds
    );
    Ok(())
}
