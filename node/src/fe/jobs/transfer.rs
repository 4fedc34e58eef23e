//! The transfer pump: moves one file set per tablet between backends and the repository (a
//! backup's uploads, a restore's downloads), one task per tablet (or replica), at most
//! [`MAX_TRANSFERS_PER_BACKEND`] per backend and [`MAX_TRANSFERS_IN_FLIGHT`] per job. A task
//! whose backend is shown dead is abandoned at once (its call is cut). A failed task waits a
//! backoff and is tried again, where the kind places it (another replica for an upload, the same
//! one for a download), at most [`MAX_TASK_ATTEMPTS`] times when the failure counts. Every
//! [`TRANSFER_TICK_MS`] the pump asks the busy backends for their file counters (SHOW's
//! Progress). What differs between the kinds is a [`Transfer`].
//!
//! Cost: each round reads only the job's repository and the backends (never a copy of the whole
//! FE state), so a job's FE work grows linearly with its tablets.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::fe::catalog::{RepositoryKind, RepositoryRecord};
use crate::fe::jobs::driver::{MAX_TASK_ATTEMPTS, StepError, backoff, fail};
use crate::fe::jobs::runtime::JobRuntime;
use crate::fe::{Fe, FeState};
use crate::signal::Signal;

/// Transfers in flight per backend per job: as many as the BE runs at once, so none waits there.
pub const MAX_TRANSFERS_PER_BACKEND: usize = 2;
/// Transfers in flight per job.
pub const MAX_TRANSFERS_IN_FLIGHT: usize = 64;
/// How often the pump asks busy backends for their progress.
pub const TRANSFER_TICK_MS: u64 = 1_000;

const _: () = assert!(MAX_TRANSFERS_PER_BACKEND == crate::be::MAX_CONCURRENT_UPLOADS);
const _: () = assert!(MAX_TRANSFERS_PER_BACKEND == crate::be::MAX_CONCURRENT_DOWNLOADS);
const _: () = assert!(MAX_TRANSFERS_PER_BACKEND <= MAX_TRANSFERS_IN_FLIGHT);

/// Why one task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskFailure {
    pub message: String,
    /// Whether it counts against the task's attempts (an earlier attempt still running on the
    /// backend, or a download waiting for its backend, does not).
    pub counts: bool,
    /// The repository's bytes were bad (a wrong md5): the job fails with BAD_FILE.
    pub damaged: bool,
}

impl TaskFailure {
    /// A failure that counts, of bytes that were not damaged.
    pub fn counted(message: impl Into<String>) -> TaskFailure {
        TaskFailure { message: message.into(), counts: true, damaged: false }
    }
}

/// The cluster's backends as a job driver needs them.
pub(crate) struct ClusterView {
    /// Member backends' addresses, by id.
    pub members: BTreeMap<i64, String>,
    pub alive: BTreeSet<i64>,
}

impl ClusterView {
    /// The address of an alive member backend.
    pub fn alive_addr(&self, backend_id: i64) -> Option<&String> {
        self.members.get(&backend_id).filter(|_| self.alive.contains(&backend_id))
    }
}

/// How a job reaches its repository this round.
pub(crate) struct Route {
    pub repo: RepositoryRecord,
    /// Every property, secrets included.
    pub properties: BTreeMap<String, String>,
    /// The broker to go through (`Ok("")`: none), or why it cannot be reached now.
    pub broker_addr: Result<String, String>,
}

/// A task in the pump's queue.
pub(crate) struct Queued<T> {
    pub task: T,
    pub attempts: u32,
    /// Failures per backend, so a retry can prefer another one.
    pub failures: BTreeMap<i64, u32>,
    ready_at: tokio::time::Instant,
}

impl<T> Queued<T> {
    /// A task not tried yet, ready at `ready_at`.
    pub(crate) fn new(task: T, ready_at: tokio::time::Instant) -> Queued<T> {
        Queued { task, attempts: 0, failures: BTreeMap::new(), ready_at }
    }
}

/// One kind of transfer.
pub(crate) trait Transfer {
    type Task;
    /// The request of one task, built when it starts.
    type Request;
    /// What a finished task gives back.
    type Output;
    /// "upload" or "download", and how its messages name the backend ("from", "on").
    const VERB: &'static str;
    const PREPOSITION: &'static str;

