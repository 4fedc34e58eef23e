//! Scenario files: scripted runs of the simulated cluster whose transcript is a snapshot.
//!
//! A scenario is plain text, one step per line (`#` starts a comment line):
//!
//! ```text
//! # A database survives an FE power loss.
//! ok: CREATE DATABASE sales          -- the statement must succeed
//! error: CREATE DATABASE sales       -- the statement must fail; the error is transcribed
//! query: SHOW DATABASES              -- must succeed; the result table is transcribed
//! query: SHOW BACKENDS | BackendId Host Alive   -- only these columns
//! kill: fe                           -- power loss of a node (fe, be1.., broker)
//! restart: fe
//! partition: fe be1                  -- cut the link both ways
//! heal: all                          -- end every fault
//! wait: 5s                           -- let simulated time pass
//! wait-alive: 30s                    -- until every member is shown alive, or fail
//! login: jack secret                  -- later statements run as jack (`login: root` goes back)
//! fail-next-task: be1 write_rows      -- be1's next write_rows task fails (also create_tablet,
//!                                        publish_version, clone_tablet; `x3` for three)
//! wait-converged: 60s db.t            -- until every replica of table db.t is at its
//!                                        partition's version (SHOW TABLETS all NORMAL), or fail
//! wait-job: 120s db FINISHED          -- until db's newest backup job is in that state, or fail
//!                                        (also when it ends in another state)
//! wait-no-snapshots: 30s              -- until no backend holds a snapshot directory, or fail
//! wait-restore: 120s db FINISHED      -- until db's newest restore job is in that state, or fail
//! wait-clean: 30s                     -- until no backend holds a snapshot, a tablet the catalog
//!                                        does not have, or one still waiting for a restore
//! corrupt-snapshot: mem://b/x repo l  -- flips a byte of the snapshot's first rowset file (its
//!                                        name, and so the md5 it carries, stays)
//! cluster: b                          -- later steps go to a second cluster (its own FE, BEs
//!                                        and broker, started and registered on first use), which
//!                                        shares the `mem://` repositories; `cluster: a` goes back
//! ```
//!
//! In a statement, `$(timestamp repo label)` stands for the snapshot's timestamp (SHOW SNAPSHOT's),
//! which a RESTORE needs and which depends on when the backup ran.
//!
//! Before the first step the cluster (one FE, three BEs, a broker) is registered and shown alive. The seed is 1
//! unless a `# seed: N` line says otherwise.

use std::time::Duration;

use palo_node::client::{ClientError, SqlClient};
use palo_node::fe::QueryOutput;
use palo_node::fe::jobs::backup::job::BackupState;
use palo_node::fe::jobs::restore::job::RestoreState;
use palo_node::fe::jobs::state::JobState;
use palo_node::rpc::RpcTimeouts;

use crate::client::sql;
use crate::cluster::{BROKER_NAME, BROKER_PORT, ClusterSpec, Role, SimCluster};
use crate::sim_disk::SimDiskFaults;
use crate::trace::{Recorder, Trace};

/// Bounds: a scenario of more steps, or a wait longer than this, is refused.
pub const MAX_STEPS: usize = 1_000;
pub const MAX_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Ok(String),
    Error(String),
    Query {
        sql: String,
        columns: Vec<String>,
    },
    Kill(String),
    Restart(String),
    Partition(String, String),
    Heal,
    Wait(Duration),
    WaitAlive(Duration),
    FailNextTask {
        node: String,
        task: String,
        times: u32,
    },
    Login {
        user: String,
        password: String,
    },
    WaitConverged(Duration, String),
    WaitJob {
        bound: Duration,
        database: String,
        state: String,
    },
    WaitRestore {
        bound: Duration,
        database: String,
        state: String,
    },
    WaitNoSnapshots(Duration),
    WaitClean(Duration),
    Cluster(usize),
    CorruptSnapshot {
        location: String,
        repo: String,
        label: String,
    },
    /// Lists the tablets in a backend's trash.
    Trash(String),
    /// By hand: stops a backend, moves a tablet back from its trash, starts it again.
    Untrash {
        node: String,
        tablet_id: i64,
    },
}

