//! `HELP <topic>`: the statement reference, from the server, as Doris and MySQL offer it.
//! Every example is checked by a test to parse.

/// (topic, syntax and meaning, example).
pub const TOPICS: [(&str, &str, &str); 21] = [
    (
        "ALTER SYSTEM ADD BACKEND",
        "ALTER SYSTEM ADD BACKEND \"host:port\"[, ...]\nRegisters backends with the cluster; the FE starts heartbeats to them. Needs ADMIN_PRIV.",
        "ALTER SYSTEM ADD BACKEND \"10.0.0.11:9060\", \"10.0.0.12:9060\"",
    ),
    (
        "ALTER SYSTEM DROP BACKEND",
        "ALTER SYSTEM DROP[P] BACKEND \"host:port\"[, ...]\nRemoves backends from the cluster. Needs ADMIN_PRIV.",
        "ALTER SYSTEM DROPP BACKEND \"10.0.0.11:9060\"",
    ),
    (
        "ALTER SYSTEM ADD BROKER",
        "ALTER SYSTEM ADD BROKER name \"host:port\"[, ...]\nRegisters broker processes under a name that repositories use. Needs ADMIN_PRIV.",
        "ALTER SYSTEM ADD BROKER hdfs_broker \"10.0.0.21:8000\"",
    ),
    (
        "ALTER SYSTEM DROP BROKER",
        "ALTER SYSTEM DROP BROKER name \"host:port\"[, ...] | ALTER SYSTEM DROP ALL BROKER name\nRemoves brokers. Needs ADMIN_PRIV.",
        "ALTER SYSTEM DROP ALL BROKER hdfs_broker",
    ),
    (
        "SHOW BACKENDS",
        "SHOW BACKENDS\nLists backends with their ports, start and heartbeat times, liveness, capacity and last error. Needs ADMIN_PRIV.",
        "SHOW BACKENDS",
    ),
    ("SHOW BROKER", "SHOW BROKER\nLists brokers and whether they answer. Needs ADMIN_PRIV.", "SHOW BROKER"),
    (
        "SHOW FRONTENDS",
        "SHOW FRONTENDS\nShows the FE, its ports and the cluster id. Needs ADMIN_PRIV.",
        "SHOW FRONTENDS",
    ),
    (
        "CREATE DATABASE",
        "CREATE DATABASE [IF NOT EXISTS] name\nNames start with a letter; letters, digits, '-' and '_', 64 at most. Needs ADMIN_PRIV.",
        "CREATE DATABASE IF NOT EXISTS sales",
    ),
    ("DROP DATABASE", "DROP DATABASE [IF EXISTS] name\nNeeds ADMIN_PRIV.", "DROP DATABASE IF EXISTS sales"),
    ("USE", "USE name\nMakes a database the session's current one.", "USE sales"),
    ("SHOW DATABASES", "SHOW DATABASES\nLists the databases you have a privilege on.", "SHOW DATABASES"),
    (
        "SET",
        "SET ...\nAccepted for client compatibility (SET NAMES, SET autocommit, ...); has no effect.",
        "SET NAMES utf8mb4",
    ),
    (
        "SELECT",
        "SELECT @@variable | DATABASE() | USER() | VERSION() | CONNECTION_ID() | literal [AS alias], ... [LIMIT n]\nSession values. Queries on tables come with tables.",
        "SELECT @@version_comment, DATABASE() AS db LIMIT 1",
    ),
    (
        "SHOW VARIABLES",
        "SHOW [SESSION | GLOBAL] VARIABLES [LIKE 'pattern']\nLists system variables.",
        "SHOW VARIABLES LIKE 'max%'",
    ),
    (
        "CREATE USER",
        "CREATE USER [IF NOT EXISTS] 'user'@'host' [IDENTIFIED BY 'password']\nThe host is a pattern ('%' for any). Needs ADMIN_PRIV.",
        "CREATE USER 'jack'@'%' IDENTIFIED BY 'secret'",
    ),
    (
        "DROP USER",
        "DROP USER [IF EXISTS] 'user'@'host'\nNeeds ADMIN_PRIV; root cannot be dropped.",
        "DROP USER 'jack'@'%'",
    ),
    (
        "SET PASSWORD",
        "SET PASSWORD [FOR 'user'@'host'] = PASSWORD('password')\nYour own password, or another user's with ADMIN_PRIV.",
        "SET PASSWORD FOR 'jack'@'%' = PASSWORD('n3w')",
    ),
    (
        "GRANT",
        "GRANT ADMIN_PRIV | LOAD_PRIV | SELECT_PRIV[, ...] ON *.* | db.* TO 'user'@'host'\nNeeds ADMIN_PRIV.",
        "GRANT SELECT_PRIV, LOAD_PRIV ON sales.* TO 'jack'@'%'",
    ),
    (
        "REVOKE",
        "REVOKE ADMIN_PRIV | LOAD_PRIV | SELECT_PRIV[, ...] ON *.* | db.* FROM 'user'@'host'\nNeeds ADMIN_PRIV.",
        "REVOKE LOAD_PRIV ON sales.* FROM 'jack'@'%'",
    ),
    (
        "SHOW GRANTS",
        "SHOW GRANTS [FOR 'user'@'host'] | SHOW ALL GRANTS\nYour privileges, or anyone's with ADMIN_PRIV.",
        "SHOW GRANTS FOR 'jack'@'%'",
    ),
    ("HELP", "HELP [topic]\nThis reference; without a topic, the list of topics.", "HELP CREATE USER"),
];

/// The topics `query` names: an exact match alone, otherwise every topic containing it.
pub fn find(query: &str) -> Vec<&'static (&'static str, &'static str, &'static str)> {
    let wanted = query.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
    if let Some(exact) = TOPICS.iter().find(|(name, _, _)| *name == wanted) {
        return vec![exact];
    }
    TOPICS.iter().filter(|(name, _, _)| name.contains(&wanted)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_parses() {
        for (name, _, example) in TOPICS {
            assert!(crate::sql::parse(example).is_ok(), "the example of {name} does not parse: {example}");
        }
    }

    #[test]
    fn exact_topics_win_and_partial_ones_list() {
        assert_eq!(find("create  user").len(), 1);
        assert_eq!(find("grant")[0].0, "GRANT");
        let names: Vec<&str> = find("BROKER").iter().map(|t| t.0).collect();
        assert_eq!(names, vec!["ALTER SYSTEM ADD BROKER", "ALTER SYSTEM DROP BROKER", "SHOW BROKER"]);
        assert!(find("nothing like this").is_empty());
    }
}