    fn job_id(&self) -> i64;
    fn tablet_id(task: &Self::Task) -> i64;
    /// The backend UnfinishedTasks names for a task waiting in the queue.
    fn shown_backend(task: &Self::Task) -> i64;
    /// Where a task can run now (`busy` says a backend has its share in flight): `Ok(None)`
    /// leaves it queued this round; an error fails the job.
    fn place(
        &self,
        view: &ClusterView,
        queued: &Queued<Self::Task>,
        busy: &dyn Fn(i64) -> bool,
    ) -> Result<Option<(i64, String)>, StepError>;
    fn request(&self, route: &Route, broker_addr: String, task: &Self::Task, backend_id: i64) -> Self::Request;
    /// The call of one task.
    fn call(fe: &Fe, addr: String, request: Self::Request) -> impl Future<Output = Result<Self::Output, TaskFailure>>;
    /// The failure of a task whose backend is shown dead.
    fn backend_dead(backend_id: i64) -> TaskFailure;
    /// Checks what a finished call gave back.
    fn check(&self, task: &Self::Task, backend_id: i64, output: Self::Output) -> Result<Self::Output, TaskFailure>;
    /// The progress each backend starts with.
    fn begin(&self, runtime: &mut JobRuntime, queue: &[Queued<Self::Task>]);
    /// Progress when a task starts on a backend, and when it fails there.
    fn started(&self, runtime: &mut JobRuntime, backend_id: i64);
    fn failed(&self, runtime: &mut JobRuntime, backend_id: i64);
    /// The job's failure once a task has used its attempts.
    fn give_up(&self, queued: &Queued<Self::Task>, message: &str, failure: &TaskFailure) -> StepError;
    /// A backend's counters of the job's running transfers.
    fn progress(fe: &Fe, addr: String, job_id: i64) -> impl Future<Output = Option<(u64, u64)>>;
}

/// A task in flight: its queue entry, its backend, and the call.
type Flight<T, O> = (Queued<T>, i64, Result<O, TaskFailure>);

impl Fe {
    /// Runs every task of `tasks` to its end; what each gave back, with its task and backend, in
    /// the order they finished. Fails the job when a task uses its attempts or `place` says so.
    pub(crate) async fn pump<K: Transfer>(
        &self,
        kind: &K,
        repo_id: i64,
        tasks: Vec<K::Task>,
    ) -> Result<Vec<(K::Task, i64, K::Output)>, StepError> {
        let job_id = kind.job_id();
        let start = crate::clock::monotonic();
        let mut queue: VecDeque<Queued<K::Task>> = tasks.into_iter().map(|task| Queued::new(task, start)).collect();
        let total = queue.len();
        let mut done = Vec::with_capacity(total);
        let mut per_backend: BTreeMap<i64, usize> = BTreeMap::new();
        let dead_backends = Signal::new(BTreeSet::<i64>::new());
        let mut in_flight = FuturesUnordered::new();
        // Every task is unfinished from now until it is done (a failed one keeps its entry).
        self.with_runtime(job_id, |r| {
            kind.begin(r, queue.make_contiguous());
            for queued in &queue {
                r.unfinished.entry(K::tablet_id(&queued.task)).or_insert(K::shown_backend(&queued.task));
            }
        });
        let mut next_poll = crate::clock::monotonic() + Duration::from_millis(TRANSFER_TICK_MS);
        while done.len() < total {
            let (route, view) = self.transfer_view(repo_id).await?;
            dead_backends.set(per_backend.keys().filter(|b| !view.alive.contains(b)).copied().collect());
            let now = crate::clock::monotonic();
            let mut i = 0;
            // The scan ends when every alive backend has its share in flight: it must not walk
            // the whole queue after each finished task (a job of 10^4 tablets would be
            // quadratic). With none alive it walks it, so a task whose backends were all dropped
            // fails the job (in `place`) instead of waiting for its timeout.
            let busy = |per_backend: &BTreeMap<i64, usize>, b: i64| {
                per_backend.get(&b).copied().unwrap_or(0) >= MAX_TRANSFERS_PER_BACKEND
            };
            while i < queue.len()
                && in_flight.len() < MAX_TRANSFERS_IN_FLIGHT
                && (view.alive.is_empty() || view.alive.iter().any(|b| !busy(&per_backend, *b)))
            {
                let broker_addr = match &route.broker_addr {
                    Ok(addr) => addr.clone(),
                    Err(e) => {
                        self.with_runtime(job_id, |r| r.note_error(format!("repository {}: {e}", route.repo.name)));
                        break;
                    }
                };
                let placed = kind.place(&view, &queue[i], &|b| busy(&per_backend, b))?;
                let (Some((backend_id, addr)), true) = (placed, queue[i].ready_at <= now) else {
                    i += 1;
                    continue;
                };
                let queued = queue.remove(i).expect("a task at a scanned index");
                *per_backend.entry(backend_id).or_default() += 1;
                let request = kind.request(&route, broker_addr, &queued.task, backend_id);
                self.with_runtime(job_id, |r| {
                    r.unfinished.insert(K::tablet_id(&queued.task), backend_id);
                    kind.started(r, backend_id);
                });
                in_flight.push(self.fly::<K>(queued, backend_id, addr, request, dead_backends.clone()));
            }
            let finished = tokio::select! {
                biased;
                Some(flight) = in_flight.next(), if !in_flight.is_empty() => Some(flight),
                _ = tokio::time::sleep_until(next_poll) => None,
            };
            // Progress is asked for on its own clock: tasks finishing one after another must not
            // starve it.
            if crate::clock::monotonic() >= next_poll {
                self.poll_progress::<K>(job_id, &view, &per_backend).await;
                next_poll = crate::clock::monotonic() + Duration::from_millis(TRANSFER_TICK_MS);
            }
            let Some((mut queued, backend_id, result)) = finished else {
                continue;
            };
            if let Some(n) = per_backend.get_mut(&backend_id) {
                *n -= 1;
                if *n == 0 {
                    per_backend.remove(&backend_id);
                }
            }
            let tablet_id = K::tablet_id(&queued.task);
            match result.and_then(|output| kind.check(&queued.task, backend_id, output)) {
                Ok(output) => {
                    self.with_runtime(job_id, |r| {
                        r.unfinished.remove(&tablet_id);
                        r.progress.entry(backend_id).or_default().tablets_done += 1;
                    });
                    done.push((queued.task, backend_id, output));
                }
                Err(failure) => {
                    let message = format!(
                        "{} of tablet {tablet_id} {} backend {backend_id}: {}",
                        K::VERB,
                        K::PREPOSITION,
                        failure.message
                    );
                    tracing::info!(job_id, "fe: {message}");
                    self.note_task_error(job_id, &message);
                    self.with_runtime(job_id, |r| kind.failed(r, backend_id));
                    if failure.counts {
                        queued.attempts += 1;
                        if queued.attempts >= MAX_TASK_ATTEMPTS {
                            return Err(kind.give_up(&queued, &message, &failure));
                        }
                    }
                    *queued.failures.entry(backend_id).or_default() += 1;
                    queued.ready_at = crate::clock::monotonic() + backoff(queued.attempts.max(1));
                    queue.push_back(queued);
                }
            }
        }
        palo_buggify::job_tasks(job_id, || {
            let backends: BTreeSet<i64> = done.iter().map(|d| d.1).collect();
            format!("{total} {}s done on {} backend(s)", K::VERB, backends.len())
        });
        Ok(done)
    }

