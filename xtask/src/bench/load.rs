//! `cargo xtask bench [load]`: the bulk-load benchmark. Builds the release binaries, starts a
//! local cluster (`palo-node standalone`: one FE, three BEs) in a temporary directory, creates a
//! table with 3 replicas, runs one `INSERT INTO ... SELECT ... FROM numbers(...)` and reports
//! rows/s and MB/s (MB of rows as stored in one replica, as SHOW PARTITIONS counts them). A
//! measurement, not a test: it never fails on a number.

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
    /// Port offset for the local cluster (9020, 9030, 9060.. plus this).
    #[arg(long, default_value_t = 700)]
    port_offset: u16,
}

pub fn run(args: &LoadArgs) -> Result<(), String> {
    let bin = cluster::build_release()?;
    let temp = TempDir::new("palo-bench", false)?;
    let cluster =
        Cluster::start(&bin, &temp.path().join("data"), &temp.path().join("node.log"), args.port_offset, &[])?;
    cluster.sql("CREATE DATABASE bench", 30)?;
    cluster.sql(
        &format!(
            "CREATE TABLE bench.t (id BIGINT NOT NULL, k INT NOT NULL, payload VARCHAR(128)) DUPLICATE KEY(id) \
             DISTRIBUTED BY HASH(id) BUCKETS {} PROPERTIES (\"replication_num\" = \"3\")",
            args.buckets
        ),
        30,
    )?;
    let insert = format!(
        "INSERT INTO bench.t SELECT number, number % 1000, concat('payload-', number, \
         '-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz') FROM numbers(\"number\" = \"{}\")",
        args.rows
    );
    eprintln!("bench: loading {} rows into 3 replicas x {} tablets", args.rows, args.buckets);
    let load_started = Instant::now();
    cluster.sql(&insert, 3_600)?;
    let seconds = load_started.elapsed().as_secs_f64();

    // Sizes come from the backends' tablet reports (every heartbeat): wait for them.
    let size_bytes = cluster::table_data_size(&cluster, "bench.t", Duration::from_secs(20))?;
    let count = cluster.sql("SELECT count(*) FROM bench.t", 600)?;
    let mb = cluster::mb(size_bytes);
    println!("bench: bulk load of {} rows, {:.1} MB (one replica; 3 replicas written)", args.rows, mb);
    println!(
        "bench: {:.1} s, {:.0} rows/s, {:.1} MB/s ({:.1} MB/s across 3 replicas)",
        seconds,
        args.rows as f64 / seconds,
        mb / seconds,
        3.0 * mb / seconds
    );
    println!("bench: SELECT count(*) says:\n{count}");
    Ok(())
}