impl Step {
    /// Whether the step waits for a condition (or for time) rather than acting.
    fn is_wait(&self) -> bool {
        matches!(
            self,
            Step::Wait(_)
                | Step::WaitAlive(_)
                | Step::WaitConverged(..)
                | Step::WaitJob { .. }
                | Step::WaitRestore { .. }
                | Step::WaitNoSnapshots(_)
                | Step::WaitClean(_)
        )
    }
}

/// The fault points `fail-next-task` accepts: every agent task, and every working state's step
/// of a backup or restore job (the job stays in that state for a retry's backoff).
fn fault_points() -> Vec<String> {
    let tasks = palo_buggify::Task::ALL.iter().map(|t| t.name().to_string());
    let backup = BackupState::ALL.iter().filter(|s| !s.is_done()).map(|s| s.step_fault());
    let restore = RestoreState::ALL.iter().filter(|s| !s.is_done()).map(|s| s.step_fault());
    tasks.chain(backup).chain(restore).collect()
}

/// The names of a job kind's states (what `wait-job` and `wait-restore` accept).
fn state_names<S: JobState>() -> Vec<&'static str> {
    S::ALL.iter().map(|s| s.name()).collect()
}
/// Names `cluster:` accepts: the first cluster and the second.
const CLUSTERS: [&str; 2] = ["a", "b"];
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    steps: Vec<(usize, Step)>,
}

fn duration(text: &str, line: usize) -> Result<Duration, String> {
    let secs: u64 = text
        .trim()
        .strip_suffix('s')
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("line {line}: expected a duration like 5s, found {text:?}"))?;
    let d = Duration::from_secs(secs);
    if d > MAX_WAIT {
        return Err(format!("line {line}: waits are limited to {}s", MAX_WAIT.as_secs()));
    }
    Ok(d)
}

/// Parses a scenario file; errors name the line.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let mut seed = 1;
    let mut steps = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(n) = comment.trim().strip_prefix("seed:") {
                seed = n.trim().parse().map_err(|_| format!("line {line}: bad seed {n:?}"))?;
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let Some((verb, rest)) = trimmed.split_once(':') else {
            return Err(format!("line {line}: expected `verb: argument`, found {trimmed:?}"));
        };
        let rest = rest.trim().to_string();
        let words: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
        let step = match verb.trim() {
            "ok" => Step::Ok(rest),
            "error" => Step::Error(rest),
            "query" => match rest.rsplit_once(" | ") {
                Some((sql, columns)) => Step::Query {
                    sql: sql.trim().to_string(),
                    columns: columns.split_whitespace().map(str::to_string).collect(),
                },
                None => Step::Query { sql: rest, columns: Vec::new() },
            },
            "kill" if words.len() == 1 => Step::Kill(rest),
            "restart" if words.len() == 1 => Step::Restart(rest),
            "partition" if words.len() == 2 => Step::Partition(words[0].clone(), words[1].clone()),
            "heal" if rest == "all" => Step::Heal,
            "wait" => Step::Wait(duration(&rest, line)?),
            "wait-alive" => Step::WaitAlive(duration(&rest, line)?),
            "fail-next-task" if (2..=3).contains(&words.len()) => {
                let points = fault_points();
                if !points.contains(&words[1]) {
                    return Err(format!("line {line}: unknown task {:?}; tasks are {}", words[1], points.join(", ")));
                }
                let times = match words.get(2) {
                    None => 1,
                    Some(w) => w
                        .strip_prefix('x')
                        .and_then(|n| n.parse().ok())
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| format!("line {line}: expected a count like x3, found {w:?}"))?,
                };
                Step::FailNextTask { node: words[0].clone(), task: words[1].clone(), times }
            }
            "login" if (1..=2).contains(&words.len()) => {
                Step::Login { user: words[0].clone(), password: words.get(1).cloned().unwrap_or_default() }
            }
            "wait-converged" if words.len() == 2 => Step::WaitConverged(duration(&words[0], line)?, words[1].clone()),
            "wait-job" if words.len() == 3 => {
                if BackupState::parse(&words[2]).is_none() {
                    return Err(format!(
                        "line {line}: unknown job state {:?}; states are {}",
                        words[2],
                        state_names::<BackupState>().join(", ")
                    ));
                }
                Step::WaitJob { bound: duration(&words[0], line)?, database: words[1].clone(), state: words[2].clone() }
            }
            "wait-restore" if words.len() == 3 => {
                if RestoreState::parse(&words[2]).is_none() {
                    return Err(format!(
                        "line {line}: unknown restore state {:?}; states are {}",
                        words[2],
                        state_names::<RestoreState>().join(", ")
                    ));
                }
                Step::WaitRestore {
                    bound: duration(&words[0], line)?,
                    database: words[1].clone(),
                    state: words[2].clone(),
                }
            }
            "wait-no-snapshots" => Step::WaitNoSnapshots(duration(&rest, line)?),
            "wait-clean" => Step::WaitClean(duration(&rest, line)?),
            "corrupt-snapshot" if words.len() == 3 => {
                Step::CorruptSnapshot { location: words[0].clone(), repo: words[1].clone(), label: words[2].clone() }
            }
            "trash" if words.len() == 1 => Step::Trash(rest),
            "untrash" if words.len() == 2 => match words[1].parse() {
                Ok(tablet_id) => Step::Untrash { node: words[0].clone(), tablet_id },
                Err(_) => return Err(format!("line {line}: untrash takes a backend and a tablet id, not {rest:?}")),
            },
            "cluster" if words.len() == 1 => match CLUSTERS.iter().position(|c| *c == words[0]) {
                Some(i) => Step::Cluster(i),
                None => return Err(format!("line {line}: clusters are named a and b, not {:?}", words[0])),
            },
            other => {
                return Err(format!(
                    "line {line}: unknown step {other:?} (or wrong arguments); steps are ok, error, query, kill, \
                     restart, partition, heal, wait, wait-alive, fail-next-task, wait-converged, wait-job, \
                     wait-restore, wait-no-snapshots, wait-clean, corrupt-snapshot, trash, untrash, login, cluster"
                ));
            }
        };
        steps.push((line, step));
        if steps.len() > MAX_STEPS {
            return Err(format!("more than {MAX_STEPS} steps"));
        }
    }
    Ok(Scenario { seed, steps })
}

