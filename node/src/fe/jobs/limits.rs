//! Limits both job kinds keep: timeouts, labels, what SHOW prints of a job's tasks.

use crate::error::SqlError;
use crate::fe::session::Session;
use crate::sql::ast::LabelFilter;

/// The shortest timeout a job may have (Doris: 10 minutes).
pub const MIN_TIMEOUT_S: u64 = 600;

/// The longest: a snapshot on a BE lives at most 30 days.
pub const MAX_TIMEOUT_S: u64 = 30 * 86_400;

/// Longest label (Doris's label rule).
pub const MAX_LABEL_CHARS: usize = 128;

/// Entries of UnfinishedTasks and TaskErrMsg SHOW BACKUP prints.
pub const MAX_SHOWN_TASKS: usize = 100;

/// Doris's label rule: 1 to 128 of letters, digits, `-`, `_` and `:`.
pub fn check_label(label: &str) -> Result<(), SqlError> {
    let valid = !label.is_empty()
        && label.chars().count() <= MAX_LABEL_CHARS
        && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'));
    if valid {
        Ok(())
    } else {
        Err(SqlError::doris(format!(
            "Incorrect label '{label}': a label is 1 to {MAX_LABEL_CHARS} letters, digits, '-', '_' or ':'"
        )))
    }
}

/// The database a job statement means: the one it names (FROM db, db.label), else the session's.
pub(crate) fn job_database(session: &Session, database: Option<String>) -> Result<String, SqlError> {
    match database {
        Some(db) => Ok(db),
        None if !session.database.is_empty() => Ok(session.database.clone()),
        None => Err(SqlError::new(1046, "3D000", "No database selected; run USE db or name it (FROM db, db.label)")),
    }
}

/// Whether SHOW BACKUP/RESTORE's `WHERE SnapshotName = 'l'` or `LIKE 'p%'` takes a job's label.
pub(crate) fn label_matches(filter: Option<&LabelFilter>, label: &str) -> bool {
    match filter {
        None => true,
        Some(LabelFilter::Equals(wanted)) => label == wanted,
        Some(LabelFilter::Like(pattern)) => crate::fe::catalog::lookup::like(pattern, label),
    }
}
