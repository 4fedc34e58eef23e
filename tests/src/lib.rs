//! Helpers for the real-mode integration tests: the built binaries, free loopback ports,
//! processes that are killed when a test ends, and bounded waits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary of this workspace, built next to the test executable (`target/<profile>/<name>`),
/// or in `PALO_BIN_DIR` when that is set (to run the tests against another build, such as an
/// older commit's). `cargo test --workspace` builds them because `node` and `cli` have
/// integration tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = match std::env::var_os("PALO_BIN_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf(),
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --workspace` (or `cargo xtask test`), which builds it",
        path.display()
    );
    path
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// True if every port in `ports` can be bound on loopback now.
pub fn ports_free(ports: &[u16]) -> bool {
    ports.iter().all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
}

/// A fresh, empty directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("palo-test-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) when dropped. Its stderr goes to a log file in `log_dir`.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    pub fn start(name: &str, program: &Path, args: &[String], log_dir: &Path) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        Proc { name: name.to_string(), child: Some(child), log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Power loss for the process: SIGKILL, then reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `bound` for the process to exit by itself: whether it exited 0, or `None`
    /// if it still runs.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<bool> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Ctrl-C: SIGINT, then wait up to `bound` for it to exit; returns whether it exited 0.
    pub fn interrupt(&mut self, bound: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `palo-node standalone` on a port offset whose six ports (FE gRPC 9020, MySQL 9030,
/// BEs 9060-9062, broker 8000) are free; returns the process and the offset.
pub fn start_standalone(dir: &TempDir, first_offset: u16) -> (Proc, u16) {
    let mut offset = first_offset + (std::process::id() % 5_000) as u16;
    loop {
        if let Some(mut proc) = start_standalone_at(dir, offset, "standalone") {
            wait_standalone_up(&mut proc);
            return (proc, offset);
        }
        offset += 7;
    }
}

/// The line a standalone prints once its FE serves and its backends and broker are registered.
pub const STANDALONE_UP: &str = "Palo standalone is up";

/// Waits until the standalone says it is up. Its FE answers SQL before it has registered its
/// backends and broker, so a test that goes on at the first answer races the registration (seen
/// on a loaded machine: CREATE REPOSITORY ... WITH BROKER local_broker refused with "broker does
/// not exist").
pub fn wait_standalone_up(proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !proc.log().contains(STANDALONE_UP) {
        // Also the pause between two looks.
        let exited = proc.wait_exit(Duration::from_millis(100));
        assert!(exited.is_none(), "{} exited before it was up:\n{}", proc.name, proc.log());
        assert!(Instant::now() < deadline, "{} was not up within 120 s:\n{}", proc.name, proc.log());
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `bound` with `what`.
pub async fn eventually<T, F, Fut>(bound: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {bound:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts `palo-node standalone` on `--data <dir>/data` at exactly `offset`, or returns `None`
/// if one of its ports is taken.
pub fn start_standalone_at(dir: &TempDir, offset: u16, name: &str) -> Option<Proc> {
    if !ports_free(&standalone_ports(offset)) {
        return None;
    }
    let args: Vec<String> = vec![
        "standalone".into(),
        "--data".into(),
        dir.path().join("data").display().to_string(),
        "--port-offset".into(),
        offset.to_string(),
    ];
    Some(Proc::start(name, &binary("palo-node"), &args, dir.path()))
}

/// The six ports of a standalone at `offset`.
pub fn standalone_ports(offset: u16) -> [u16; 6] {
    [9020 + offset, 9030 + offset, 9060 + offset, 9061 + offset, 9062 + offset, 8000 + offset]
}

/// The real `mysql` client against a standalone's MySQL port.
pub mod mysql {
    use std::process::{Command, Output};
    use std::time::{Duration, Instant};

    /// Whether the client is installed (on CI its absence is a failure, not a skip).
    pub fn available() -> bool {
        match Command::new("mysql").arg("--version").output() {
            Ok(out) => out.status.success(),
            Err(_) => {
                assert!(std::env::var_os("CI").is_none(), "the mysql client is missing on CI (.ci/run installs it)");
                eprintln!("SKIPPED: no `mysql` client on this machine (apt-get install default-mysql-client)");
                false
            }
        }
    }

    /// `mysql -h 127.0.0.1 -P <port> <args>`.
    pub fn run(port: u16, args: &[&str]) -> Output {
        Command::new("mysql")
            .args(["-h", "127.0.0.1", "-P", &port.to_string(), "--connect-timeout=5"])
            .args(args)
            .output()
            .expect("mysql runs")
    }

    pub fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Runs `sql` as root; panics with the client's error and `log` if it fails.
    pub fn ok(port: u16, sql: &str, log: &dyn Fn() -> String) {
        let out = run(port, &["-uroot", "-e", sql]);
        assert!(out.status.success(), "`{sql}` failed: {}\n{}", text(&out.stderr), log());
    }

    /// The rows of `sql` (tab-separated cells), as root.
    pub fn rows(port: u16, sql: &str, log: &dyn Fn() -> String) -> Vec<Vec<String>> {
        let out = run(port, &["-uroot", "-N", "-B", "-e", sql]);
        assert!(out.status.success(), "`{sql}` failed: {}\n{}", text(&out.stderr), log());
        text(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
    }

    /// The error `sql` fails with (as root); panics if it succeeds.
    pub fn error(port: u16, sql: &str) -> String {
        let out = run(port, &["-uroot", "-e", sql]);
        assert!(!out.status.success(), "`{sql}` succeeded");
        text(&out.stderr)
    }

    /// Waits (at most `bound`) until SHOW BACKENDS lists `n` alive backends; returns the rows.
    pub fn wait_alive(port: u16, n: usize, bound: Duration, log: &dyn Fn() -> String) -> Vec<Vec<String>> {
        let deadline = Instant::now() + bound;
        loop {
            let out = run(port, &["-uroot", "-N", "-B", "-e", "SHOW BACKENDS"]);
            let rows: Vec<Vec<String>> =
                text(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect();
            if out.status.success()
                && rows.len() == n
                && rows.iter().all(|r| r.get(6).map(String::as_str) == Some("true"))
            {
                return rows;
            }
            assert!(Instant::now() < deadline, "no {n} alive backends within {bound:?}: {rows:?}\n{}", log());
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}