/// A backend's trash entries (their paths) with their tablet ids, by tablet id.
fn trash_entries(cluster: &SimCluster, role: Role) -> Vec<(std::path::PathBuf, i64)> {
    let Some(disk) = &cluster.node(role).disk else { return Vec::new() };
    let mut entries: Vec<(std::path::PathBuf, i64)> = disk
        .list_all()
        .into_iter()
        .filter(|(path, is_dir)| *is_dir && path.parent() == Some(std::path::Path::new("/be/trash")))
        .filter_map(|(path, _)| {
            let id = path.file_name()?.to_str()?.split('.').nth(1)?.parse().ok()?;
            Some((path, id))
        })
        .collect();
    entries.sort_by_key(|(_, id)| *id);
    entries
}

fn role(cluster: &SimCluster, name: &str, line: usize) -> Result<Role, String> {
    cluster
        .nodes
        .iter()
        .find(|n| n.name.rsplit('.').next() == Some(name))
        .map(|n| n.role)
        .ok_or_else(|| format!("line {line}: no node named {name:?} (fe, be1, be2, be3, broker)"))
}

fn render(output: &QueryOutput, wanted: &[String]) -> Result<String, String> {
    match output {
        QueryOutput::Ok { affected_rows } => Ok(format!("OK, {affected_rows} rows affected")),
        QueryOutput::Rows { columns, rows } => {
            let picks: Vec<usize> = if wanted.is_empty() {
                (0..columns.len()).collect()
            } else {
                wanted
                    .iter()
                    .map(|w| {
                        columns.iter().position(|c| c == w).ok_or_else(|| format!("no column {w:?} in {columns:?}"))
                    })
                    .collect::<Result<_, _>>()?
            };
            let columns: Vec<String> = picks.iter().map(|&i| columns[i].clone()).collect();
            let rows: Vec<Vec<Option<String>>> =
                rows.iter().map(|r| picks.iter().map(|&i| r.get(i).cloned().flatten()).collect()).collect();
            if rows.is_empty() {
                return Ok(format!("{}\n(empty)", columns.join(" | ")));
            }
            Ok(palo_node::table::render(&columns, &rows))
        }
    }
}

