//! The BACKUP job as the journal keeps it: its states, the legal moves between them, what each
//! state has learned (the tables it copies, the snapshots it took, the files it uploaded), and the
//! per-database history SHOW BACKUP prints.
//!
//! ```text
//! PENDING -> SNAPSHOTING -> UPLOAD_SNAPSHOT -> UPLOADING -> SAVE_META -> UPLOAD_INFO -> FINISHED
//!    \___________\_______________\________________\____________\______________\____-> CANCELLED
//! ```
//!
//! Every move is one journal record carrying the whole job, so a restarted FE resumes each job
//! from its last state; the work of a state is idempotent (snapshots are tagged with the job and
//! released together, uploads skip files already present), so redoing it after a crash is safe.
//! [`BackupJobs::apply`] asserts that every record follows the graph: a record that does not is a
//! bug, and the simulator reports it as one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fe::catalog::TableRecord;
use crate::fe::jobs::state::JobState;
use crate::fe::jobs::status::{JobStatus, MAX_TASK_ERRORS, drop_oldest_ended};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackupState {
    Pending,
    Snapshoting,
    UploadSnapshot,
    Uploading,
    SaveMeta,
    UploadInfo,
    Finished,
    Cancelled,
}

impl JobState for BackupState {
    const KIND: &'static str = "backup";
    const ALL: &'static [BackupState] = &[
        BackupState::Pending,
        BackupState::Snapshoting,
        BackupState::UploadSnapshot,
        BackupState::Uploading,
        BackupState::SaveMeta,
        BackupState::UploadInfo,
        BackupState::Finished,
        BackupState::Cancelled,
    ];
    const FINISHED: BackupState = BackupState::Finished;
    const CANCELLED: BackupState = BackupState::Cancelled;

    fn name(self) -> &'static str {
        match self {
            BackupState::Pending => "PENDING",
            BackupState::Snapshoting => "SNAPSHOTING",
            BackupState::UploadSnapshot => "UPLOAD_SNAPSHOT",
            BackupState::Uploading => "UPLOADING",
            BackupState::SaveMeta => "SAVE_META",
            BackupState::UploadInfo => "UPLOAD_INFO",
            BackupState::Finished => "FINISHED",
            BackupState::Cancelled => "CANCELLED",
        }
    }
}

/// A table the job backs up, as resolved when it was submitted; the partitions named, or all of
/// them (empty) as they are when the job takes its snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupObject {
    pub table: String,
    pub partitions: Vec<String>,
}

/// One replica's snapshot of a tablet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSnapshot {
    pub backend_id: i64,
    /// As MakeSnapshot returned it: `snapshot/<name>`, relative to the BE's storage root.
    pub path: String,
    /// The files of the tablet in it, header last.
    pub files: Vec<String>,
}

/// A BACKUP job: what it was asked, where it is, and what it has learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJob {
    pub id: i64,
    pub label: String,
    pub db_id: i64,
    pub db_name: String,
    pub repo_id: i64,
    pub repo_name: String,
    pub state: BackupState,
    pub objects: Vec<BackupObject>,
    pub timeout_s: u64,
    pub create_time_ms: u64,
    pub snapshot_finished_time_ms: Option<u64>,
    pub upload_finished_time_ms: Option<u64>,
    pub finished_time_ms: Option<u64>,
    pub status: JobStatus,
    /// The last task errors, `[what: message]`, at most [`MAX_TASK_ERRORS`].
    pub task_errors: Vec<String>,
    /// From SNAPSHOTING on: the tables copied, only the partitions backed up, each partition's
    /// `visible_version` being the version its snapshots hold.
    pub tables: Vec<TableRecord>,
    /// From UPLOAD_SNAPSHOT on: the snapshots taken, per tablet id (one or more replicas).
    #[serde(with = "id_map_as_pairs")]
    pub snapshots: BTreeMap<i64, Vec<ReplicaSnapshot>>,
    /// From SAVE_META on: per tablet id, the files in the repository (`name.<md5>`).
    #[serde(with = "id_map_as_pairs")]
    pub uploaded: BTreeMap<i64, Vec<String>>,
}

