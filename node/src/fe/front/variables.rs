//! Session and system variables: what MySQL clients read on connect (`SELECT @@var`,
//! `SHOW VARIABLES`). Values follow Doris where they matter to clients.

use crate::error::SqlError;
use crate::fe::session::{QueryOutput, Session};
use crate::sql::ast::{SessionItem, SessionValue};

/// Sorted by name; `SHOW VARIABLES` lists them in this order.
pub const VARIABLES: [(&str, &str); 24] = [
    ("auto_increment_increment", "1"),
    ("autocommit", "1"),
    ("character_set_client", "utf8mb4"),
    ("character_set_connection", "utf8mb4"),
    ("character_set_results", "utf8mb4"),
    ("character_set_server", "utf8mb4"),
    ("collation_connection", "utf8mb4_0900_bin"),
    ("collation_database", "utf8mb4_0900_bin"),
    ("collation_server", "utf8mb4_0900_bin"),
    ("init_connect", ""),
    ("interactive_timeout", "3600"),
    ("license", "Apache License, Version 2.0"),
    ("lower_case_table_names", "0"),
    ("max_allowed_packet", "16777216"),
    ("net_buffer_length", "16384"),
    ("net_write_timeout", "600"),
    ("performance_schema", "0"),
    ("query_cache_size", "1048576"),
    ("socket", ""),
    ("sql_mode", "ONLY_FULL_GROUP_BY"),
    ("system_time_zone", "UTC"),
    ("time_zone", "UTC"),
    ("transaction_isolation", "REPEATABLE-READ"),
    ("tx_isolation", "REPEATABLE-READ"),
];

/// The MySQL protocol version string Palo reports (Doris reports 5.7.99).
pub const MYSQL_VERSION: &str = "5.7.99";

pub fn version_comment() -> String {
    format!("Palo {} (Apache Doris compatible)", env!("CARGO_PKG_VERSION"))
}

/// The value of a variable, or None if Palo has no such variable.
pub fn lookup(name: &str) -> Option<String> {
    match name {
        "version" => Some(MYSQL_VERSION.to_string()),
        "version_comment" => Some(version_comment()),
        "wait_timeout" => Some("28800".to_string()),
        _ => VARIABLES.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()),
    }
}

/// Every variable, sorted by name.
pub fn all() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = VARIABLES.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    for name in ["version", "version_comment", "wait_timeout"] {
        all.push((name.to_string(), lookup(name).unwrap_or_default()));
    }
    all.sort();
    all
}

pub(crate) fn select_session(
    session: &Session,
    items: Vec<SessionItem>,
    limit: Option<u64>,
) -> Result<QueryOutput, SqlError> {
    let mut row = Vec::with_capacity(items.len());
    for item in &items {
        let value = match &item.value {
            SessionValue::Variable(name) => Some(
                lookup(name)
                    .ok_or_else(|| SqlError::new(1193, "HY000", format!("Unknown system variable '{name}'")))?,
            ),
            SessionValue::Database => (!session.database.is_empty()).then(|| session.database.clone()),
            SessionValue::User => Some(session.identity.to_string()),
            SessionValue::Version => Some(MYSQL_VERSION.to_string()),
            SessionValue::ConnectionId => Some(session.connection_id.to_string()),
            SessionValue::Literal(text) => Some(text.clone()),
        };
        row.push(value);
    }
    let rows = if limit == Some(0) { Vec::new() } else { vec![row] };
    Ok(QueryOutput::Rows { columns: items.into_iter().map(|i| i.column).collect(), rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_sorted_and_unique() {
        let names: Vec<String> = all().into_iter().map(|(n, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(lookup("max_allowed_packet").as_deref(), Some("16777216"));
        assert_eq!(lookup("no_such_variable"), None);
    }
}