/// The state and status of the newest backup (or restore) job of `db`, if any.
async fn newest_job(cluster: &SimCluster, kind: &str, db: &str) -> Option<(String, String)> {
    let Ok(QueryOutput::Rows { columns, rows }) = sql(cluster, &format!("SHOW {kind} FROM {db}")).await else {
        return None;
    };
    let state = columns.iter().position(|c| c == "State")?;
    let status = columns.iter().position(|c| c == "Status")?;
    let last = rows.last()?;
    Some((last.get(state).cloned().flatten()?, last.get(status).cloned().flatten().unwrap_or_default()))
}

/// Replaces every `$(timestamp repo label)` in a statement by the snapshot's timestamp, as SHOW
/// SNAPSHOT gives it (a RESTORE needs it, and it depends on when the backup ran).
async fn substitute(cluster: &SimCluster, statement: &str) -> Result<String, String> {
    let mut out = statement.to_string();
    while let Some(start) = out.find("$(timestamp ") {
        let end = out[start..].find(')').map(|e| start + e).ok_or("unclosed $(timestamp ...)")?;
        let words: Vec<&str> = out[start + 12..end].split_whitespace().collect();
        let [repo, label] = words.as_slice() else {
            return Err(format!("expected $(timestamp repo label), found {}", &out[start..=end]));
        };
        let query = format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = \"{label}\"");
        let ts = match sql(cluster, &query).await {
            Ok(QueryOutput::Rows { columns, rows }) => {
                let i = columns.iter().position(|c| c == "Timestamp").ok_or("SHOW SNAPSHOT has no Timestamp")?;
                rows.first().and_then(|r| r.get(i).cloned().flatten())
            }
            _ => None,
        };
        let ts = ts.ok_or_else(|| format!("snapshot {label} has no timestamp in repository {repo}"))?;
        out.replace_range(start..=end, &ts);
    }
    Ok(out)
}

/// Flips one byte in the middle of the first rowset file (by path) of a snapshot in a `mem://`
/// repository; the file keeps its name, so its md5 no longer matches. Returns the file's name.
async fn corrupt_snapshot(location: &str, repo: &str, label: &str) -> Result<String, String> {
    use palo_node::repository;
    let store = repository::open_direct(location, &Default::default()).map_err(|e| e.to_string())?;
    let dir = palo_node::fe::jobs::backup::layout::content_dir(repo, label);
    let listed = store.list(&format!("{dir}/")).await.map_err(|e| e.to_string())?;
    let entry = listed
        .iter()
        .find(|e| e.path.contains(".rowset.") && e.size_bytes > 0)
        .ok_or_else(|| format!("no rowset file under {dir}"))?;
    let mut bytes = store.get(&entry.path).await.map_err(|e| e.to_string())?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    store.put(&entry.path, bytes).await.map_err(|e| e.to_string())?;
    Ok(entry.path.rsplit('/').next().unwrap_or_default().to_string())
}

/// Runs one statement of the scenario's session (its current database carries over).
async fn session_sql(
    cluster: &SimCluster,
    database: &mut String,
    login: &(String, String),
    statement: &str,
) -> Result<QueryOutput, ClientError> {
    let (addr, db, text) = (cluster.fe_addr(), database.clone(), statement.to_string());
    let (user, password) = login.clone();
    let joined = cluster
        .client
        .spawn(async move {
            let client = SqlClient::new(&addr, RpcTimeouts { connect_ms: 1_000, request_ms: 30_000 })?;
            let mut client = client.with_login(&user, &password);
            client.set_database(&db);
            let result = client.execute(&text).await;
            result.map(|output| (output, client.database().to_string()))
        })
        .await;
    let (output, new_database) = joined.unwrap_or_else(|e| {
        Err(ClientError::Unreachable { addr: cluster.fe_addr(), detail: format!("client task failed: {e}") })
    })?;
    *database = new_database;
    Ok(output)
}

