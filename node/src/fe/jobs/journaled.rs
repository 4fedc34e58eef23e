//! What both job kinds are to the journal: a record that holds the whole job, moved to its next
//! state under the journal lock, and the snapshots it holds on backends, released when it ends.

use crate::fe::jobs::driver::{StepError, fail};
use crate::fe::jobs::state::JobState;
use crate::fe::{Fe, FeEdit, FeState};
use crate::journal::MAX_RECORD_BYTES;

/// A job kind as the journal holds it.
pub(crate) trait JournaledJob: Clone + Sized {
    type State: JobState;

    fn id(&self) -> i64;
    fn label(&self) -> &str;
    fn state(&self) -> Self::State;
    fn set_state(&mut self, state: Self::State);
    fn task_errors(&self) -> &[String];
    fn note_task_error(&mut self, error: String);
    /// The job as the state holds it now.
    fn journaled(state: &FeState, job_id: i64) -> Option<&Self>;
    /// The journal record of this job (the whole job).
    fn record(self) -> FeEdit;
}

impl Fe {
    /// Moves `job` to its next state, with `update` applied under the journal lock; `Moved` if
    /// the job is no longer in the state `job` was read in. The record keeps the newest task
    /// errors the runtime saw, so they survive a restart.
    pub(crate) async fn move_to_next<J: JournaledJob>(
        &self,
        job: &J,
        update: impl FnOnce(&FeState, &mut J) -> Result<(), StepError>,
    ) -> Result<(), StepError> {
        let next = job.state().next().ok_or(StepError::Moved)?;
        let mut durable = self.durable.lock().await;
        let current = J::journaled(&durable.state, job.id()).ok_or(StepError::Moved)?;
        if current.state() != job.state() {
            return Err(StepError::Moved);
        }
        let mut moved = current.clone();
        moved.set_state(next);
        for error in self.task_errors_to_keep(job.id()) {
            if !moved.task_errors().contains(&error) {
                moved.note_task_error(error);
            }
        }
        update(&durable.state, &mut moved)?;
        let record = moved.record();
        let payload = crate::fe::encode_record(&record).map_err(|e| StepError::Retry(e.message))?;
        // A job's record grows with its tablets and files; one past the journal's limit could
        // never be saved, so the job fails (the statement's checks keep jobs well under it).
        if payload.len() > MAX_RECORD_BYTES {
            return Err(fail(format!(
                "the job is too large to journal: its {} record is {} bytes, more than the limit of \
                 {MAX_RECORD_BYTES}; run it on fewer tables or partitions at a time",
                next.name(),
                payload.len()
            )));
        }
        tracing::info!(job_id = job.id(), label = %job.label(), state = next.name(), "fe: {} moved", J::State::KIND);
        self.commit_encoded(&mut durable, &record, &payload).await.map_err(|e| StepError::Retry(e.message))
    }

    /// The state, and the id of the database a job statement (SHOW, CANCEL) means.
    pub(crate) async fn job_statement_state(
        &self,
        session: &crate::fe::Session,
        database: Option<String>,
    ) -> Result<(std::sync::Arc<FeState>, i64), crate::error::SqlError> {
        let db_name = crate::fe::jobs::limits::job_database(session, database)?;
        let state = self.state().await;
        let db =
            state.catalog.databases.get(&db_name).ok_or_else(|| crate::error::SqlError::unknown_database(&db_name))?;
        let db_id = db.id;
        Ok((state, db_id))
    }

    /// Journals a new job (PENDING) and wakes the scheduler, so its driver starts at once.
    pub(crate) async fn submit_job<J: JournaledJob>(
        &self,
        durable: &mut crate::fe::Durable,
        job: J,
    ) -> Result<crate::fe::QueryOutput, crate::error::SqlError> {
        tracing::info!(job_id = job.id(), label = %job.label(), "fe: {} submitted", J::State::KIND);
        self.commit_locked(durable, job.record()).await?;
        self.jobs_submitted.modify(|n| *n += 1);
        Ok(crate::fe::QueryOutput::Ok { affected_rows: 0 })
    }

    /// Releases the snapshots of job `job_id` on each of `backends` that answers (a heartbeat
    /// that reports them releases the others).
    pub(crate) async fn release_job_snapshots_on(&self, state: &FeState, job_id: i64, backends: Vec<i64>) {
        let calls = backends.into_iter().filter_map(|id| state.membership.backends.get(&id)).map(|b| {
            let addr = b.addr();
            async move {
                if let Err(e) = self.agent.release_job_snapshots(&addr, job_id).await {
                    tracing::debug!(job_id, %addr, error = %e, "fe: snapshot release failed; heartbeats retry");
                }
            }
        });
        futures_util::future::join_all(calls).await;
    }
}
