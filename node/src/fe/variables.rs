//! Session and system variables: what MySQL clients read on connect (`SELECT @@var`,
//! `SHOW VARIABLES`). Values follow Doris where they matter to clients.

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