/// Waits until SHOW BACKENDS and SHOW BROKER show every member alive; false after `bound`.
async fn wait_alive(cluster: &SimCluster, bound: Duration) -> bool {
    let started = cluster.now();
    loop {
        let mut all_alive = true;
        for statement in ["SHOW BACKENDS", "SHOW BROKER"] {
            all_alive &= match sql(cluster, statement).await {
                Ok(QueryOutput::Rows { columns, rows }) => {
                    let alive = columns.iter().position(|c| c == "Alive");
                    alive.is_some_and(|i| rows.iter().all(|r| r.get(i).cloned().flatten().as_deref() == Some("true")))
                }
                _ => false,
            };
        }
        if all_alive {
            return true;
        }
        if cluster.now() - started > bound {
            return false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Starts cluster `index` (0: a, 1: b) and registers its members; an error says what failed.
async fn start_cluster(index: usize, recorder: Recorder) -> Result<SimCluster, String> {
    let mut spec = ClusterSpec::new(3, 5, SimDiskFaults::default());
    spec.network = index as u8;
    spec.name_prefix = if index == 0 { String::new() } else { format!("{}.", CLUSTERS[index]) };
    let cluster = SimCluster::start(&spec, recorder);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let backends: Vec<String> =
        cluster.backend_roles().iter().map(|r| format!("\"{}\"", cluster.node(*r).addr())).collect();
    let broker = format!("{}:{BROKER_PORT}", cluster.node(Role::Broker).ip);
    for setup in [
        format!("ALTER SYSTEM ADD BACKEND {}", backends.join(", ")),
        format!("ALTER SYSTEM ADD BROKER {BROKER_NAME} \"{broker}\""),
    ] {
        if let Err(e) = sql(&cluster, &setup).await {
            return Err(format!("setup `{setup}` failed: {e}"));
        }
    }
    if !wait_alive(&cluster, Duration::from_secs(30)).await {
        return Err("setup: the members were not all alive within 30s".into());
    }
    Ok(cluster)
}

/// One cluster's session: its current database and its login.
struct ClusterSession {
    cluster: SimCluster,
    database: String,
    login: (String, String),
}

/// Runs the steps against a fresh cluster; returns the transcript, or the transcript so far and
/// what went wrong.
async fn run_steps(scenario: Scenario, recorder: Recorder) -> Result<String, (String, String)> {
    let mut out = String::new();
    let first = start_cluster(0, recorder.clone()).await.map_err(|e| (out.clone(), e))?;
    let root = || ("root".to_string(), String::new());
    let mut sessions = vec![ClusterSession { cluster: first, database: String::new(), login: root() }];
    let mut current = 0usize;
    for (line, step) in scenario.steps {
        if let Step::Cluster(index) = step {
            let started = if index >= sessions.len() {
                while sessions.len() <= index {
                    let cluster = start_cluster(sessions.len(), recorder.clone())
                        .await
                        .map_err(|e| (out.clone(), format!("line {line}: {e}")))?;
                    sessions.push(ClusterSession { cluster, database: String::new(), login: root() });
                }
                " (started, members registered and alive)"
            } else {
                ""
            };
            current = index;
            out.push_str(&format!("> cluster: {}{started}\n", CLUSTERS[index]));
            continue;
        }
        let session = &mut sessions[current];
        let done = if step.is_wait() {
            run_wait(&session.cluster, line, &step, &mut out).await
        } else {
            run_step(session, line, &step, &mut out).await
        };
        if let Err(e) = done {
            return Err((out, e));
        }
    }
    Ok(out)
}

/// Runs one step that is not a wait against the current cluster, appending to the transcript.
async fn run_step(session: &mut ClusterSession, line: usize, step: &Step, out: &mut String) -> Result<(), String> {
    let ClusterSession { cluster, database, login } = session;
    match step {
        Step::Ok(statement) | Step::Error(statement) | Step::Query { sql: statement, .. } => {
            let expect_error = matches!(step, Step::Error(_));
            let label = match &step {
                Step::Ok(_) => "ok",
                Step::Error(_) => "error",
                _ => "query",
            };
            let shown_columns = match &step {
                Step::Query { columns, .. } if !columns.is_empty() => format!(" | {}", columns.join(" ")),
                _ => String::new(),
            };
            out.push_str(&format!("> {label}: {statement}{shown_columns}\n"));
            let statement = substitute(cluster, statement).await.map_err(|e| format!("line {line}: {e}"))?;
            let result = session_sql(cluster, database, login, &statement).await;
            match (result, expect_error) {
                (Ok(output), false) => {
                    let columns = match &step {
                        Step::Query { columns, .. } => columns.clone(),
                        _ => Vec::new(),
                    };
                    if matches!(step, Step::Query { .. }) || matches!(output, QueryOutput::Ok { .. }) {
                        let shown = render(&output, &columns).map_err(|e| format!("line {line}: {e}"))?;
                        out.push_str(&shown);
                        out.push('\n');
                    }
                }
                (Err(ClientError::Sql(e)), true) => out.push_str(&format!("{e}\n")),
                (Ok(_), true) => {
                    return Err(format!("line {line}: expected an error, the statement succeeded"));
                }
                (Err(e), _) => return Err(format!("line {line}: unexpected error: {e}")),
            }
        }
        Step::Kill(name) => {
            let r = role(cluster, name, line)?;
            cluster.kill(r);
            out.push_str(&format!("> kill: {name}\n"));
        }
        Step::Trash(name) => {
            let r = role(cluster, name, line)?;
            let entries = trash_entries(cluster, r);
            let ids: Vec<String> = entries.iter().map(|(_, id)| id.to_string()).collect();
            let listed = if ids.is_empty() { "empty".to_string() } else { format!("tablets {}", ids.join(" ")) };
            out.push_str(&format!("> trash: {name}\n  {listed}\n"));
        }
        Step::Untrash { node, tablet_id } => {
            let r = role(cluster, node, line)?;
            let Some((entry, _)) = trash_entries(cluster, r).into_iter().find(|(_, id)| id == tablet_id) else {
                return Err(format!("line {line}: tablet {tablet_id} is not in {node}'s trash"));
            };
            cluster.kill(r);
            let disk = cluster.node(r).disk.clone().expect("a backend has a disk");
            let back = std::path::PathBuf::from(format!("/be/tablets/{tablet_id}"));
            let moved = async {
                palo_node::disk::Disk::rename(disk.as_ref(), &entry, &back).await?;
                palo_node::disk::Disk::sync_dir(disk.as_ref(), std::path::Path::new("/be/tablets")).await?;
                palo_node::disk::Disk::sync_dir(disk.as_ref(), std::path::Path::new("/be/trash")).await
            }
            .await;
            moved.map_err(|e| format!("line {line}: moving tablet {tablet_id} back: {e}"))?;
            cluster.restart(r);
            out.push_str(&format!("> untrash: {node} {tablet_id}\n"));
        }
        Step::Restart(name) => {
            let r = role(cluster, name, line)?;
            cluster.restart(r);
            out.push_str(&format!("> restart: {name}\n"));
        }
        Step::Partition(a, b) => {
            let (ra, rb) = (role(cluster, a, line)?, role(cluster, b, line)?);
            cluster.partition(ra, rb);
            out.push_str(&format!("> partition: {a} {b}\n"));
        }
        Step::Heal => {
            cluster.heal_all(&SimDiskFaults::default());
            out.push_str("> heal: all\n");
        }
        Step::Login { user, password } => {
            *login = (user.clone(), password.clone());
            out.push_str(&format!("> login: {user}\n"));
        }
        Step::FailNextTask { node, task, times } => {
            let r = role(cluster, node, line)?;
            palo_buggify::inject_task_failure(cluster.node(r).handle.id(), task, *times);
            let count = if *times == 1 { String::new() } else { format!(" x{times}") };
            out.push_str(&format!("> fail-next-task: {node} {task}{count}\n"));
        }
        Step::Cluster(_) => unreachable!("handled before the match"),
        Step::CorruptSnapshot { location, repo, label } => {
            let file = corrupt_snapshot(location, repo, label).await.map_err(|e| format!("line {line}: {e}"))?;
            out.push_str(&format!("> corrupt-snapshot: {location} {repo} {label} (flipped a byte of {file})\n"));
        }
        Step::Wait(_)
        | Step::WaitConverged(..)
        | Step::WaitJob { .. }
        | Step::WaitRestore { .. }
        | Step::WaitNoSnapshots(_)
        | Step::WaitClean(_)
        | Step::WaitAlive(_) => unreachable!("waits run in run_wait"),
    }
    Ok(())
}

/// Runs one wait step: until its condition holds, or fails once its bound passes.
async fn run_wait(cluster: &SimCluster, line: usize, step: &Step, out: &mut String) -> Result<(), String> {
    match step {
        Step::Wait(d) => {
            tokio::time::sleep(*d).await;
            out.push_str(&format!("> wait: {}s\n", d.as_secs()));
        }
        Step::WaitConverged(bound, table) => {
            let started = cluster.now();
            let statement = format!("SHOW TABLETS FROM {table}");
            loop {
                let converged = match sql(cluster, &statement).await {
                    Ok(QueryOutput::Rows { columns, rows }) => {
                        let state = columns.iter().position(|c| c == "State");
                        state.is_some_and(|i| {
                            rows.iter().all(|r| r.get(i).cloned().flatten().as_deref() == Some("NORMAL"))
                        })
                    }
                    _ => false,
                };
                if converged {
                    break;
                }
                if cluster.now() - started > *bound {
                    return Err(format!("line {line}: {table} did not converge within {}s", bound.as_secs()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            out.push_str(&format!(
                "> wait-converged: {}s {table} (all replicas at the visible version)\n",
                bound.as_secs()
            ));
        }
        Step::WaitJob { bound, database: db, state } | Step::WaitRestore { bound, database: db, state } => {
            let (kind, verb) =
                if matches!(step, Step::WaitJob { .. }) { ("BACKUP", "wait-job") } else { ("RESTORE", "wait-restore") };
            let started = cluster.now();
            loop {
                let current = newest_job(cluster, kind, db).await;
                match current.as_ref() {
                    Some((s, _)) if s == state => break,
                    Some((s, status)) if s == "FINISHED" || s == "CANCELLED" => {
                        return Err(format!("line {line}: the job ended {s} {status}, not {state}"));
                    }
                    _ => {}
                }
                if cluster.now() - started > *bound {
                    return Err(format!(
                        "line {line}: the job was not {state} within {}s (now {current:?})",
                        bound.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            out.push_str(&format!("> {verb}: {}s {db} {state}\n", bound.as_secs()));
        }
        Step::WaitNoSnapshots(bound) => {
            let started = cluster.now();
            loop {
                let held = crate::cluster::snapshot_dirs(cluster);
                if held.is_empty() {
                    break;
                }
                if cluster.now() - started > *bound {
                    return Err(format!("line {line}: snapshots still held after {}s: {held:?}", bound.as_secs()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            out.push_str(&format!("> wait-no-snapshots: {}s (no snapshot on any backend)\n", bound.as_secs()));
        }
        Step::WaitClean(bound) => {
            let started = cluster.now();
            loop {
                let (_, mut left) = crate::workloads::restores::leftover_tablets(cluster).await?;
                left.extend(
                    crate::cluster::snapshot_dirs(cluster).into_iter().map(|(n, d)| format!("{n}: snapshot {d}")),
                );
                if left.is_empty() {
                    break;
                }
                if cluster.now() - started > *bound {
                    return Err(format!("line {line}: still left after {}s: {left:?}", bound.as_secs()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            out.push_str(&format!(
                "> wait-clean: {}s (no backend holds a snapshot, or a tablet nobody has)\n",
                bound.as_secs()
            ));
        }
        Step::WaitAlive(bound) => {
            if !wait_alive(cluster, *bound).await {
                return Err(format!("line {line}: members not all alive within {}s", bound.as_secs()));
            }
            out.push_str(&format!("> wait-alive: {}s (all alive)\n", bound.as_secs()));
        }
        _ => unreachable!("run_wait runs waits only"),
    }
    Ok(())
}

/// Runs a scenario file's text in a fresh simulated world. `Ok` is the transcript.
pub fn run(text: &str) -> Result<String, String> {
    let scenario = parse(text)?;
    // Node logs when asked for (RUST_LOG=info), to debug a failing scenario.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let seed = scenario.seed;
    let handle = std::thread::spawn(move || {
        let mut runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.set_time_limit(crate::runner::SIMULATED_TIME_LIMIT);
        runtime.block_on(async move {
            let outcome = run_steps(scenario, Recorder::start(Trace::new(false))).await;
            crate::cluster::stop_world().await;
            outcome
        })
    });
    match handle.join() {
        Ok(Ok(transcript)) => Ok(transcript),
        Ok(Err((transcript, error))) => Err(format!("{error}\ntranscript so far:\n{transcript}")),
        Err(_) => Err("the scenario panicked (see the message above)".into()),
    }
}
