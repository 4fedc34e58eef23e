//! Fault points in production code that fire only inside the simulator (FoundationDB's
//! BUGGIFY). In a normal build every function here returns "no fault" and compiles to nothing;
//! under `--cfg madsim` the decision comes from the seeded simulation RNG, so a seed chooses
//! which fault points fire and a failure replays exactly.
//!
//! Architecture invariant: this is the only crate of the production tree that names madsim.

/// True with 25% probability when the simulator has enabled buggify; always false otherwise.
#[inline]
pub fn buggify() -> bool {
    #[cfg(madsim)]
    {
        madsim::buggify::buggify()
    }
    #[cfg(not(madsim))]
    {
        false
    }
}

/// True with probability `probability` (0.0..=1.0) when the simulator has enabled buggify.
#[inline]
pub fn buggify_with_prob(probability: f64) -> bool {
    debug_assert!((0.0..=1.0).contains(&probability), "probability out of range: {probability}");
    #[cfg(madsim)]
    {
        madsim::buggify::buggify_with_prob(probability)
    }
    #[cfg(not(madsim))]
    {
        let _ = probability;
        false
    }
}

/// Whether this build runs inside the simulator (for start-up logs only; never for behaviour).
pub const IN_SIMULATION: bool = cfg!(madsim);

/// An agent task on a backend that the simulator can make fail (scenario files' `fail-next-task`):
/// the one catalog of their names, for the nodes that check and the simulator that injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    CreateTablet,
    WriteRows,
    PublishVersion,
    CloneTablet,
    MakeSnapshot,
    UploadSnapshot,
    DownloadSnapshot,
    MoveRestoredTablet,
}

impl Task {
    pub const ALL: [Task; 8] = [
        Task::CreateTablet,
        Task::WriteRows,
        Task::PublishVersion,
        Task::CloneTablet,
        Task::MakeSnapshot,
        Task::UploadSnapshot,
        Task::DownloadSnapshot,
        Task::MoveRestoredTablet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Task::CreateTablet => "create_tablet",
            Task::WriteRows => "write_rows",
            Task::PublishVersion => "publish_version",
            Task::CloneTablet => "clone_tablet",
            Task::MakeSnapshot => "make_snapshot",
            Task::UploadSnapshot => "upload_snapshot",
            Task::DownloadSnapshot => "download_snapshot",
            Task::MoveRestoredTablet => "move_restored_tablet",
        }
    }

    pub fn parse(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A deliberate bug in node code the simulator can switch on (`cargo xtask simulate --fault`),
/// to show that its checks catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bug {
    /// A load gives the new version only to tablets that got rows.
    LoadSkipsEmptyRowsets,
    /// Backup jobs never release their snapshots.
    BackupLeaksSnapshots,
    /// Restored partitions enter the catalog at version 1 instead of the backed-up version.
    RestoreForgetsVersions,
    /// The journal: a checkpoint's image is the state before the record it claims to cover, so
    /// a restart from that image loses the record.
    CheckpointMissesLastRecord,
    /// Snapshots: a backend's snapshot of a tablet leaves out its newest rowset.
    SnapshotMissesNewestRowset,
    /// Uploads: the last byte of every file is lost on the way, and the size is not checked.
    UploadDropsLastByte,
    /// Downloads: the last chunk of every file is not written to the landing file.
    DownloadDropsLastChunk,
    /// The restore commit: a partition it overwrites keeps its old tablets (at the new version).
    RestoreCommitKeepsOldTablets,
    /// Restore cancels: the tables and partitions a cancelled restore created stay.
    RestoreCancelKeepsTables,
    /// Loads: a load whose rows could not all be written is acknowledged anyway.
    LoadAcksFailedWrites,
    /// FE restarts: jobs replayed from the journal are never driven again.
    FeForgetsReplayedJobs,
    /// Labels: a backup whose label another job claimed in the repository goes on with it.
    LabelOwnerIgnored,
}

