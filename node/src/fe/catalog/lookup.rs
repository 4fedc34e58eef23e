//! Finding things by name: the database a statement means, a table, and SHOW's LIKE patterns.

use crate::error::SqlError;
use crate::fe::FeState;
use crate::fe::catalog::{TableRecord, TableRef};
use crate::fe::session::Session;
use crate::sql::ast::TableName;

/// The database a statement means: the one it names, else the session's.
pub fn database_of(session: &Session, table: &TableName) -> Result<String, SqlError> {
    match &table.database {
        Some(db) => Ok(db.clone()),
        None if !session.database.is_empty() => Ok(session.database.clone()),
        None => Err(SqlError::new(1046, "3D000", "No database selected; run USE db or write db.table")),
    }
}

pub fn unknown_table(db: &str, table: &str) -> SqlError {
    SqlError::new(1146, "42S02", format!("Table '{db}.{table}' doesn't exist"))
}

/// Finds a table: its place and record.
pub fn find_table<'a>(state: &'a FeState, db: &str, table: &str) -> Result<(TableRef, &'a TableRecord), SqlError> {
    let database = state.catalog.databases.get(db).ok_or_else(|| SqlError::unknown_database(db))?;
    let record = database.tables.get(table).ok_or_else(|| unknown_table(db, table))?;
    Ok((TableRef { db_id: database.id, table_id: record.id }, record))
}

/// SQL `LIKE` with `%` and `_`, case-insensitive as MySQL's default collation is.
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Dynamic programming over (pattern, text) prefixes; both are short.
    let mut matches = vec![vec![false; t.len() + 1]; p.len() + 1];
    matches[0][0] = true;
    for i in 1..=p.len() {
        matches[i][0] = matches[i - 1][0] && p[i - 1] == '%';
        for j in 1..=t.len() {
            matches[i][j] = match p[i - 1] {
                '%' => matches[i - 1][j] || matches[i][j - 1],
                '_' => matches[i - 1][j - 1],
                c => matches[i - 1][j - 1] && c == t[j - 1],
            };
        }
    }
    matches[p.len()][t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql_patterns() {
        assert!(like("max%", "max_allowed_packet"));
        assert!(like("%TIMEOUT", "wait_timeout"));
        assert!(like("time_zone", "time_zone"));
        assert!(like("t_me%", "time_zone"));
        assert!(!like("max", "max_allowed_packet"));
        assert!(!like("%zone_", "time_zone"));
    }
}
