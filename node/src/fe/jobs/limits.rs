//! Limits both job kinds keep: timeouts, labels, what SHOW prints of a job's tasks.

use crate::error::SqlError;

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
