//! A local release cluster for the benchmarks: building the binaries, a temporary directory that
//! goes away at the end, `palo-node standalone` started in it, SQL through the `palo` binary
//! (one-shot, or a long-lived session when polling must be fast), the vertical (`\G`) output
//! parsed into rows, and a BACKUP or RESTORE job watched through SHOW BACKUP or SHOW RESTORE until
//! it ends.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::cmd;

/// Builds `palo-node` and `palo` in release mode; the directory holding them.
pub fn build_release() -> Result<PathBuf, String> {
    let root = cmd::workspace_root();
    cmd::run(Command::new(cmd::cargo_program()).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "palo-node",
        "-p",
        "palo-cli",
    ]))?;
    Ok(root.join("target").join("release"))
}

/// A directory under the system's temporary directory, removed (with everything in it) when
/// dropped, unless kept.
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new(prefix: &str, keep: bool) -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| format!("removing the old {}: {e}", path.display()))?;
        }
        std::fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(TempDir { path, keep })
    }

    /// Whether the directory stays after the benchmark (`--keep`).
    pub fn kept(&self) -> bool {
        self.keep
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: kept {}", self.path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("bench: could not remove {}: {e}", self.path.display());
        }
    }
}

/// How long a starting cluster may take to show its backends alive.
const UP_WITHIN: Duration = Duration::from_secs(900);

/// A running `palo-node standalone` (one FE, three BEs, a broker), killed when dropped.
pub struct Cluster {
    child: Child,
    bin: PathBuf,
    fe: String,
    data: PathBuf,
    log: PathBuf,
}

