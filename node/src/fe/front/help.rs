//! `HELP <topic>`: the statement reference, from the server, as Doris and MySQL offer it.
//! Every example is checked by a test to parse.

use crate::error::SqlError;
use crate::fe::session::QueryOutput;

/// (topic, syntax and meaning, example).
pub const TOPICS: [(&str, &str, &str); 42] = [
    (
        "ALTER SYSTEM ADD BACKEND",
        "ALTER SYSTEM ADD BACKEND \"host:port\"[, ...]\nRegisters backends with the cluster; the FE starts heartbeats to them. Needs ADMIN_PRIV.",
        "ALTER SYSTEM ADD BACKEND \"10.0.0.11:9060\", \"10.0.0.12:9060\"",
    ),
    (
        "ALTER SYSTEM DROP BACKEND",
        "ALTER SYSTEM DROP[P] BACKEND \"host:port\"[, ...]\nRemoves backends from the cluster; repair re-creates their replicas on the others. DROP refuses a backend that holds the last up-to-date replica of a tablet (its data would be lost); DROPP drops it anyway. Needs ADMIN_PRIV.",
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
        "SELECT [DISTINCT] expr [AS alias], ... [FROM [db.]table [PARTITION (p, ...)] | numbers(\"number\" = \"N\")]\n  [WHERE cond] [GROUP BY expr, ...] [HAVING cond] [ORDER BY expr [ASC|DESC], ...] [LIMIT n [OFFSET m]]\nReads every partition at its visible version. Expressions: + - * / %, comparisons, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL, LIKE, COUNT/SUM/MIN/MAX/AVG, concat, upper, lower, length, abs, round, coalesce, ifnull, year/month/day, CAST. Also session values: @@variable, DATABASE(), USER(), VERSION(), CONNECTION_ID(). Needs SELECT_PRIV on the database.",
        "SELECT city, count(*), sum(amount) FROM sales.orders WHERE dt >= '2024-01-01' GROUP BY city ORDER BY city LIMIT 10",
    ),
    (
        "CREATE TABLE",
        "CREATE TABLE [IF NOT EXISTS] [db.]name (col TYPE [SUM|MIN|MAX|REPLACE] [NULL|NOT NULL] [DEFAULT \"v\"] [COMMENT \"c\"], ...)\n  [DUPLICATE|UNIQUE|AGGREGATE KEY(cols)] [COMMENT \"c\"]\n  [PARTITION BY RANGE(col) (PARTITION p VALUES LESS THAN (\"v\") | VALUES [(\"lo\"), (\"hi\")), ...)]\n  DISTRIBUTED BY HASH(cols) BUCKETS n | RANDOM BUCKETS n\n  [PROPERTIES (\"replication_num\" = \"n\")]\nTypes: BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, LARGEINT, FLOAT, DOUBLE, DECIMAL(p,s), DATE, DATETIME, CHAR(n), VARCHAR(n), STRING. Key columns come first. Each partition x bucket is a tablet with replication_num replicas (default 3) on distinct alive backends. Needs LOAD_PRIV on the database.",
        "CREATE TABLE sales.orders (dt DATE NOT NULL, id BIGINT NOT NULL, amount DECIMAL(10, 2) SUM DEFAULT \"0\") AGGREGATE KEY(dt, id) PARTITION BY RANGE(dt) (PARTITION p202401 VALUES LESS THAN (\"2024-02-01\")) DISTRIBUTED BY HASH(id) BUCKETS 4 PROPERTIES (\"replication_num\" = \"3\")",
    ),
    (
        "DROP TABLE",
        "DROP TABLE [IF EXISTS] [db.]name\nThe table and its tablets on every backend. Needs LOAD_PRIV on the database.",
        "DROP TABLE IF EXISTS sales.orders",
    ),
    (
        "TRUNCATE TABLE",
        "TRUNCATE TABLE [db.]name\nEmpties every partition (new empty tablets replace the old ones). Needs LOAD_PRIV on the database.",
        "TRUNCATE TABLE sales.orders",
    ),
    (
        "ALTER TABLE",
        "ALTER TABLE [db.]name ADD PARTITION p VALUES LESS THAN (\"v\") | VALUES [(\"lo\"), (\"hi\"))\nALTER TABLE [db.]name DROP PARTITION [IF EXISTS] p\nRanges may not overlap. Needs LOAD_PRIV on the database.",
        "ALTER TABLE sales.orders ADD PARTITION p202402 VALUES LESS THAN (\"2024-03-01\")",
    ),
    (
        "INSERT",
        "INSERT INTO [db.]table [(cols)] VALUES (v, ...), ... | INSERT INTO [db.]table [(cols)] SELECT ...\nOne load, one transaction: every partition it writes gets its next version when a majority of each tablet's replicas hold the rows; otherwise nothing is loaded. Columns left out take their DEFAULT. INSERT ... SELECT ... FROM numbers(\"number\" = \"N\") is the bulk path. Needs LOAD_PRIV on the database.",
        "INSERT INTO sales.orders SELECT '2024-01-15', number, number % 100 FROM numbers(\"number\" = \"1000\")",
    ),
    ("SHOW TABLES", "SHOW TABLES [FROM db]\nThe tables of the current (or named) database.", "SHOW TABLES FROM sales"),
    (
        "SHOW CREATE TABLE",
        "SHOW CREATE TABLE [db.]name\nThe CREATE TABLE statement that makes the table again.",
        "SHOW CREATE TABLE sales.orders",
    ),
    (
        "DESC",
        "DESC | DESCRIBE [db.]name, SHOW COLUMNS FROM [db.]name\nColumns: name, type, nullability, key, default, aggregation.",
        "DESC sales.orders",
    ),
    (
        "SHOW PARTITIONS",
        "SHOW PARTITIONS FROM [db.]name\nPartitions with Doris's columns: VisibleVersion, Range, Buckets, ReplicationNum, DataSize, RowCount, ...",
        "SHOW PARTITIONS FROM sales.orders",
    ),
    (
        "SHOW TABLETS",
        "SHOW TABLETS FROM [db.]name\nEvery replica of every tablet: its backend, Version, LstFailedVersion, LocalDataSize, RowCount, VersionCount and State (NORMAL; LAGGING while repair catches it up; DROPPED when its backend left the cluster and no free backend can take it yet). Needs ADMIN_PRIV.",
        "SHOW TABLETS FROM sales.orders",
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
    (
        "CREATE REPOSITORY",
        "CREATE [READ ONLY] REPOSITORY name WITH BROKER broker_name | WITH S3 ON LOCATION \"uri\" [PROPERTIES (\"k\" = \"v\", ...)]\nA place for backups: file:///dir or s3://bucket/prefix (mem://bucket/prefix in the simulator). S3 properties: s3.endpoint, s3.region, s3.access_key, s3.secret_key, s3.session_token, use_path_style. An existing repository of that name at the location is adopted (how a second cluster attaches). READ ONLY refuses backups. Secrets are never shown. Needs ADMIN_PRIV.",
        "CREATE REPOSITORY repo1 WITH S3 ON LOCATION \"s3://backups/palo\" PROPERTIES (\"s3.endpoint\" = \"http://127.0.0.1:9000\", \"s3.region\" = \"us-east-1\", \"s3.access_key\" = \"ak\", \"s3.secret_key\" = \"sk\")",
    ),
    (
        "DROP REPOSITORY",
        "DROP REPOSITORY name\nForgets the repository; its files at the location stay. Needs ADMIN_PRIV.",
        "DROP REPOSITORY repo1",
    ),
    (
        "SHOW REPOSITORIES",
        "SHOW REPOSITORIES\nRepoId, RepoName, CreateTime, IsReadOnly, Location, Broker, Type and ErrMsg (the last connectivity check's error, or NULL). Needs ADMIN_PRIV.",
        "SHOW REPOSITORIES",
    ),
    (
        "SHOW CREATE REPOSITORY",
        "SHOW CREATE REPOSITORY FOR name\nThe statement that creates the repository again, secrets hidden. Needs ADMIN_PRIV.",
        "SHOW CREATE REPOSITORY FOR repo1",
    ),
    (
        "BACKUP",
        "BACKUP SNAPSHOT [db.]label TO repo [ON (t [PARTITION (p, ...)], ...) | EXCLUDE (t [PARTITION (p, ...)], ...)]\n  [PROPERTIES (\"type\" = \"full\", \"timeout\" = \"seconds\")]\nBacks up tables (all of the database by default) to a repository, asynchronously: watch it with SHOW BACKUP. Each partition is taken at its visible version: hard-link snapshots on the backends, uploaded with the md5 in every file name, then __meta and __info_<time>. A label is used once per repository, even by another cluster. One backup or restore per database at a time. timeout: 600 to 2592000 seconds (default 86400). Needs ADMIN_PRIV.",
        "BACKUP SNAPSHOT sales.nightly_2024_01_31 TO repo1 ON (orders PARTITION (p202401)) PROPERTIES (\"timeout\" = \"7200\")",
    ),
    (
        "SHOW BACKUP",
        "SHOW BACKUP [FROM db] [WHERE SnapshotName = \"label\" | SnapshotName LIKE \"pattern\"]\nThe database's backup jobs: JobId, SnapshotName, DbName, State (PENDING, SNAPSHOTING, UPLOAD_SNAPSHOT, UPLOADING, SAVE_META, UPLOAD_INFO, FINISHED, CANCELLED), BackupObjs, the times, UnfinishedTasks ([tablet=backend]), Progress (per backend: tablets and files uploaded), TaskErrMsg, Status ([OK] or [CODE, msg: ...]) and Timeout. Needs LOAD_PRIV on the database.",
        "SHOW BACKUP FROM sales WHERE SnapshotName LIKE \"nightly%\"",
    ),
    (
        "CANCEL BACKUP",
        "CANCEL BACKUP [FROM db]\nCancels the database's running backup in any state; its snapshots on the backends are released. Files already uploaded stay, and the label stays taken. Needs ADMIN_PRIV.",
        "CANCEL BACKUP FROM sales",
    ),
    (
        "RESTORE",
        "RESTORE SNAPSHOT [db.]label FROM repo [ON (t [PARTITION (p, ...)] [AS alias], ...) | EXCLUDE (t [PARTITION (p, ...)], ...)]\n  PROPERTIES (\"backup_timestamp\" = \"yyyy-MM-dd-HH-mm-ss\" [, \"replication_num\" = \"n\"] [, \"allow_load\" = \"true|false\"]\n  [, \"timeout\" = \"seconds\"] [, \"reserve_replica\" = \"true|false\"] [, \"meta_version\" = \"n\"])\nRestores tables of a snapshot (all by default; SHOW SNAPSHOT gives the timestamp) into the database, asynchronously: watch it with SHOW RESTORE. A table that does not exist is created (under its alias, with replication_num replicas, default 3, or the backed-up count with reserve_replica); one that exists must have the same schema, and its partitions of the same names are overwritten, others added. New tables and partitions are visible at once but refused to queries (and to loads unless allow_load) until the job finishes. Data is downloaded into new tablets and checked by md5; existing data is replaced only at the end, in one step, so a cancel or a failure before it leaves the tables as they were. timeout: 600 to 2592000 seconds (default 86400). Needs ADMIN_PRIV.",
        "RESTORE SNAPSHOT sales.nightly_2024_01_31 FROM repo1 ON (orders PARTITION (p202401) AS orders_jan) PROPERTIES (\"backup_timestamp\" = \"2024-01-31-23-00-00\", \"replication_num\" = \"1\")",
    ),
    (
        "SHOW RESTORE",
        "SHOW RESTORE [FROM db] [WHERE Label = \"label\" | Label LIKE \"pattern\"]\nThe database's restore jobs: JobId, Label, Timestamp, DbName, State (PENDING, SNAPSHOTING, DOWNLOAD, DOWNLOADING, COMMIT, COMMITTING, FINISHED, CANCELLED), AllowLoad, ReplicationNum, ReplicaAllocation, RestoreObjs, the times, UnfinishedTasks ([tablet=backend]), Progress (per backend: tablets and files downloaded), TaskErrMsg, Status ([OK] or [CODE, msg: ...]) and Timeout. Needs LOAD_PRIV on the database.",
        "SHOW RESTORE FROM sales WHERE Label = \"nightly_2024_01_31\"",
    ),
    (
        "CANCEL RESTORE",
        "CANCEL RESTORE [FROM db]\nCancels the database's running restore in any state before its commit: the tables and partitions it created go, the tables it was overwriting keep their data, and its tablets and snapshots on the backends are dropped. Needs ADMIN_PRIV.",
        "CANCEL RESTORE FROM sales",
    ),
    (
        "SHOW SNAPSHOT",
        "SHOW SNAPSHOT ON repo [WHERE SNAPSHOT = \"label\" [AND TIMESTAMP = \"yyyy-MM-dd-HH-mm-ss\"]]\nThe snapshots in a repository with their timestamps; Status OK when complete, ERROR: No info file found for one that never finished. With a TIMESTAMP: the database and the tables and partitions it holds. Needs ADMIN_PRIV.",
        "SHOW SNAPSHOT ON repo1 WHERE SNAPSHOT = \"nightly_2024_01_31\"",
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

pub(crate) fn answer(topic: &str) -> Result<QueryOutput, SqlError> {
    let text = |s: &str| Some(s.to_string());
    if topic.trim().is_empty() || topic.eq_ignore_ascii_case("contents") {
        let rows = TOPICS.iter().map(|(name, _, _)| vec![text(name), text("N")]).collect();
        return Ok(QueryOutput::Rows { columns: vec!["name".into(), "is_it_category".into()], rows });
    }
    let found = find(topic);
    match found.as_slice() {
        [] => Err(SqlError::doris(format!("Nothing found for help topic '{topic}'; run HELP to list the topics"))),
        [(name, description, example)] => Ok(QueryOutput::Rows {
            columns: vec!["name".into(), "description".into(), "example".into()],
            rows: vec![vec![text(name), text(description), text(example)]],
        }),
        many => Ok(QueryOutput::Rows {
            columns: vec!["name".into(), "is_it_category".into()],
            rows: many.iter().map(|(name, _, _)| vec![text(name), text("N")]).collect(),
        }),
    }
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
