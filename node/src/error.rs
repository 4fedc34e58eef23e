//! The error a SQL client sees: a MySQL error number, its SQLSTATE, and a message that says what
//! to fix. Doris reports most failures as `1105 (HY000) errCode = 2, detailMessage = ...`; Palo
//! does the same for compatibility and uses the specific MySQL codes where one exists.

use crate::rpc::proto;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ERROR {code} ({sql_state}): {message}")]
pub struct SqlError {
    pub code: u16,
    pub sql_state: String,
    pub message: String,
}

impl SqlError {
    pub fn new(code: u16, sql_state: &str, message: impl Into<String>) -> Self {
        SqlError { code, sql_state: sql_state.into(), message: message.into() }
    }

    /// MySQL's ER_BAD_DB_ERROR.
    pub fn unknown_database(name: &str) -> Self {
        SqlError::new(1049, "42000", format!("Unknown database '{name}'"))
    }

    /// A statement that does not parse (MySQL's ER_PARSE_ERROR).
    pub fn syntax(detail: impl std::fmt::Display) -> Self {
        SqlError { code: 1064, sql_state: "42000".into(), message: format!("Syntax error in {detail}") }
    }

    /// Doris's generic analysis/execution error.
    pub fn doris(detail: impl std::fmt::Display) -> Self {
        SqlError { code: 1105, sql_state: "HY000".into(), message: format!("errCode = 2, detailMessage = {detail}") }
    }

    pub fn to_proto(&self) -> proto::SqlError {
        proto::SqlError { code: u32::from(self.code), sql_state: self.sql_state.clone(), message: self.message.clone() }
    }

    pub fn from_proto(e: &proto::SqlError) -> Self {
        SqlError {
            code: u16::try_from(e.code).unwrap_or(1105),
            sql_state: e.sql_state.clone(),
            message: e.message.clone(),
        }
    }
}

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{context}: {source}")]
    Journal { context: String, source: crate::journal::JournalError },
    #[error("{context}: {source}")]
    Disk { context: String, source: crate::disk::DiskError },
    #[error("cannot serve on {addr}: {detail}")]
    Serve { addr: String, detail: String },
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}
