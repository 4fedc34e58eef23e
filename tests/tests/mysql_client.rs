//! The real `mysql` client (Debian's default-mysql-client, installed by `.ci/run`) against
//! `palo-node standalone` on the MySQL protocol port.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use palo_tests::mysql::text;
use palo_tests::{TempDir, start_standalone};

fn mysql_available() -> bool {
    palo_tests::mysql::available()
}

fn mysql(port: u16, args: &[&str]) -> Output {
    palo_tests::mysql::run(port, args)
}

#[test]
fn the_mysql_client_talks_to_standalone() {
    if !mysql_available() {
        return;
    }
    let dir = TempDir::new("mysql");
    let (standalone, offset) = start_standalone(&dir, 30_000);
    let port = 9030 + offset;

    // Box tables (-t) with three alive backends, once heartbeats have run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = mysql(port, &["-uroot", "-t", "-e", "SHOW BACKENDS"]);
        let table = text(&out.stdout);
        let alive = table.lines().filter(|l| l.starts_with('|') && l.contains("| true ")).count();
        if out.status.success() && alive == 3 {
            assert!(table.starts_with("+-----------+"), "a MySQL box table:\n{table}");
            assert!(table.contains("| BackendId | Host "), "{table}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mysql never showed 3 alive backends:\n{table}\n{}\n{}",
            text(&out.stderr),
            standalone.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // DDL and the session: a database created, USE'd at connect (-D), seen by DATABASE().
    let out = mysql(port, &["-uroot", "-e", "CREATE DATABASE sales"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mysql(port, &["-uroot", "-D", "sales", "-N", "-B", "-e", "SELECT DATABASE(); SHOW DATABASES"]);
    assert_eq!(text(&out.stdout), "sales\nsales\n", "{}", text(&out.stderr));

    // Vertical output (\G).
    let out = mysql(port, &["-uroot", "-e", "SHOW BROKER\\G"]);
    let vertical = text(&out.stdout);
    assert!(vertical.contains("*************************** 1. row ***************************"), "{vertical}");
    assert!(vertical.contains("Name: local_broker"), "{vertical}");

    // A syntax error is an ERR packet on a connection that stays open: a script fed to one client
    // session with --force goes on after it.
    let mut child = Command::new("mysql")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-uroot", "--force", "-N", "-B"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mysql runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"SHOW BACKEND;\nSELECT 'still connected';\n").expect("write script");
    }
    let out = child.wait_with_output().expect("mysql ends");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ERROR 1064 (42000)") && stderr.contains("line 1, column 6"), "{stderr}");
    assert_eq!(text(&out.stdout), "still connected\n", "the statement after the error ran on the same connection");

    // Users: a non-admin user logs in with its password, sees only what it was granted, and is
    // refused an admin statement with an access-denied error.
    let out = mysql(
        port,
        &[
            "-uroot",
            "-e",
            "CREATE DATABASE other; CREATE USER 'jack'@'%' IDENTIFIED BY 'j4ck'; GRANT SELECT_PRIV ON sales.* TO 'jack'@'%'",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mysql(port, &["-ujack", "-pj4ck", "-N", "-B", "-e", "SHOW DATABASES; SELECT USER()"]);
    assert_eq!(text(&out.stdout), "sales\n'jack'@'%'\n", "{}", text(&out.stderr));
    let out = mysql(port, &["-ujack", "-pj4ck", "-e", "SHOW BACKENDS"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ERROR 1227 (42000)")
            && stderr.contains("Access denied; you need (at least one of) the (ADMIN) privilege(s)"),
        "{stderr}"
    );
    let out = mysql(port, &["-ujack", "-pj4ck", "-D", "other", "-e", "SELECT 1"]);
    assert!(!out.status.success(), "jack has no privilege on `other`");
    let out = mysql(port, &["-ujack", "-pwrong", "-e", "SELECT 1"]);
    assert!(!out.status.success(), "a wrong password is refused");
    let out = mysql(port, &["-uroot", "-N", "-B", "-e", "SHOW GRANTS FOR 'jack'@'%'"]);
    assert_eq!(text(&out.stdout), "'jack'@'%'\tYes\t\tsales: SELECT_PRIV\n", "{}", text(&out.stderr));

    // Unknown database at connect, and a wrong password, are refused.
    let out = mysql(port, &["-uroot", "-D", "nosuch", "-e", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ERROR 1049 (42000): Unknown database 'nosuch'"), "{}", text(&out.stderr));
    let out = mysql(port, &["-uroot", "-pwrong", "-e", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ERROR 1698"), "{}", text(&out.stderr));
}

/// Waits until `mysql -e SHOW BACKENDS` lists three alive backends.
fn wait_for_backends(port: u16, standalone: &palo_tests::Proc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = mysql(port, &["-uroot", "-N", "-B", "-e", "SHOW BACKENDS"]);
        let alive = text(&out.stdout).lines().filter(|l| l.split('\t').nth(6) == Some("true")).count();
        if out.status.success() && alive == 3 {
            return;
        }
        assert!(Instant::now() < deadline, "no 3 alive backends:\n{}", standalone.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn tables_partitions_and_queries_through_the_mysql_client() {
    if !mysql_available() {
        return;
    }
    let dir = TempDir::new("mysql-tables");
    let (standalone, offset) = start_standalone(&dir, 31_000);
    let port = 9030 + offset;
    wait_for_backends(port, &standalone);

    // 3 range partitions x 4 buckets x 3 replicas.
    let ddl = r#"CREATE DATABASE shop;
        CREATE TABLE shop.orders (
            dt DATE NOT NULL,
            id BIGINT NOT NULL,
            city VARCHAR(16),
            amount DECIMAL(10, 2)
        ) DUPLICATE KEY(dt, id)
        PARTITION BY RANGE(dt) (
            PARTITION p2024_01 VALUES LESS THAN ("2024-02-01"),
            PARTITION p2024_02 VALUES LESS THAN ("2024-03-01"),
            PARTITION p2024_03 VALUES LESS THAN ("2024-04-01")
        )
        DISTRIBUTED BY HASH(id) BUCKETS 4
        PROPERTIES ("replication_num" = "3")"#;
    let out = mysql(port, &["-uroot", "-e", ddl]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), standalone.log());

    let out = mysql(
        port,
        &[
            "-uroot",
            "-D",
            "shop",
            "-e",
            "INSERT INTO orders VALUES ('2024-01-05', 1, 'paris', 10.50), ('2024-01-20', 2, 'lyon', 5.25), \
             ('2024-02-11', 3, 'paris', 7.00), ('2024-03-03', 4, 'nice', 1.10), ('2024-03-30', 5, 'lyon', 2.00); \
             INSERT INTO orders (dt, id, city, amount) VALUES ('2024-02-29', 6, 'paris', 0.40)",
        ],
    );
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), standalone.log());

    // WHERE, ORDER BY.
    let out = mysql(
        port,
        &["-uroot", "-D", "shop", "-N", "-B", "-e", "SELECT id, city FROM orders WHERE amount > 2 ORDER BY id"],
    );
    assert_eq!(text(&out.stdout), "1\tparis\n2\tlyon\n3\tparis\n", "{}", text(&out.stderr));
    // GROUP BY with aggregates, ordered.
    let out = mysql(
        port,
        &[
            "-uroot",
            "-D",
            "shop",
            "-N",
            "-B",
            "-e",
            "SELECT city, count(*), sum(amount) FROM orders GROUP BY city ORDER BY city",
        ],
    );
    assert_eq!(text(&out.stdout), "lyon\t2\t7.25\nnice\t1\t1.10\nparis\t3\t17.90\n", "{}", text(&out.stderr));
    // -t box output.
    let out = mysql(port, &["-uroot", "-D", "shop", "-t", "-e", "SELECT count(*) AS n FROM orders"]);
    let table = text(&out.stdout);
    // Palo sends every result column as text, so the client left-aligns numbers.
    assert!(table.starts_with("+------+\n| n    |\n+------+\n| 6    |\n+------+"), "{table}");

    // SHOW PARTITIONS: three partitions at version 2 or 3 (one or two loads reached each).
    let out = mysql(port, &["-uroot", "-D", "shop", "-N", "-B", "-e", "SHOW PARTITIONS FROM orders"]);
    let partitions = text(&out.stdout);
    let rows: Vec<Vec<&str>> = partitions.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3, "{partitions}");
    let names: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(names, ["p2024_01", "p2024_02", "p2024_03"]);
    let versions: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(versions, ["2", "3", "2"], "p2024_02 got rows from both loads: {partitions}");
    assert!(rows.iter().all(|r| r[8] == "4" && r[9] == "3"), "Buckets 4, ReplicationNum 3: {partitions}");
    let row_counts: Vec<&str> = rows.iter().map(|r| r[21]).collect();
    // Row counts come from the backends' reports (next heartbeat); accept either before or after.
    assert!(row_counts.iter().all(|c| c.parse::<u64>().is_ok()), "{partitions}");

    // SHOW TABLETS: 12 tablets x 3 replicas, on 3 distinct backends per tablet, vertical (\G).
    let out = mysql(port, &["-uroot", "-D", "shop", "-e", "SHOW TABLETS FROM orders\\G"]);
    let vertical = text(&out.stdout);
    assert_eq!(vertical.matches(". row ***").count(), 36, "{vertical}");
    assert!(vertical.contains("LstFailedVersion: -1"), "{vertical}");
    let out = mysql(port, &["-uroot", "-D", "shop", "-N", "-B", "-e", "SHOW TABLETS FROM orders"]);
    let mut by_tablet: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for line in text(&out.stdout).lines() {
        let cells: Vec<&str> = line.split('\t').collect();
        by_tablet.entry(cells[0].to_string()).or_default().insert(cells[2].to_string());
    }
    assert_eq!(by_tablet.len(), 12);
    assert!(by_tablet.values().all(|b| b.len() == 3), "replicas on distinct backends: {by_tablet:?}");

    // Privileges: a reader can SELECT but not INSERT; a wrong password is refused.
    let out = mysql(
        port,
        &["-uroot", "-e", "CREATE USER 'ana'@'%' IDENTIFIED BY 'pw1'; GRANT SELECT_PRIV ON shop.* TO 'ana'@'%'"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mysql(port, &["-uana", "-ppw1", "-D", "shop", "-N", "-B", "-e", "SELECT count(*) FROM orders"]);
    assert_eq!(text(&out.stdout), "6\n", "{}", text(&out.stderr));
    let out =
        mysql(port, &["-uana", "-ppw1", "-D", "shop", "-e", "INSERT INTO orders VALUES ('2024-01-01', 9, 'x', 1)"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ERROR 1227 (42000)") && text(&out.stderr).contains("(LOAD)"),
        "{}",
        text(&out.stderr)
    );
    let out = mysql(port, &["-uana", "-ppw1", "-e", "ALTER SYSTEM ADD BACKEND \"h:1\""]);
    assert!(
        text(&out.stderr).contains("ERROR 1227 (42000)") && text(&out.stderr).contains("(ADMIN)"),
        "{}",
        text(&out.stderr)
    );
    let out = mysql(port, &["-uana", "-pnope", "-e", "SELECT 1"]);
    assert!(!out.status.success(), "a wrong password is refused");

    // Bad input: a row outside every partition, a value out of range, an unknown column.
    let out = mysql(port, &["-uroot", "-D", "shop", "-e", "INSERT INTO orders VALUES ('2025-01-01', 7, 'x', 1)"]);
    assert!(text(&out.stderr).contains("no partition of table orders holds dt = 2025-01-01"), "{}", text(&out.stderr));
    let out = mysql(port, &["-uroot", "-D", "shop", "-e", "SELECT nosuch FROM orders"]);
    assert!(text(&out.stderr).contains("Unknown column 'nosuch' in 'field list'"), "{}", text(&out.stderr));
    let out = mysql(port, &["-uroot", "-D", "shop", "-N", "-B", "-e", "SELECT count(*) FROM orders"]);
    assert_eq!(text(&out.stdout), "6\n", "failed statements changed nothing");
}

/// Waits until the newest backup of `db` has ended; returns its SHOW BACKUP row (tab-separated).
fn wait_backup_ended(port: u16, db: &str, standalone: &palo_tests::Proc) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = mysql(port, &["-uroot", "-N", "-B", "-e", &format!("SHOW BACKUP FROM {db}")]);
        let shown = text(&out.stdout);
        if let Some(last) = shown.lines().last() {
            let cells: Vec<String> = last.split('\t').map(str::to_string).collect();
            if cells.len() == 14 && (cells[3] == "FINISHED" || cells[3] == "CANCELLED") {
                return cells;
            }
        }
        assert!(Instant::now() < deadline, "the backup did not end:\n{shown}\n{}", standalone.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_backup_to_a_file_repository_through_the_mysql_client() {
    if !mysql_available() {
        return;
    }
    let dir = TempDir::new("mysql-backup");
    let (standalone, offset) = start_standalone(&dir, 33_000);
    let port = 9030 + offset;
    wait_for_backends(port, &standalone);
    let repo_dir = dir.path().join("repo");
    let setup = format!(
        "CREATE DATABASE shop; \
         CREATE TABLE shop.orders (dt DATE NOT NULL, id BIGINT NOT NULL, amount DECIMAL(10, 2)) DUPLICATE KEY(dt, id) \
         PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN (\"2024-02-01\"), PARTITION p2 VALUES LESS THAN \
         (\"2024-03-01\")) DISTRIBUTED BY HASH(id) BUCKETS 2; \
         INSERT INTO shop.orders VALUES ('2024-01-05', 1, 10.50), ('2024-02-11', 2, 7.00); \
         CREATE REPOSITORY frepo WITH BROKER local_broker ON LOCATION \"file://{}\"",
        repo_dir.display()
    );
    let out = mysql(port, &["-uroot", "-e", &setup]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), standalone.log());
    let out = mysql(port, &["-uroot", "-e", "BACKUP SNAPSHOT shop.snap1 TO frepo ON (orders PARTITION (p1, p2))"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), standalone.log());
    let job = wait_backup_ended(port, "shop", &standalone);
    assert_eq!((job[1].as_str(), job[3].as_str(), job[12].as_str()), ("snap1", "FINISHED", "[OK]"), "{job:?}");

    // Reference 5.1: __meta, __info_<ts> and one directory per tablet, every file named with the
    // md5 of its content.
    let snapshot = repo_dir.join("__palo_repository_frepo").join("__ss_snap1");
    let files = files_under(&snapshot);
    assert!(files.iter().any(|f| f.starts_with("__meta.")), "{files:?}");
    assert_eq!(files.iter().filter(|f| f.starts_with("__info_")).count(), 1, "{files:?}");
    let tablet_files: Vec<&String> = files.iter().filter(|f| f.starts_with("__ss_content/__db_")).collect();
    let tablets: std::collections::BTreeSet<&str> =
        tablet_files.iter().filter_map(|f| f.rsplit_once('/').map(|(d, _)| d)).collect();
    assert_eq!(tablets.len(), 4, "2 partitions x 2 buckets: {files:?}");
    assert!(
        tablets.iter().all(|t| t.contains("/__tbl_") && t.contains("/__part_") && t.contains("/__idx_")),
        "{tablets:?}"
    );
    assert_eq!(tablet_files.iter().filter(|f| f.contains(".hdr.")).count(), 4, "{files:?}");
    for f in &files {
        if f.ends_with("__owner") {
            continue;
        }
        let bytes = std::fs::read(snapshot.join(f)).expect("reads");
        let (_, md5) = palo_node::repository::split_md5(f).unwrap_or_else(|| panic!("{f} has no md5"));
        assert_eq!(palo_node::repository::md5_hex(&bytes), md5, "{f}");
    }
    let out = mysql(port, &["-uroot", "-N", "-B", "-e", "SHOW SNAPSHOT ON frepo"]);
    let shown = text(&out.stdout);
    assert!(shown.starts_with("snap1\t") && shown.trim_end().ends_with("\tOK"), "{shown}");
    let out = mysql(port, &["-uroot", "-e", "BACKUP SNAPSHOT shop.snap1 TO frepo"]);
    assert!(
        text(&out.stderr).contains("Snapshot with name 'snap1' already exist in repository"),
        "{}",
        text(&out.stderr)
    );
}

/// Runs statements as root and returns stdout as tab-separated rows, failing with the standalone
/// log when the client fails.
fn rows(port: u16, sql: &str, standalone: &palo_tests::Proc) -> Vec<Vec<String>> {
    let out = mysql(port, &["-uroot", "-N", "-B", "-e", sql]);
    assert!(out.status.success(), "`{sql}` failed: {}\n{}", text(&out.stderr), standalone.log());
    text(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// Waits until the newest restore of `db` has ended; returns its SHOW RESTORE row.
fn wait_restore_ended(port: u16, db: &str, standalone: &palo_tests::Proc) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let shown = rows(port, &format!("SHOW RESTORE FROM {db}"), standalone);
        if let Some(last) = shown.last()
            && last.len() == 19
            && (last[4] == "FINISHED" || last[4] == "CANCELLED")
        {
            return last.clone();
        }
        assert!(Instant::now() < deadline, "the restore did not end: {shown:?}\n{}", standalone.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// SHOW SNAPSHOT's timestamp of a snapshot.
fn snapshot_timestamp(port: u16, repo: &str, label: &str, standalone: &palo_tests::Proc) -> String {
    let shown = rows(port, &format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = \"{label}\""), standalone);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0][2], "OK", "{shown:?}");
    shown[0][1].clone()
}

const ORDERS: &str = "SELECT dt, id, amount FROM shop.orders ORDER BY id";

#[test]
fn restores_and_a_migration_through_the_mysql_client() {
    if !mysql_available() {
        return;
    }
    let dir = TempDir::new("mysql-restore");
    let (a, offset) = start_standalone(&dir, 36_000);
    let port = 9030 + offset;
    wait_for_backends(port, &a);
    let repo_dir = dir.path().join("repo");
    let setup = format!(
        "CREATE DATABASE shop; \
         CREATE TABLE shop.orders (dt DATE NOT NULL, id BIGINT NOT NULL, amount DECIMAL(10, 2)) DUPLICATE KEY(dt, id) \
         PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN (\"2024-02-01\"), PARTITION p2 VALUES LESS THAN \
         (\"2024-03-01\")) DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES (\"replication_num\" = \"3\"); \
         INSERT INTO shop.orders VALUES ('2024-01-05', 1, 10.50), ('2024-02-11', 2, 7.00); \
         INSERT INTO shop.orders VALUES ('2024-01-06', 3, 3.25), ('2024-02-12', 4, 4.00); \
         CREATE REPOSITORY frepo WITH BROKER local_broker ON LOCATION \"file://{}\"",
        repo_dir.display()
    );
    rows(port, &setup, &a);
    rows(port, "BACKUP SNAPSHOT shop.snap1 TO frepo", &a);
    let job = wait_backup_ended(port, "shop", &a);
    assert_eq!((job[3].as_str(), job[12].as_str()), ("FINISHED", "[OK]"), "{job:?}");
    let backed_up = rows(port, ORDERS, &a);
    assert_eq!(backed_up.len(), 4);
    let ts = snapshot_timestamp(port, "frepo", "snap1", &a);

    // 1. Restored under a new name (AS) with one replica per tablet: row for row the same.
    rows(
        port,
        &format!(
            "RESTORE SNAPSHOT shop.snap1 FROM frepo ON (orders AS orders_copy) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"1\")"
        ),
        &a,
    );
    let job = wait_restore_ended(port, "shop", &a);
    assert_eq!((job[4].as_str(), job[17].as_str(), job[6].as_str()), ("FINISHED", "[OK]", "1"), "{job:?}");
    assert_eq!(rows(port, "SELECT dt, id, amount FROM shop.orders_copy ORDER BY id", &a), backed_up);
    let partitions = rows(port, "SHOW PARTITIONS FROM shop.orders_copy", &a);
    assert_eq!(partitions.len(), 2, "{partitions:?}");
    assert!(partitions.iter().all(|p| p[9] == "1"), "ReplicationNum 1: {partitions:?}");
    let tablets = rows(port, "SHOW TABLETS FROM shop.orders_copy", &a);
    assert_eq!(tablets.len(), 4, "2 partitions x 2 buckets x 1 replica: {tablets:?}");

    // 2. A partition subset restored into the existing table: p1 goes back to its backed-up
    // rows (a later load there is undone), p2 keeps its later load.
    rows(port, "INSERT INTO shop.orders VALUES ('2024-01-20', 5, 5.00), ('2024-02-20', 6, 6.00)", &a);
    rows(
        port,
        &format!(
            "RESTORE SNAPSHOT shop.snap1 FROM frepo ON (orders PARTITION (p1)) PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
        &a,
    );
    let job = wait_restore_ended(port, "shop", &a);
    assert_eq!((job[4].as_str(), job[17].as_str()), ("FINISHED", "[OK]"), "{job:?}");
    let ids: Vec<String> = rows(port, ORDERS, &a).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "6"], "p1 as backed up, p2 with its later load");

    // 3. A table of the target name with another schema is refused with Doris's message, and
    // left alone.
    rows(
        port,
        "CREATE TABLE shop.other (dt DATE NOT NULL, id INT NOT NULL) DUPLICATE KEY(dt) DISTRIBUTED BY HASH(dt) BUCKETS 2",
        &a,
    );
    let out = mysql(
        port,
        &[
            "-uroot",
            "-e",
            &format!(
                "RESTORE SNAPSHOT shop.snap1 FROM frepo ON (orders AS other) PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
            ),
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Table other already exist but with different schema"), "{}", text(&out.stderr));

    // 4. Migration: a second, separate cluster creates the same repository (read only), sees the
    // snapshot, and restores it row for row.
    let dir_b = TempDir::new("mysql-restore-b");
    let (b, offset_b) = start_standalone(&dir_b, offset + 40);
    let port_b = 9030 + offset_b;
    wait_for_backends(port_b, &b);
    rows(
        port_b,
        &format!(
            "CREATE READ ONLY REPOSITORY frepo WITH BROKER local_broker ON LOCATION \"file://{}\"",
            repo_dir.display()
        ),
        &b,
    );
    assert_eq!(snapshot_timestamp(port_b, "frepo", "snap1", &b), ts);
    rows(
        port_b,
        &format!(
            "CREATE DATABASE shop; RESTORE SNAPSHOT shop.snap1 FROM frepo PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
        &b,
    );
    let job = wait_restore_ended(port_b, "shop", &b);
    assert_eq!((job[4].as_str(), job[17].as_str()), ("FINISHED", "[OK]"), "{job:?}");
    assert_eq!(rows(port_b, ORDERS, &b), backed_up, "the second cluster holds the backed-up rows");
    let out = mysql(port_b, &["-uroot", "-e", "BACKUP SNAPSHOT shop.back TO frepo"]);
    assert!(text(&out.stderr).contains("Repository frepo is read only"), "{}", text(&out.stderr));
}