/// A map keyed by ids, written as a list of pairs: inside the journal's internally tagged
/// records, JSON's string keys do not read back as integers.
mod id_map_as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, V: Serialize>(map: &BTreeMap<i64, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(d: D) -> Result<BTreeMap<i64, V>, D::Error> {
        Ok(Vec::<(i64, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl BackupJob {
    /// The job's deadline: creation time plus its timeout.
    pub fn deadline_ms(&self) -> u64 {
        self.create_time_ms.saturating_add(self.timeout_s.saturating_mul(1_000))
    }

    /// Every backend holding a replica of a tablet of the job (where its snapshots may be).
    pub fn backends(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .tables
            .iter()
            .flat_map(|t| t.partitions.iter())
            .flat_map(|p| p.tablets.iter())
            .flat_map(|t| t.replicas.iter().map(|r| r.backend_id))
            .chain(self.snapshots.values().flatten().map(|s| s.backend_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// What each state holds, asserted on every record (at commit and at replay): from
    /// UPLOAD_SNAPSHOT on, a snapshot of every tablet; from SAVE_META on, its uploaded files. A
    /// cancelled job holds whatever it had.
    fn assert_state_data(&self) {
        if self.state == BackupState::Cancelled {
            return;
        }
        let tablets = || self.tables.iter().flat_map(|t| t.partitions.iter()).flat_map(|p| p.tablets.iter());
        if self.state > BackupState::Snapshoting {
            assert!(self.snapshot_finished_time_ms.is_some(), "backup job {} has no snapshot time", self.id);
            for t in tablets() {
                let copies = self.snapshots.get(&t.id).map_or(0, Vec::len);
                assert!(
                    copies > 0,
                    "backup job {} is {} without a snapshot of tablet {}",
                    self.id,
                    self.state.name(),
                    t.id
                );
            }
        }
        if self.state > BackupState::Uploading {
            assert!(self.upload_finished_time_ms.is_some(), "backup job {} has no upload time", self.id);
            for t in tablets() {
                assert!(
                    self.uploaded.contains_key(&t.id),
                    "backup job {} is {} without the files of tablet {}",
                    self.id,
                    self.state.name(),
                    t.id
                );
            }
        }
    }

    /// Refuses a job whose last record would not fit in `limit_bytes` (the journal's), checked
    /// before it uploads: from UPLOAD_SNAPSHOT on a record holds every snapshot's file names,
    /// and from SAVE_META on as many uploaded names (`name.<md5>`) again. Known only once the
    /// snapshots list their files; the tablet limit (`MAX_TABLETS_PER_JOB`) keeps jobs of few
    /// files per tablet far below it.
    pub fn check_record_weight(&self, limit_bytes: usize) -> Result<(), String> {
        let files: usize = self.snapshots.values().filter_map(|copies| copies.first()).map(|c| c.files.len()).sum();
        // An uploaded name is a snapshot's file name and 33 bytes of md5, quoted.
        let estimate = encoded_len(self) + encoded_len(&self.snapshots) + 40 * files;
        if estimate > limit_bytes {
            return Err(format!(
                "the backup is too large for one job ({} tablets, {files} files: about {estimate} bytes of job record, \
                 more than the journal's limit of {limit_bytes}); back up fewer tables or partitions at a time",
                self.snapshots.len(),
            ));
        }
        Ok(())
    }

    /// Keeps a task error (the newest [`MAX_TASK_ERRORS`]).
    pub fn note_task_error(&mut self, error: String) {
        if self.task_errors.len() >= MAX_TASK_ERRORS {
            self.task_errors.remove(0);
        }
        self.task_errors.push(error);
    }
}

/// The bytes of `value` encoded as the journal encodes it (counted, not kept).
fn encoded_len<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Every retained job, by id (ids grow, so this is also submission order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJobs {
    pub jobs: BTreeMap<i64, std::sync::Arc<BackupJob>>,
}

impl BackupJobs {
    /// The job of `db_id` that has not ended, if any (there is at most one).
    pub fn running_in(&self, db_id: i64) -> Option<&BackupJob> {
        self.jobs.values().find(|j| j.db_id == db_id && !j.state.is_done()).map(|j| &**j)
    }

    /// Whether a job that has not ended uses the repository.
    pub fn uses_repository(&self, repo_id: i64) -> bool {
        self.jobs.values().any(|j| j.repo_id == repo_id && !j.state.is_done())
    }

    /// A new job or a job's next state. Asserts the state graph and one running job per
    /// database (`other_running`: a restore runs in it); drops the oldest ended jobs of the
    /// database past [`MAX_JOBS_PER_DATABASE`].
    pub fn apply(&mut self, job: &BackupJob, other_running: bool) {
        match self.jobs.get(&job.id) {
            Some(old) => {
                assert!(
                    old.state.may_move_to(job.state),
                    "backup job {} moved from {} to {}",
                    job.id,
                    old.state.name(),
                    job.state.name()
                );
                assert_eq!((old.db_id, &old.label), (job.db_id, &job.label), "backup job {} changed identity", job.id);
            }
            None => {
                assert_eq!(job.state, BackupState::Pending, "backup job {} starts in {}", job.id, job.state.name());
                assert!(
                    self.running_in(job.db_id).is_none() && !other_running,
                    "a second running job in database {} (job {})",
                    job.db_id,
                    job.id
                );
            }
        }
        assert_eq!(
            job.status.is_ok(),
            job.state != BackupState::Cancelled,
            "backup job {}: only a cancelled job has a failed status",
            job.id
        );
        job.assert_state_data();
        self.jobs.insert(job.id, std::sync::Arc::new(job.clone()));
        drop_oldest_ended(&mut self.jobs, job.db_id, |j| j.db_id, |j| j.state.is_done());
    }
}

impl crate::fe::jobs::journaled::JournaledJob for BackupJob {
    type State = BackupState;

    fn id(&self) -> i64 {
        self.id
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn state(&self) -> BackupState {
        self.state
    }

    fn set_state(&mut self, state: BackupState) {
        self.state = state;
    }

    fn task_errors(&self) -> &[String] {
        &self.task_errors
    }

    fn note_task_error(&mut self, error: String) {
        BackupJob::note_task_error(self, error);
    }

    fn journaled(state: &crate::fe::FeState, job_id: i64) -> Option<&Self> {
        state.backup.jobs.get(&job_id).map(|j| &**j)
    }

    fn record(self) -> crate::fe::FeEdit {
        crate::fe::FeEdit::BackupJob { job: Box::new(self) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fe::jobs::status::{MAX_JOBS_PER_DATABASE, StatusCode};

    pub(crate) fn job(id: i64, db_id: i64, state: BackupState) -> BackupJob {
        BackupJob {
            id,
            label: format!("l{id}"),
            db_id,
            db_name: "d".into(),
            repo_id: 1,
            repo_name: "r".into(),
            state,
            objects: Vec::new(),
            timeout_s: 86_400,
            create_time_ms: 0,
            // Set: a job past SNAPSHOTING or UPLOADING has them (and this one has no tablets).
            snapshot_finished_time_ms: Some(0),
            upload_finished_time_ms: Some(0),
            finished_time_ms: None,
            status: JobStatus::ok(),
            task_errors: Vec::new(),
            tables: Vec::new(),
            snapshots: BTreeMap::new(),
            uploaded: BTreeMap::new(),
        }
    }

    /// A job with snapshots and uploads survives a journal record (an internally tagged enum).
    #[test]
    fn a_job_round_trips_through_a_journal_record() {
        let mut j = job(1, 7, BackupState::Pending);
        j.snapshots.insert(
            20_004,
            vec![ReplicaSnapshot { backend_id: 10_001, path: "snapshot/1.0.60".into(), files: vec!["a".into()] }],
        );
        j.uploaded.insert(20_004, vec!["a.0123456789abcdef0123456789abcdef".into()]);
        let edit = crate::fe::FeEdit::BackupJob { job: Box::new(j.clone()) };
        let bytes = serde_json::to_vec(&edit).expect("encodes");
        let back: crate::fe::FeEdit = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(back, edit);
    }

    /// A job whose snapshots list more file names than its records could hold is refused
    /// before it uploads, with the sizes in the message.
    #[test]
    fn a_job_too_large_to_journal_is_refused_before_it_uploads() {
        let mut j = job(1, 7, BackupState::Snapshoting);
        let files: Vec<String> = (0..100).map(|i| format!("0200000000000000{i:04}_0.dat")).collect();
        for tablet in 0..10 {
            j.snapshots.insert(
                20_000 + tablet,
                vec![ReplicaSnapshot { backend_id: 10_001, path: "snapshot/x".into(), files: files.clone() }],
            );
        }
        let weight = encoded_len(&j);
        assert!(j.check_record_weight(weight * 4).is_ok());
        let refused = j.check_record_weight(weight).expect_err("the uploaded names do not fit");
        assert!(refused.contains("10 tablets, 1000 files"), "{refused}");
        assert!(refused.contains("back up fewer tables or partitions"), "{refused}");
    }

    #[test]
    fn the_state_graph() {
        let mut state = BackupState::Pending;
        let mut path = vec![state.name()];
        while let Some(next) = state.next() {
            assert!(state.may_move_to(next));
            assert!(state.may_move_to(BackupState::Cancelled));
            state = next;
            path.push(state.name());
        }
        assert_eq!(path.join(" "), "PENDING SNAPSHOTING UPLOAD_SNAPSHOT UPLOADING SAVE_META UPLOAD_INFO FINISHED");
        assert!(!BackupState::Finished.may_move_to(BackupState::Cancelled));
        assert!(!BackupState::Cancelled.may_move_to(BackupState::Cancelled));
        assert!(!BackupState::Uploading.may_move_to(BackupState::Snapshoting));
        assert!(!BackupState::Pending.may_move_to(BackupState::Uploading));
        crate::fe::jobs::state::check_state_list::<BackupState>();
    }

    #[test]
    fn status_text() {
        assert_eq!(JobStatus::ok().to_string(), "[OK]");
        assert_eq!(JobStatus::error(StatusCode::Timeout, "").to_string(), "[TIMEOUT, msg: ]");
        assert_eq!(
            JobStatus::error(StatusCode::CommonError, "user cancelled").to_string(),
            "[COMMON_ERROR, msg: user cancelled]"
        );
    }

    #[test]
    fn history_is_bounded_and_keeps_the_running_job() {
        let mut jobs = BackupJobs::default();
        jobs.apply(&job(1, 7, BackupState::Pending), false);
        for id in 2..=15 {
            let mut previous = BackupJob::clone(&jobs.jobs[&(id - 1)]);
            previous.state = BackupState::Cancelled;
            previous.status = JobStatus::error(StatusCode::CommonError, "user cancelled");
            jobs.apply(&previous, false);
            jobs.apply(&job(id, 7, BackupState::Pending), false);
        }
        assert_eq!(jobs.jobs.len(), MAX_JOBS_PER_DATABASE);
        assert_eq!(jobs.running_in(7).map(|j| j.id), Some(15));
        assert_eq!(jobs.jobs.keys().next(), Some(&6));
    }

    #[test]
    #[should_panic(expected = "a second running job")]
    fn two_running_jobs_in_a_database_are_a_bug() {
        let mut jobs = BackupJobs::default();
        jobs.apply(&job(1, 7, BackupState::Pending), false);
        jobs.apply(&job(2, 7, BackupState::Pending), false);
    }

    /// A record of UPLOAD_SNAPSHOT that lacks the snapshot of a tablet it backs up is a bug.
    #[test]
    #[should_panic(expected = "without a snapshot of tablet 20004")]
    fn upload_snapshot_without_a_snapshot_is_a_bug() {
        let mut jobs = BackupJobs::default();
        let mut j = job(1, 7, BackupState::Pending);
        jobs.apply(&j, false);
        use crate::fe::catalog::{DistributionRecord, PartitionRecord, TabletRecord};
        use crate::schema::{KeysType, Schema};
        let partition = PartitionRecord {
            id: 20_003,
            name: "p".into(),
            range: None,
            visible_version: 1,
            visible_version_time_ms: 0,
            tablets: vec![TabletRecord { id: 20_004, replicas: Vec::new() }],
            recent_txns: BTreeMap::new(),
        };
        j.tables = vec![TableRecord {
            id: 20_002,
            name: "t".into(),
            schema: Schema { columns: Vec::new(), keys_type: KeysType::Duplicate },
            partition_column: None,
            distribution: DistributionRecord { hash_columns: Vec::new(), buckets: 1 },
            replication_num: 1,
            partitions: vec![partition],
            comment: String::new(),
        }];
        for s in [BackupState::Snapshoting, BackupState::UploadSnapshot] {
            j.state = s;
            jobs.apply(&j, false);
        }
    }

    #[test]
    #[should_panic(expected = "moved from UPLOADING to SNAPSHOTING")]
    fn a_move_off_the_graph_is_a_bug() {
        let mut jobs = BackupJobs::default();
        let mut j = job(1, 7, BackupState::Pending);
        jobs.apply(&j, false);
        for s in
            [BackupState::Snapshoting, BackupState::UploadSnapshot, BackupState::Uploading, BackupState::Snapshoting]
        {
            j.state = s;
            jobs.apply(&j, false);
        }
    }
}