impl Bug {
    pub const ALL: [Bug; 12] = [
        Bug::LoadSkipsEmptyRowsets,
        Bug::BackupLeaksSnapshots,
        Bug::RestoreForgetsVersions,
        Bug::CheckpointMissesLastRecord,
        Bug::SnapshotMissesNewestRowset,
        Bug::UploadDropsLastByte,
        Bug::DownloadDropsLastChunk,
        Bug::RestoreCommitKeepsOldTablets,
        Bug::RestoreCancelKeepsTables,
        Bug::LoadAcksFailedWrites,
        Bug::FeForgetsReplayedJobs,
        Bug::LabelOwnerIgnored,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::LoadSkipsEmptyRowsets => "load-skips-empty-rowsets",
            Bug::BackupLeaksSnapshots => "backup-leaks-snapshots",
            Bug::RestoreForgetsVersions => "restore-forgets-versions",
            Bug::CheckpointMissesLastRecord => "checkpoint-misses-last-record",
            Bug::SnapshotMissesNewestRowset => "snapshot-misses-newest-rowset",
            Bug::UploadDropsLastByte => "upload-drops-last-byte",
            Bug::DownloadDropsLastChunk => "download-drops-last-chunk",
            Bug::RestoreCommitKeepsOldTablets => "restore-commit-keeps-old-tablets",
            Bug::RestoreCancelKeepsTables => "restore-cancel-keeps-tables",
            Bug::LoadAcksFailedWrites => "load-acks-failed-writes",
            Bug::FeForgetsReplayedJobs => "fe-forgets-replayed-jobs",
            Bug::LabelOwnerIgnored => "label-owner-ignored",
        }
    }

    /// What a trace says when the bug is on.
    pub fn description(self) -> &'static str {
        match self {
            Bug::LoadSkipsEmptyRowsets => "loads skip the empty rowsets of tablets without rows",
            Bug::BackupLeaksSnapshots => "backup jobs never release their snapshots",
            Bug::RestoreForgetsVersions => "restored partitions enter the catalog at version 1",
            Bug::CheckpointMissesLastRecord => "a checkpoint's image misses the last record it covers",
            Bug::SnapshotMissesNewestRowset => "snapshots leave out each tablet's newest rowset",
            Bug::UploadDropsLastByte => "uploads lose the last byte of every file",
            Bug::DownloadDropsLastChunk => "downloads lose the last chunk of every file",
            Bug::RestoreCommitKeepsOldTablets => {
                "a restore's commit leaves overwritten partitions on their old tablets"
            }
            Bug::RestoreCancelKeepsTables => "a cancelled restore keeps the tables and partitions it created",
            Bug::LoadAcksFailedWrites => "a load whose writes failed is acknowledged",
            Bug::FeForgetsReplayedJobs => "an FE never resumes the jobs it replays",
            Bug::LabelOwnerIgnored => "a backup goes on with a label another job claimed",
        }
    }

    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Whether the simulator told this node to fail its next `task` (a scenario's `fail-next-task`).
/// Consumes one injected failure. Always false outside the simulator.
pub fn fail_task(task: Task) -> bool {
    fail_point(task.name())
}

/// Whether the simulator told this node to fail the next run of the job step `step` (the FE's
/// `backup_<state>` / `restore_<state>`, named by the job code from its states). Consumes one.
pub fn fail_step(step: &str) -> bool {
    fail_point(step)
}

fn fail_point(name: &str) -> bool {
    #[cfg(madsim)]
    {
        let node = madsim::plugin::node();
        let fail = injected::take(node, name);
        if fail {
            coverage::struck("task-failure");
        }
        fail
    }
    #[cfg(not(madsim))]
    {
        let _ = name;
        false
    }
}

/// Makes `node`'s next `times` runs of the task or step `name` fail (simulation only).
#[cfg(madsim)]
pub fn inject_task_failure(node: madsim::task::NodeId, name: &str, times: u32) {
    injected::add(node, name, times);
}

#[cfg(madsim)]
mod injected {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    // One simulated world per thread (the runner gives every seed its own thread), so a
    // thread-local is the world's.
    thread_local! {
        static FAILURES: RefCell<BTreeMap<(String, String), u32>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn add(node: madsim::task::NodeId, task: &str, times: u32) {
        FAILURES.with(|f| *f.borrow_mut().entry((node.to_string(), task.to_string())).or_default() += times);
    }

    pub fn take(node: madsim::task::NodeId, task: &str) -> bool {
        FAILURES.with(|f| {
            let mut map = f.borrow_mut();
            let key = (node.to_string(), task.to_string());
            match map.get_mut(&key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        })
    }
}

/// Whether the simulator switched on the deliberate bug `bug`. Always false outside the simulator.
pub fn injected_bug(bug: Bug) -> bool {
    #[cfg(madsim)]
    {
        bugs::enabled(bug.name())
    }
    #[cfg(not(madsim))]
    {
        let _ = bug;
        false
    }
}

/// Switches on the deliberate bug `bug` for this simulated world (simulation only).
#[cfg(madsim)]
pub fn inject_bug(bug: Bug) {
    bugs::enable(bug.name());
}

#[cfg(madsim)]
mod bugs {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    thread_local! {
        static ON: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    }

    pub fn enable(name: &str) {
        ON.with(|on| on.borrow_mut().insert(name.to_string()));
    }

    pub fn enabled(name: &str) -> bool {
        ON.with(|on| on.borrow().contains(name))
    }
}

/// Coverage (simulation only): the FE tells the simulator the state of a job at every journal
/// record of it it applies (at commit and at replay), so the simulator can count which job states
/// each fault struck. No effect on behaviour, and none outside the simulator.
pub fn job_state(kind: &'static str, job_id: i64, state: &'static str, order: usize, ended: bool) {
    #[cfg(madsim)]
    {
        coverage::job_state(kind, job_id, state, ended);
        coverage::trace_job(kind, job_id, state, order);
    }
    #[cfg(not(madsim))]
    {
        let _ = (kind, job_id, state, order, ended);
    }
}

/// Trace (simulation only): every state a job of the FE on `node` reaches is passed to `sink`
/// as a line (`backup job 10023 SNAPSHOTING -> UPLOAD_SNAPSHOT`), once: a restarted FE replaying
/// its journal goes through the states again, and those are not new.
#[cfg(madsim)]
pub fn trace_jobs_of(node: madsim::task::NodeId, sink: Box<dyn Fn(String)>) {
    coverage::trace_jobs_of(node, sink);
}

/// Trace (simulation only): what the tasks of job `job_id` on this FE did (`what`: "upload of
/// tablet 10023 to backend 10002 failed: ...", "12 uploads done"), passed to the FE's sink with
/// the job's kind and furthest state. `what` is only called in the simulator.
pub fn job_tasks(job_id: i64, what: impl FnOnce() -> String) {
    #[cfg(madsim)]
    {
        coverage::trace_tasks(job_id, what);
    }
    #[cfg(not(madsim))]
    {
        let _ = (job_id, what);
    }
}

/// Coverage (simulation only): a fault of kind `fault` struck now; counts it against the state
/// every running job is in.
pub fn struck(fault: &'static str) {
    #[cfg(madsim)]
    {
        coverage::struck(fault);
    }
    #[cfg(not(madsim))]
    {
        let _ = fault;
    }
}

/// Coverage (simulation only): a fault aimed at jobs of kind `kind` (a CANCEL BACKUP) struck now.
pub fn struck_kind(fault: &'static str, kind: &'static str) {
    #[cfg(madsim)]
    {
        coverage::struck_if(fault, |k| k == kind);
    }
    #[cfg(not(madsim))]
    {
        let _ = (fault, kind);
    }
}

/// The (kind, state) of every job running now, as the FE last applied it (simulation only):
/// what the simulator waits for before it strikes a fault aimed at a state.
#[cfg(madsim)]
pub fn running_jobs() -> Vec<(&'static str, &'static str)> {
    coverage::running()
}

/// Makes the next `n` checks of the forced fault point `name` fire, on whatever node they run
/// (simulation only): a fault the simulator aims at a moment, not at a node.
#[cfg(madsim)]
pub fn force_faults(name: &'static str, n: u32) {
    coverage::force(name, n);
}

/// Whether the simulator forced the fault point `name` to fire now (consumes one). Always false
/// outside the simulator.
pub fn forced_fault(name: &str) -> bool {
    #[cfg(madsim)]
    {
        coverage::take_forced(name)
    }
    #[cfg(not(madsim))]
    {
        let _ = name;
        false
    }
}

/// The (job kind, state, fault kind) cells struck in this simulated world, with their counts,
/// and a fresh start for the next world on this thread (simulation only).
#[cfg(madsim)]
pub fn take_coverage() -> Vec<((&'static str, &'static str, &'static str), u64)> {
    coverage::take()
}

#[cfg(madsim)]
mod coverage {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    type Cell = (&'static str, &'static str, &'static str);
    /// Where the job states of one FE go.
    type Sink = Box<dyn Fn(String)>;
    /// (FE node, job kind, job id).
    type JobKey = (madsim::task::NodeId, &'static str, i64);

    thread_local! {
        /// Every job not ended: (FE node, kind, id) -> (kind, state). Two clusters of one world
        /// number their jobs alike: the FE node tells them apart.
        static RUNNING: RefCell<BTreeMap<JobKey, (&'static str, &'static str)>> = const { RefCell::new(BTreeMap::new()) };
        static STRUCK: RefCell<BTreeMap<Cell, u64>> = const { RefCell::new(BTreeMap::new()) };
        static FORCED: RefCell<BTreeMap<&'static str, u32>> = const { RefCell::new(BTreeMap::new()) };
        /// FE node -> where its jobs' states go.
        static SINKS: RefCell<BTreeMap<madsim::task::NodeId, Sink>> = RefCell::new(BTreeMap::new());
        /// (FE node, kind, job) -> the furthest state traced: (its order, its name).
        static TRACED: RefCell<BTreeMap<JobKey, (usize, &'static str)>> = const { RefCell::new(BTreeMap::new()) };
        /// (FE node, kind, job) -> task lines it traced.
        static TASK_LINES: RefCell<BTreeMap<JobKey, u32>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn trace_jobs_of(node: madsim::task::NodeId, sink: Sink) {
        SINKS.with(|s| s.borrow_mut().insert(node, sink));
    }

    pub fn trace_job(kind: &'static str, job_id: i64, state: &'static str, order: usize) {
        let node = madsim::plugin::node();
        let from = TRACED.with(|t| {
            let mut traced = t.borrow_mut();
            let key = (node, kind, job_id);
            match traced.get(&key) {
                Some((furthest, _)) if *furthest >= order => None,
                before => {
                    let from = before.map_or("new", |(_, name)| *name);
                    traced.insert(key, (order, state));
                    Some(from)
                }
            }
        });
        if let Some(from) = from {
            SINKS.with(|s| {
                if let Some(sink) = s.borrow().get(&node) {
                    sink(format!("{kind} job {job_id} {from} -> {state}"));
                }
            });
        }
    }

    pub fn running() -> Vec<(&'static str, &'static str)> {
        RUNNING.with(|r| r.borrow().values().copied().collect())
    }

    pub fn force(name: &'static str, n: u32) {
        FORCED.with(|f| *f.borrow_mut().entry(name).or_default() += n);
    }

    pub fn take_forced(name: &str) -> bool {
        FORCED.with(|f| match f.borrow_mut().get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
    }

    /// Task lines one job puts in the trace at most (a job of thousands of tablets on a backend
    /// that keeps failing would otherwise fill it).
    const MAX_TASK_LINES_PER_JOB: u32 = 64;

    pub fn trace_tasks(job_id: i64, what: impl FnOnce() -> String) {
        let node = madsim::plugin::node();
        let job = TRACED.with(|t| {
            let traced = t.borrow();
            traced
                .iter()
                .find(|((n, _, id), _)| *n == node && *id == job_id)
                .map(|((_, kind, _), (_, state))| (*kind, *state))
        });
        let Some((kind, state)) = job else {
            return;
        };
        let lines = TASK_LINES.with(|t| {
            let mut counts = t.borrow_mut();
            let n = counts.entry((node, kind, job_id)).or_default();
            *n = n.saturating_add(1);
            *n
        });
        let line = match lines {
            n if n < MAX_TASK_LINES_PER_JOB => format!("{kind} job {job_id} {state}: {}", what()),
            n if n == MAX_TASK_LINES_PER_JOB => {
                format!("{kind} job {job_id} {state}: (its further task lines not traced)")
            }
            _ => return,
        };
        SINKS.with(|s| {
            if let Some(sink) = s.borrow().get(&node) {
                sink(line);
            }
        });
    }

    pub fn job_state(kind: &'static str, job_id: i64, state: &'static str, ended: bool) {
        let key = (madsim::plugin::node(), kind, job_id);
        RUNNING.with(|r| {
            let mut running = r.borrow_mut();
            if ended {
                running.remove(&key);
            } else {
                running.insert(key, (kind, state));
            }
        });
    }

    pub fn struck(fault: &'static str) {
        struck_if(fault, |_| true);
    }

    pub fn struck_if(fault: &'static str, of_kind: impl Fn(&str) -> bool) {
        let cells: Vec<Cell> = RUNNING.with(|r| {
            let running = r.borrow();
            running.values().filter(|(kind, _)| of_kind(kind)).map(|(kind, state)| (*kind, *state, fault)).collect()
        });
        STRUCK.with(|s| {
            let mut struck = s.borrow_mut();
            for cell in cells {
                *struck.entry(cell).or_default() += 1;
            }
        });
    }

    pub fn take() -> Vec<(Cell, u64)> {
        RUNNING.with(|r| r.borrow_mut().clear());
        FORCED.with(|f| f.borrow_mut().clear());
        SINKS.with(|s| s.borrow_mut().clear());
        TRACED.with(|t| t.borrow_mut().clear());
        TASK_LINES.with(|t| t.borrow_mut().clear());
        STRUCK.with(|s| std::mem::take(&mut *s.borrow_mut()).into_iter().collect())
    }
}

/// Runs a server's handler as a real gRPC server does when its caller gives up (a deadline
/// passed, the connection dropped): now and then, under buggify, the handler's future is
/// dropped at whatever await it reached, and `None` comes back. madsim's servers never do this
/// by themselves, so without this point the simulator could not find work that a cut leaves half
/// done. Outside the simulator it just runs `handler`.
pub async fn cut_by_caller<F: std::future::Future>(handler: F) -> Option<F::Output> {
    #[cfg(madsim)]
    {
        use madsim::rand::Rng;
        use std::task::Poll;
        if !buggify_with_prob(0.02) {
            return Some(handler.await);
        }
        let after_ms = madsim::rand::thread_rng().gen_range(0..=40u64);
        let mut handler = std::pin::pin!(handler);
        let mut timer = std::pin::pin!(madsim::time::sleep(std::time::Duration::from_millis(after_ms)));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = handler.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
    #[cfg(not(madsim))]
    {
        Some(handler.await)
    }
}

/// 64 random bits: from the seed in the simulator (so a run replays), from the operating
/// system's randomness elsewhere. The one source of randomness of the production tree.
pub fn random_u64() -> u64 {
    #[cfg(madsim)]
    {
        madsim::rand::random()
    }
    #[cfg(not(madsim))]
    {
        use std::hash::{BuildHasher, Hasher};
        // Each RandomState is keyed from the OS's random source (and a per-process counter).
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish()
    }
}