    /// One task's call, cut when its backend is shown dead.
    async fn fly<K: Transfer>(
        &self,
        queued: Queued<K::Task>,
        backend_id: i64,
        addr: String,
        request: K::Request,
        dead_backends: Signal<BTreeSet<i64>>,
    ) -> Flight<K::Task, K::Output> {
        let result = tokio::select! {
            biased;
            r = K::call(self, addr, request) => r,
            _ = dead_backends.wait_for(|dead| dead.contains(&backend_id)) => Err(K::backend_dead(backend_id)),
        };
        (queued, backend_id, result)
    }

    /// Asks each backend with tasks in flight for its counters (shown as Progress).
    async fn poll_progress<K: Transfer>(&self, job_id: i64, view: &ClusterView, per_backend: &BTreeMap<i64, usize>) {
        let calls = per_backend
            .keys()
            .filter_map(|be| view.alive_addr(*be).map(|addr| (*be, addr.clone())))
            .map(|(be, addr)| async move { (be, K::progress(self, addr, job_id).await) });
        for (be, counts) in futures_util::future::join_all(calls).await {
            if let Some((files_total, files_done)) = counts {
                self.with_runtime(job_id, |r| {
                    let p = r.progress.entry(be).or_default();
                    p.files_total = files_total;
                    p.files_done = files_done;
                });
            }
        }
    }

    /// The backends and which are alive, read without copying the whole state (the pump asks
    /// after every finished task).
    pub(crate) async fn cluster_view(&self) -> ClusterView {
        let members = member_addrs(&self.durable.lock().await.state);
        self.view_of(members)
    }

    /// Which of `members` heartbeats show alive.
    fn view_of(&self, members: BTreeMap<i64, String>) -> ClusterView {
        let health = self.health_snapshot();
        let alive = members.keys().filter(|id| health.backends.get(id).is_some_and(|h| h.alive)).copied().collect();
        ClusterView { members, alive }
    }

    /// How to reach the repository and the backends this round, read under one hold of the
    /// state's lock and without copying the state.
    async fn transfer_view(&self, repo_id: i64) -> Result<(Route, ClusterView), StepError> {
        let durable = self.durable.lock().await;
        let route = self.route_in(&durable.state, repo_id)?;
        let members = member_addrs(&durable.state);
        drop(durable);
        Ok((route, self.view_of(members)))
    }

    fn route_in(&self, state: &FeState, repo_id: i64) -> Result<Route, StepError> {
        let repo = repository_of(state, repo_id)?;
        let broker_addr = match &repo.kind {
            RepositoryKind::S3 => Ok(String::new()),
            RepositoryKind::Broker { broker } => self.broker_addr(state, broker),
        };
        let properties = self.repository_properties(&repo);
        Ok(Route { repo, properties, broker_addr })
    }
}

/// Every member backend's address, by id.
fn member_addrs(state: &FeState) -> BTreeMap<i64, String> {
    state.membership.backends.values().map(|b| (b.id, b.addr())).collect()
}

/// A job's repository; the job fails once it is gone (dropped while the job ran).
pub(crate) fn repository_of(state: &FeState, repo_id: i64) -> Result<RepositoryRecord, StepError> {
    state
        .catalog
        .repositories
        .values()
        .find(|r| r.id == repo_id)
        .cloned()
        .ok_or_else(|| fail(format!("failed to get repository: {repo_id}")))
}
