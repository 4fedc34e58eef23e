//! `cargo xtask bench`: the bulk-load benchmark. Builds the release binaries, starts a local
//! cluster (`palo-node standalone`: one FE, three BEs) in a temporary directory, creates a table
//! with 3 replicas, runs one `INSERT INTO ... SELECT ... FROM numbers(...)` and reports rows/s and
//! MB/s (MB of rows as stored in one replica, as SHOW PARTITIONS counts them). A measurement, not
//! a test: it never fails on a number.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
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

/// Kills the cluster when the benchmark ends, however it ends.
struct Cluster(Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn palo_sql(bin: &Path, fe: &str, statement: &str, timeout_secs: u64) -> Result<String, String> {
    let output = Command::new(bin.join("palo"))
        .args(["sql", "--fe", fe, "--timeout-secs", &timeout_secs.to_string(), "-e", statement])
        .output()
        .map_err(|e| format!("running palo sql: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{statement}` failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Parses `1.234 GB` (Doris's size format) into bytes.
fn parse_size(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let value: f64 = parts.next()?.parse().ok()?;
    let unit = match parts.next()? {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value * unit)
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    let root = cmd::workspace_root();
    cmd::run(Command::new(cmd::cargo_program()).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "palo-node",
        "-p",
        "palo-cli",
    ]))?;
    let bin = root.join("target").join("release");
    let data: PathBuf = std::env::temp_dir().join(format!("palo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
    let child = Command::new(bin.join("palo-node"))
        .args(["standalone", "--data"])
        .arg(&data)
        .args(["--port-offset", &args.port_offset.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting palo-node standalone: {e}"))?;
    let _cluster = Cluster(child);
    let fe = format!("127.0.0.1:{}", 9020 + args.port_offset);

    // Wait until the three backends are alive.
    let started = Instant::now();
    loop {
        if let Ok(out) = palo_sql(&bin, &fe, "SHOW BACKENDS", 10)
            && out.matches("| true ").count() >= 3
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the local cluster did not come up within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    palo_sql(&bin, &fe, "CREATE DATABASE bench", 30)?;
    palo_sql(
        &bin,
        &fe,
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
    palo_sql(&bin, &fe, &insert, 3_600)?;
    let seconds = load_started.elapsed().as_secs_f64();

    // Sizes come from the backends' tablet reports (every heartbeat): wait for them.
    let mut size_bytes = 0.0;
    for _ in 0..40 {
        let partitions = palo_sql(&bin, &fe, "SHOW PARTITIONS FROM bench.t\\G", 30)?;
        size_bytes = partitions
            .lines()
            .filter_map(|l| l.trim().strip_prefix("DataSize:"))
            .filter_map(|v| parse_size(v.trim()))
            .sum();
        if size_bytes > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let count = palo_sql(&bin, &fe, "SELECT count(*) FROM bench.t", 600)?;
    let mb = size_bytes / (1024.0 * 1024.0);
    println!("bench: bulk load of {} rows, {:.1} MB (one replica; 3 replicas written)", args.rows, mb);
    println!(
        "bench: {:.1} s, {:.0} rows/s, {:.1} MB/s ({:.1} MB/s across 3 replicas)",
        seconds,
        args.rows as f64 / seconds,
        mb / seconds,
        3.0 * mb / seconds
    );
    println!("bench: SELECT count(*) says:\n{count}");
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_doris_prints_them() {
        assert_eq!(parse_size("1.500 KB"), Some(1536.0));
        assert_eq!(parse_size("2.000 GB"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_size("x"), None);
    }
}
