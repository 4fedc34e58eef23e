//! What a statement runs in and returns: the client session and the result of a statement.

use crate::fe::catalog::auth::UserIdentity;

/// A client session's state that statements read and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The current database (`USE`), empty when none.
    pub database: String,
    /// The authenticated user's identity (the user record it matched).
    pub identity: UserIdentity,
    /// The connection's id (MySQL protocol), 0 over gRPC.
    pub connection_id: u32,
}

impl Session {
    /// A session of `identity` with no current database.
    pub fn new(identity: UserIdentity, connection_id: u32) -> Self {
        Session { database: String::new(), identity, connection_id }
    }

    /// The operator's session (gRPC endpoint, standalone launcher): root.
    pub fn root() -> Self {
        Session::new(UserIdentity::root(), 0)
    }
}

/// What a successful statement returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutput {
    /// A result set; `None` cells are SQL NULL.
    Rows { columns: Vec<String>, rows: Vec<Vec<Option<String>>> },
    /// "Query OK, N rows affected".
    Ok { affected_rows: u64 },
}

/// Doris's capacity format: `1.234 GB`.
pub fn format_capacity(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.3} {}", UNITS[unit])
}