impl Cluster {
    /// Starts `palo-node standalone --data <data>` (plus `extra_args`), its log in `log`, and
    /// waits until its three backends are shown alive.
    pub fn start(
        bin: &Path,
        data: &Path,
        log: &Path,
        port_offset: u16,
        extra_args: &[&str],
    ) -> Result<Cluster, String> {
        std::fs::create_dir_all(data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        let log_file = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let child = Command::new(bin.join("palo-node"))
            .args(["standalone", "--data"])
            .arg(data)
            .args(["--port-offset", &port_offset.to_string()])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting palo-node standalone: {e}"))?;
        let mut cluster = Cluster {
            child,
            bin: bin.to_path_buf(),
            fe: format!("127.0.0.1:{}", 9020 + u32::from(port_offset)),
            data: data.to_path_buf(),
            log: log.to_path_buf(),
        };
        let started = Instant::now();
        loop {
            if let Ok(out) = cluster.sql("SHOW BACKENDS", 10)
                && out.matches("| true ").count() >= 3
            {
                return Ok(cluster);
            }
            if let Ok(Some(status)) = cluster.child.try_wait() {
                return Err(format!(
                    "the local cluster exited ({status}); its log ends with:\n{}",
                    cluster.log_tail(20)
                ));
            }
            // Backends open every tablet before they serve: minutes with 10^5 of them.
            if started.elapsed() > UP_WITHIN {
                return Err(format!(
                    "the local cluster did not come up within {} s; its log ends with:\n{}",
                    UP_WITHIN.as_secs(),
                    cluster.log_tail(20)
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The cluster's data directory (`fe/`, `be0/`, `be1/`, ...).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The cluster's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU time (user + system, every thread) the cluster's process has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        super::cpu::of_process(self.child.id())
    }

    /// Runs `statements` with `palo sql -e` (a new client process); its standard output.
    pub fn sql(&self, statements: &str, timeout_secs: u64) -> Result<String, String> {
        let output = Command::new(self.bin.join("palo"))
            .args(["sql", "--fe", &self.fe, "--timeout-secs", &timeout_secs.to_string(), "-e", statements])
            .output()
            .map_err(|e| format!("running palo sql: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`{statements}` failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A long-lived `palo sql` reading statements from a pipe: no process start per statement,
    /// so a poll costs one request.
    pub fn session(&self, timeout_secs: u64) -> Result<SqlSession, String> {
        SqlSession::start(&self.bin, &self.fe, timeout_secs)
    }

    /// The last `lines` lines of the cluster's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Line {
    Out(String),
    Err(String),
    Closed,
}

/// One `palo sql` process fed statements on its standard input; each statement's output is read
/// up to the line that ends it (`N rows in set`, `Empty set`, `Query OK`), an error from its
/// standard error.
pub struct SqlSession {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    timeout: Duration,
}

impl SqlSession {
    fn start(bin: &Path, fe: &str, timeout_secs: u64) -> Result<SqlSession, String> {
        let mut child = Command::new(bin.join("palo"))
            .args(["sql", "--fe", fe, "--timeout-secs", &timeout_secs.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting palo sql: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().ok_or("palo sql has no stdout")?;
        let stderr = child.stderr.take().ok_or("palo sql has no stderr")?;
        let out_tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if out_tx.send(Line::Out(line)).is_err() {
                    return;
                }
            }
            let _ = out_tx.send(Line::Closed);
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(Line::Err(line)).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        // The statement's own timeout, and some slack for the client.
        let timeout = Duration::from_secs(timeout_secs + 10);
        Ok(SqlSession { child, stdin, lines, timeout })
    }

    /// Runs one statement, which must end with `;` or `\G`; its output, without the line that
    /// ends it.
    pub fn query(&mut self, statement: &str) -> Result<String, String> {
        let stdin = self.stdin.as_mut().ok_or("the palo sql session is closed")?;
        writeln!(stdin, "{statement}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("sending `{statement}` to palo sql: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        let mut out = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Line::Out(line)) => {
                    if ends_statement(&line) {
                        return Ok(out);
                    }
                    // The blank line after the previous statement's result.
                    if out.is_empty() && line.is_empty() {
                        continue;
                    }
                    out.push_str(&line);
                    out.push('\n');
                }
                Ok(Line::Err(line)) => {
                    let mut message = line;
                    while let Ok(Line::Err(more)) = self.lines.recv_timeout(Duration::from_millis(20)) {
                        message.push('\n');
                        message.push_str(&more);
                    }
                    return Err(format!("`{statement}` failed: {message}"));
                }
                Ok(Line::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    self.stdin = None;
                    return Err(format!("palo sql ended while running `{statement}`"));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer to `{statement}` within {} s", self.timeout.as_secs()));
                }
            }
        }
    }
}

impl Drop for SqlSession {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The line `palo sql` prints after a statement's result.
fn ends_statement(line: &str) -> bool {
    if line.starts_with("Empty set (") || line.starts_with("Query OK, ") {
        return true;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() >= 4
        && words[0].chars().all(|c| c.is_ascii_digit())
        && matches!(words[1], "row" | "rows")
        && words[2] == "in"
        && words[3] == "set"
}

/// One row of vertical output: (column, value) in order.
pub type Row = Vec<(String, String)>;

/// The rows of a statement ended with `\G` (`*** 1. row ***`, then `Column: value` lines; a
/// value's later lines are kept with it).
pub fn parse_vertical(text: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for line in text.lines() {
        if line.starts_with("***") && line.trim_end().ends_with("***") {
            rows.push(Vec::new());
            continue;
        }
        let Some(row) = rows.last_mut() else { continue };
        match line.split_once(": ") {
            Some((name, value)) if !name.trim().is_empty() && !name.trim().contains(' ') => {
                row.push((name.trim().to_string(), value.to_string()));
            }
            _ => {
                if let Some((_, value)) = row.last_mut() {
                    value.push('\n');
                    value.push_str(line);
                }
            }
        }
    }
    rows
}

/// The value of `column` in `row`.
pub fn field<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.iter().find(|(name, _)| name == column).map(|(_, value)| value.as_str())
}

/// Parses `1.234 GB` (Doris's size format) into bytes.
pub fn parse_size(text: &str) -> Option<f64> {
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

/// Bytes as MB (2^20).
pub fn mb(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// The sum of SHOW PARTITIONS' DataSize (one replica) of `table`, once the backends have
/// reported it: the first non-zero value that two reads a second apart agree on (or the last
/// one read after `wait`).
pub fn table_data_size(cluster: &Cluster, table: &str, wait: Duration) -> Result<f64, String> {
    let started = Instant::now();
    let mut last = -1.0;
    loop {
        let out = cluster.sql(&format!("SHOW PARTITIONS FROM {table}\\G"), 30)?;
        let size: f64 = parse_vertical(&out).iter().filter_map(|r| field(r, "DataSize")).filter_map(parse_size).sum();
        if (size > 0.0 && size == last) || started.elapsed() > wait {
            return Ok(size);
        }
        last = size;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The sum of SHOW TABLETS' RowCount of `table` over its replicas, as the backends last reported
/// them (with every heartbeat), and how many replicas were summed.
pub fn reported_rows(cluster: &Cluster, table: &str) -> Result<(u64, usize), String> {
    let out = cluster.sql(&format!("SHOW TABLETS FROM {table}\\G"), 60)?;
    let rows = parse_vertical(&out);
    let mut sum = 0u64;
    for row in &rows {
        let count = field(row, "RowCount").ok_or("SHOW TABLETS has no RowCount column")?;
        sum += count.trim().parse::<u64>().map_err(|e| format!("RowCount {count:?}: {e}"))?;
    }
    Ok((sum, rows.len()))
}

/// The distinct tablet ids of `table` (SHOW TABLETS).
pub fn tablet_ids(cluster: &Cluster, table: &str) -> Result<std::collections::BTreeSet<i64>, String> {
    let out = cluster.sql(&format!("SHOW TABLETS FROM {table}\\G"), 60)?;
    parse_vertical(&out)
        .iter()
        .map(|r| {
            let id = field(r, "TabletId").ok_or("SHOW TABLETS has no TabletId column")?;
            id.trim().parse::<i64>().map_err(|e| format!("TabletId {id:?}: {e}"))
        })
        .collect()
}

/// A state of a job, as first seen by a poll.
#[derive(Debug, Clone)]
pub struct Seen {
    pub state: String,
    /// When the poll that first showed it was answered.
    pub at: Instant,
    /// The cluster's CPU time then, if known.
    pub cpu: Option<Duration>,
}

/// What watching a job found: its states in the order first seen, its last SHOW row, and how
/// fine the polling was.
#[derive(Debug, Clone)]
pub struct Watched {
    pub states: Vec<Seen>,
    pub last_row: Row,
    pub polls: u64,
    /// The state and the Progress column of the last poll that showed a non-empty Progress while
    /// the job ran (before FINISHED or CANCELLED).
    pub last_progress: Option<(String, String)>,
    /// The longest and the mean round trip of one poll.
    pub max_round_trip: Duration,
    pub mean_round_trip: Duration,
}

impl Watched {
    /// When `state` was first seen.
    pub fn seen(&self, state: &str) -> Option<Instant> {
        self.states.iter().find(|s| s.state == state).map(|s| s.at)
    }

    /// When the first state after `state` was first seen.
    pub fn seen_after(&self, state: &str) -> Option<Instant> {
        let i = self.states.iter().position(|s| s.state == state)?;
        self.states.get(i + 1).map(|s| s.at)
    }

    /// Each state and how long after `start` it was first seen.
    pub fn timeline(&self, start: Instant) -> String {
        self.states
            .iter()
            .map(|s| format!("{} +{:.2}s", s.state, s.at.duration_since(start).as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Polls `SHOW BACKUP FROM db WHERE SnapshotName = "label"` every `every` until the job is
/// FINISHED; see [`watch_job`].
pub fn watch_backup(
    session: &mut SqlSession,
    db: &str,
    label: &str,
    every: Duration,
    cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Watched, String> {
    let statement = format!("SHOW BACKUP FROM {db} WHERE SnapshotName = \"{label}\"\\G");
    watch_job(session, "backup", &statement, label, every, cpu)
}

/// Polls `SHOW RESTORE FROM db WHERE Label = "label"` every `every` until the job is FINISHED;
/// see [`watch_job`].
pub fn watch_restore(
    session: &mut SqlSession,
    db: &str,
    label: &str,
    every: Duration,
    cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Watched, String> {
    let statement = format!("SHOW RESTORE FROM {db} WHERE Label = \"{label}\"\\G");
    watch_job(session, "restore", &statement, label, every, cpu)
}

/// Runs `statement` (a SHOW BACKUP or SHOW RESTORE of one job, `what` it is) every `every` until
/// the job (its last row) is FINISHED; an error if it ends CANCELLED (with its Status and
/// TaskErrMsg). Each state is noted with the time and `cpu()` (the cluster's CPU time) of the poll
/// that first showed it. Prints the state and progress to stderr every 10 s.
pub fn watch_job(
    session: &mut SqlSession,
    what: &str,
    statement: &str,
    label: &str,
    every: Duration,
    cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Watched, String> {
    let mut states: Vec<Seen> = Vec::new();
    let (mut polls, mut total, mut max) = (0u64, Duration::ZERO, Duration::ZERO);
    let mut last_report = Instant::now();
    let mut last_progress = None;
    loop {
        let sent = Instant::now();
        let out = session.query(statement)?;
        let at = Instant::now();
        let round_trip = at - sent;
        polls += 1;
        total += round_trip;
        max = max.max(round_trip);
        let rows = parse_vertical(&out);
        let row = rows.last().ok_or_else(|| format!("`{statement}` shows no {what} job {label}"))?.clone();
        let state = field(&row, "State").unwrap_or("").to_string();
        if states.last().is_none_or(|s| s.state != state) {
            states.push(Seen { state: state.clone(), at, cpu: cpu() });
        }
        if let Some(progress) = field(&row, "Progress").filter(|p| !p.trim().is_empty())
            && !matches!(state.as_str(), "FINISHED" | "CANCELLED")
        {
            last_progress = Some((state.clone(), progress.to_string()));
        }
        match state.as_str() {
            "FINISHED" => {
                let mean_round_trip = total / u32::try_from(polls).unwrap_or(u32::MAX);
                return Ok(Watched {
                    states,
                    last_row: row,
                    polls,
                    last_progress,
                    max_round_trip: max,
                    mean_round_trip,
                });
            }
            "CANCELLED" => {
                return Err(format!(
                    "{what} {label} was CANCELLED: Status {}; TaskErrMsg {}",
                    field(&row, "Status").unwrap_or("?"),
                    field(&row, "TaskErrMsg").unwrap_or("?")
                ));
            }
            _ => {}
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "bench:   {label}: {state} ({:.0} s); Progress {}",
                states[0].at.elapsed().as_secs_f64(),
                field(&row, "Progress").unwrap_or("")
            );
        }
        std::thread::sleep(every.saturating_sub(at.elapsed()));
    }
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

    #[test]
    fn vertical_output_parses_into_rows() {
        let text = "\
*************************** 1. row ***************************
    Snapshot: a
   Timestamp: 2024-01-01-00-00-00
2024-01-02-00-00-00
      Status: OK
*************************** 2. row ***************************
    Snapshot: b
   Timestamp: NULL
      Status: ERROR: No info file found
";
        let rows = parse_vertical(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(field(&rows[0], "Timestamp"), Some("2024-01-01-00-00-00\n2024-01-02-00-00-00"));
        assert_eq!(field(&rows[0], "Status"), Some("OK"));
        assert_eq!(field(&rows[1], "Status"), Some("ERROR: No info file found"));
        assert_eq!(field(&rows[1], "Missing"), None);
    }

    #[test]
    fn the_lines_that_end_a_result() {
        assert!(ends_statement("1 row in set (0.00 sec)"));
        assert!(ends_statement("12 rows in set (0.01 sec)"));
        assert!(ends_statement("Empty set (0.00 sec)"));
        assert!(ends_statement("Query OK, 0 rows affected (0.02 sec)"));
        assert!(!ends_statement("     Status: 3 rows in set"));
        assert!(!ends_statement("| 1 | row | in | set |"));
    }
}
