//! The FE's durable state (`FeState`) and the journal records that change it (`FeEdit`), with
//! the one `apply` that both a commit and a replay run.

use serde::{Deserialize, Serialize};

use crate::fe::catalog::auth::{Auth, AuthEdit};
use crate::fe::catalog::membership::{Membership, MembershipEdit};
use crate::fe::catalog::{Catalog, CatalogEdit};
use crate::fe::jobs::backup::job::{self as backup_job, BackupState};
use crate::fe::jobs::restore::job::{self as restore_job, RestoreState};
use crate::fe::jobs::state::JobState;

/// One journal record. Later issues add catalog and job records here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeEdit {
    /// The first record of a new cluster: its identity, which BEs remember.
    ClusterId { cluster_id: u64 },
    /// One statement's membership changes, applied together.
    Membership { edits: Vec<MembershipEdit> },
    /// One catalog change.
    Catalog { edit: CatalogEdit },
    /// One change to users or privileges.
    Auth { edit: AuthEdit },
    /// A backup job submitted, or moved to its next state (the whole job).
    BackupJob { job: Box<backup_job::BackupJob> },
    /// A restore job submitted, or moved to its next state (the whole job); the move to
    /// SNAPSHOTING, FINISHED or CANCELLED also changes the catalog (see `jobs/restore/job.rs`).
    RestoreJob { job: Box<restore_job::RestoreJob> },
}

/// The FE's durable state: everything the journal rebuilds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeState {
    pub cluster_id: u64,
    pub membership: Membership,
    /// Absent in images written before the catalog existed.
    #[serde(default)]
    pub catalog: Catalog,
    /// Absent in images written before users existed (then only root).
    #[serde(default)]
    pub auth: Auth,
    /// Absent in images written before backups existed.
    #[serde(default)]
    pub backup: backup_job::BackupJobs,
    /// Absent in images written before restores existed.
    #[serde(default)]
    pub restore: restore_job::RestoreJobs,
}

/// A checkpoint of [`FeState`] (the image file's payload).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FeImage {
    pub(crate) format_version: u32,
    pub(crate) state: FeState,
}

/// [`FeImage`] as a checkpoint writes it: the state borrowed, not copied.
#[derive(Debug, Serialize)]
pub(crate) struct FeImageRef<'a> {
    pub(crate) format_version: u32,
    pub(crate) state: &'a FeState,
}

pub(crate) const IMAGE_FORMAT_VERSION: u32 = 1;

impl FeState {
    pub fn apply(&mut self, edit: &FeEdit) {
        match edit {
            FeEdit::ClusterId { cluster_id } => {
                assert_eq!(self.cluster_id, 0, "cluster id set twice");
                assert_ne!(*cluster_id, 0, "cluster id 0 is reserved");
                self.cluster_id = *cluster_id;
            }
            FeEdit::Membership { edits } => {
                for e in edits {
                    self.membership.apply(e);
                }
            }
            FeEdit::Catalog { edit } => self.catalog.apply(edit),
            FeEdit::Auth { edit } => self.auth.apply(edit),
            FeEdit::BackupJob { job } => {
                assert!(
                    self.backup.jobs.contains_key(&job.id) || job.id >= self.catalog.next_id,
                    "backup job id {} reused",
                    job.id
                );
                self.catalog.next_id = self.catalog.next_id.max(job.id + 1);
                let restoring = self.restore.running_in(job.db_id).is_some();
                self.backup.apply(job, restoring);
                palo_buggify::job_state(
                    BackupState::KIND,
                    job.id,
                    job.state.name(),
                    job.state.order(),
                    job.state.is_done(),
                );
            }
            FeEdit::RestoreJob { job } => {
                assert!(
                    self.restore.jobs.contains_key(&job.id) || job.id >= self.catalog.next_id,
                    "restore job id {} reused",
                    job.id
                );
                self.catalog.next_id = self.catalog.next_id.max(job.id + 1);
                let backing_up = self.backup.running_in(job.db_id).is_some();
                self.restore.apply(job, &mut self.catalog, backing_up);
                palo_buggify::job_state(
                    RestoreState::KIND,
                    job.id,
                    job.state.name(),
                    job.state.order(),
                    job.state.is_done(),
                );
            }
        }
    }
}

/// Which job ended or is unknown, among the ids a backend reports snapshots for (a backup's
/// snapshots, or a restore's landing snapshots).
pub(crate) fn ended_jobs(state: &FeState, reported: &[i64]) -> Vec<i64> {
    reported
        .iter()
        .copied()
        .filter(|id| {
            let backup_done = state.backup.jobs.get(id).is_none_or(|j| j.state.is_done());
            let restore_done = state.restore.jobs.get(id).is_none_or(|j| j.state.is_done());
            backup_done && restore_done
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fe::catalog::{self, auth};

    /// The image of a state with users, grants and databases decodes to the same state.
    #[test]
    fn an_image_round_trips() {
        let mut state = FeState::default();
        state.apply(&FeEdit::ClusterId { cluster_id: 7 });
        let identity = auth::UserIdentity::new("jack", "%");
        state.apply(&FeEdit::Auth {
            edit: AuthEdit::CreateUser { identity: identity.clone(), password_sha1_sha1: None },
        });
        state.apply(&FeEdit::Auth {
            edit: AuthEdit::Grant {
                identity,
                scope: auth::GrantScope::Database("d".into()),
                privileges: vec![auth::Privilege::Select],
            },
        });
        let db = catalog::DatabaseRecord { id: 20_001, name: "d".into(), tables: Default::default() };
        state.apply(&FeEdit::Catalog { edit: CatalogEdit::CreateDatabase(db) });
        let image = FeImage { format_version: IMAGE_FORMAT_VERSION, state: state.clone() };
        let bytes = serde_json::to_vec(&image).expect("the state encodes");
        let back: FeImage = serde_json::from_slice(&bytes).expect("the image decodes");
        assert_eq!(back.state, state);
    }
}
