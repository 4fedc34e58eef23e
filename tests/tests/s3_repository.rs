//! Repositories on a real S3-compatible server: moto (`moto_server`, installed by `.ci/run`)
//! on a free loopback port, reached directly (`WITH S3`) and through the broker
//! (`WITH BROKER` with an `s3://` location).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use palo_tests::{Proc, TempDir, free_port, start_standalone};

fn moto_available() -> bool {
    match Command::new("moto_server").arg("--help").output() {
        Ok(out) if out.status.success() => true,
        _ => {
            // CI installs moto, so there its absence is a failure, not a skip.
            assert!(std::env::var_os("CI").is_none(), "moto_server is missing on CI (.ci/run installs it)");
            eprintln!("SKIPPED: no moto_server on this machine (pip install 'moto[s3,server]')");
            false
        }
    }
}

/// One plain HTTP/1.1 request (moto does not check signatures); returns status and body.
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

fn palo_sql(fe: &str, sql: &str) -> Output {
    Command::new(palo_tests::binary("palo")).args(["sql", "--fe", fe, "-e", sql]).output().expect("palo runs")
}

/// CreateTime of a repository, from SHOW REPOSITORIES.
fn create_time(fe: &str, name: &str) -> String {
    let out = palo_sql(fe, "SHOW REPOSITORIES\\G");
    let shown = text(&out.stdout);
    let block = shown.split("RepoName: ").find(|b| b.starts_with(name)).unwrap_or_else(|| panic!("{shown}"));
    block.lines().find_map(|l| l.trim().strip_prefix("CreateTime: ")).unwrap_or_default().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn s3_repositories_on_moto_directly_and_through_the_broker() {
    if !moto_available() {
        return;
    }
    let dir = TempDir::new("s3-repo");
    let port = free_port();
    let moto = Proc::start(
        "moto",
        std::path::Path::new("moto_server"),
        &["-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()],
        dir.path(),
    );
    // Ready when the bucket can be created.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, _)) = http(port, "PUT", "/palo-bucket") {
            break;
        }
        assert!(Instant::now() < deadline, "moto did not come up:\n{}", moto.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let (standalone, offset) = start_standalone(&dir, 26_000);
    let fe = format!("127.0.0.1:{}", 9020 + offset);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !palo_sql(&fe, "SHOW BROKER").status.success()
        || !text(&palo_sql(&fe, "SHOW BROKER").stdout).contains("| true")
    {
        assert!(Instant::now() < deadline, "the broker is not alive:\n{}", standalone.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    let properties = format!(
        "PROPERTIES (\"s3.endpoint\" = \"http://127.0.0.1:{port}\", \"s3.region\" = \"us-east-1\", \
         \"s3.access_key\" = \"testak\", \"s3.secret_key\" = \"testsk-secret\")"
    );
    for (name, with) in [("direct", "S3"), ("brokered", "BROKER local_broker")] {
        let create =
            format!("CREATE REPOSITORY {name} WITH {with} ON LOCATION \"s3://palo-bucket/backups\" {properties}");
        let out = palo_sql(&fe, &create);
        assert!(out.status.success(), "{name}: {}\n{}", text(&out.stderr), standalone.log());
        // Dropped and created again: its __repo_info is found in the bucket and adopted (the
        // create time stays), which shows the file is there.
        let before = create_time(&fe, name);
        assert!(before.len() == "2026-01-01 00:00:00".len(), "{name}: a create time, not {before:?}");
        std::thread::sleep(Duration::from_millis(1_100));
        assert!(palo_sql(&fe, &format!("DROP REPOSITORY {name}")).status.success());
        let out = palo_sql(&fe, &create);
        assert!(out.status.success(), "{name} again: {}", text(&out.stderr));
        assert_eq!(create_time(&fe, name), before, "{name}: the repository in the bucket is adopted");
    }
    // The credentials are nowhere in the journal (edit log and images), which an operator may
    // copy around: they live apart, in a file of the meta directory only its owner reads.
    let meta = dir.path().join("data/fe/meta");
    let mut journal_files = 0;
    for entry in std::fs::read_dir(&meta).expect("the meta dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).expect("readable by its owner");
        let holds = bytes.windows(b"testsk-secret".len()).any(|w| w == b"testsk-secret");
        if name.starts_with("edits.") || name.starts_with("image.") {
            journal_files += 1;
            assert!(!holds, "{name} holds the secret key");
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = entry.metadata().expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
    assert!(journal_files > 0, "the journal is there");
    assert!(!standalone.log().contains("testsk-secret"), "no log line prints a secret");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&meta).expect("stat").permissions().mode() & 0o777, 0o700);
    let out = palo_sql(&fe, "SHOW REPOSITORIES\\G");
    let shown = text(&out.stdout);
    assert_eq!(shown.matches("ErrMsg: NULL").count(), 2, "{shown}");
    assert!(!shown.contains("testsk-secret"), "secrets are never shown");
    let out = palo_sql(&fe, "SHOW CREATE REPOSITORY FOR direct");
    assert!(
        !text(&out.stdout).contains("testsk-secret") && text(&out.stdout).contains("*XXX"),
        "{}",
        text(&out.stdout)
    );

    // A backup to the bucket, directly and through the broker, submitted and watched with the
    // mysql client (when this machine has it; CI does). The objects follow docs/jobs.md, "Repository layout".
    if Command::new("mysql").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let mysql_port = (9030 + offset).to_string();
        let mysql = |sql: &str| {
            Command::new("mysql")
                .args(["-h", "127.0.0.1", "-P", &mysql_port, "--connect-timeout=5", "-uroot", "-N", "-B", "-e", sql])
                .output()
                .expect("mysql runs")
        };
        let out = mysql(
            "CREATE DATABASE shop; CREATE TABLE shop.t (k BIGINT NOT NULL, v VARCHAR(8)) DUPLICATE KEY(k) \
             DISTRIBUTED BY HASH(k) BUCKETS 3 PROPERTIES (\"replication_num\" = \"1\"); \
             INSERT INTO shop.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        );
        assert!(out.status.success(), "{}\n{}", text(&out.stderr), standalone.log());
        for (label, repo) in [("to_direct", "direct"), ("to_brokered", "brokered")] {
            let out = mysql(&format!("BACKUP SNAPSHOT shop.{label} TO {repo}"));
            assert!(out.status.success(), "{label}: {}\n{}", text(&out.stderr), standalone.log());
            let deadline = Instant::now() + Duration::from_secs(120);
            let row = loop {
                let shown = text(&mysql(&format!("SHOW BACKUP FROM shop WHERE SnapshotName = \"{label}\"")).stdout);
                let cells: Vec<String> = shown.trim_end().split('\t').map(str::to_string).collect();
                if cells.len() == 14 && (cells[3] == "FINISHED" || cells[3] == "CANCELLED") {
                    break cells;
                }
                assert!(Instant::now() < deadline, "{label} did not end: {shown}\n{}", standalone.log());
                std::thread::sleep(Duration::from_millis(300));
            };
            assert_eq!((row[3].as_str(), row[12].as_str()), ("FINISHED", "[OK]"), "{label}: {row:?}");
            // The bucket's listing (S3 ListObjectsV2) holds __meta, __info and the tablets' files.
            let prefix = format!("backups/__palo_repository_{repo}/__ss_{label}/");
            let (status, listing) = http(port, "GET", &format!("/palo-bucket?list-type=2&prefix={prefix}"))
                .expect("moto answers a listing");
            assert_eq!(status, 200, "{listing}");
            assert!(listing.contains(&format!("{prefix}__meta.")), "{listing}");
            assert!(listing.contains(&format!("{prefix}__info_")), "{listing}");
            assert_eq!(listing.matches(".hdr.").count(), 3, "one header per tablet: {listing}");
            let shown = text(&mysql(&format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = \"{label}\"")).stdout);
            assert!(shown.trim_end().ends_with("\tOK"), "{shown}");
        }

        // Migration over S3: a second, separate cluster creates the same repositories, sees both
        // snapshots and restores them, row for row.
        let source_rows = text(&mysql("SELECT k, v FROM shop.t ORDER BY k").stdout);
        assert_eq!(source_rows, "1\ta\n2\tb\n3\tc\n");
        let dir_b = TempDir::new("s3-repo-b");
        let (b, offset_b) = start_standalone(&dir_b, offset + 40);
        let port_b = (9030 + offset_b).to_string();
        let mysql_b = |sql: &str| {
            Command::new("mysql")
                .args(["-h", "127.0.0.1", "-P", &port_b, "--connect-timeout=5", "-uroot", "-N", "-B", "-e", sql])
                .output()
                .expect("mysql runs")
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !text(&mysql_b("SHOW BROKER").stdout).contains("\ttrue\t")
            || text(&mysql_b("SHOW BACKENDS").stdout).matches("\ttrue\t").count() < 3
        {
            assert!(Instant::now() < deadline, "cluster b did not come up:\n{}", b.log());
            std::thread::sleep(Duration::from_millis(300));
        }
        let out = mysql_b("CREATE DATABASE shop");
        assert!(out.status.success(), "{}", text(&out.stderr));
        for (label, repo, with, table) in [
            ("to_direct", "direct", "S3", "from_direct"),
            ("to_brokered", "brokered", "BROKER local_broker", "from_brokered"),
        ] {
            let create = format!(
                "CREATE READ ONLY REPOSITORY {repo} WITH {with} ON LOCATION \"s3://palo-bucket/backups\" {properties}"
            );
            let out = mysql_b(&create);
            assert!(out.status.success(), "{repo} on cluster b: {}\n{}", text(&out.stderr), b.log());
            let shown = text(&mysql_b(&format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = \"{label}\"")).stdout);
            let cells: Vec<&str> = shown.trim_end().split('\t').collect();
            assert_eq!(cells.len(), 3, "{shown}");
            assert_eq!(cells[2], "OK", "cluster b sees cluster a's snapshot: {shown}");
            let restore = format!(
                "RESTORE SNAPSHOT shop.{label} FROM {repo} ON (t AS {table}) PROPERTIES (\"backup_timestamp\" = \"{}\", \
                 \"replication_num\" = \"1\")",
                cells[1]
            );
            let out = mysql_b(&restore);
            assert!(out.status.success(), "{label}: {}\n{}", text(&out.stderr), b.log());
            let deadline = Instant::now() + Duration::from_secs(120);
            let row = loop {
                let shown = text(&mysql_b(&format!("SHOW RESTORE FROM shop WHERE Label = \"{label}\"")).stdout);
                let cells: Vec<String> = shown.trim_end().split('\t').map(str::to_string).collect();
                if cells.len() == 19 && (cells[4] == "FINISHED" || cells[4] == "CANCELLED") {
                    break cells;
                }
                assert!(Instant::now() < deadline, "{label} did not end: {shown}\n{}", b.log());
                std::thread::sleep(Duration::from_millis(300));
            };
            assert_eq!((row[4].as_str(), row[17].as_str()), ("FINISHED", "[OK]"), "{label}: {row:?}");
            let restored = text(&mysql_b(&format!("SELECT k, v FROM shop.{table} ORDER BY k")).stdout);
            assert_eq!(restored, source_rows, "{table} on cluster b holds cluster a's rows");
        }
    }

    // A bucket that does not exist is refused at CREATE, with the store's reason.
    let out = palo_sql(
        &fe,
        &format!("CREATE REPOSITORY nobucket WITH S3 ON LOCATION \"s3://no-such-bucket/x\" {properties}"),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Failed to create repository"), "{}", text(&out.stderr));
}
