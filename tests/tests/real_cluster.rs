//! The real binaries as separate processes on loopback: an FE, three BEs and a broker register,
//! are shown alive, a killed BE is shown dead, and membership survives an FE power loss.
//! And `palo-node standalone` answers `palo sql -e "SHOW BACKENDS"` with three alive backends,
//! checks `palo sql`'s user and password, and prints rows vertically for `\G`.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use palo_node::client::SqlClient;
use palo_node::fe::QueryOutput;
use palo_node::rpc::RpcTimeouts;
use palo_tests::{Proc, TempDir, binary, eventually, free_port, start_standalone};

const BOUND: Duration = Duration::from_secs(60);

/// (Alive, key column) per row of a SHOW statement, or None if the FE did not answer.
async fn show(fe: &str, statement: &str, key: &str) -> Option<Vec<(String, bool)>> {
    let mut client = SqlClient::new(fe, RpcTimeouts { connect_ms: 1_000, request_ms: 5_000 }).ok()?;
    let QueryOutput::Rows { columns, rows } = client.execute(statement).await.ok()? else { return None };
    let key_at = columns.iter().position(|c| c == key)?;
    let alive_at = columns.iter().position(|c| c == "Alive")?;
    Some(
        rows.iter()
            .map(|r| {
                let cell = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                (cell(key_at), cell(alive_at) == "true")
            })
            .collect(),
    )
}

fn fe_args(port: u16, meta: &std::path::Path) -> Vec<String> {
    vec![
        "fe".into(),
        "--listen-host".into(),
        "127.0.0.1".into(),
        "--advertise-host".into(),
        "127.0.0.1".into(),
        "--grpc-port".into(),
        port.to_string(),
        "--meta-dir".into(),
        meta.display().to_string(),
        "--heartbeat-interval-ms".into(),
        "200".into(),
    ]
}

#[tokio::test]
async fn separate_processes_join_are_shown_alive_and_survive_an_fe_restart() {
    let dir = TempDir::new("processes");
    let node = binary("palo-node");
    let fe_port = free_port();
    let fe_addr = format!("127.0.0.1:{fe_port}");
    let meta = dir.path().join("fe-meta");
    let mut fe = Proc::start("fe", &node, &fe_args(fe_port, &meta), dir.path());

    let mut backends = Vec::new();
    let mut be_ports = Vec::new();
    for i in 0..3 {
        let port = free_port();
        let args: Vec<String> = vec![
            "be".into(),
            "--listen-host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--storage-root".into(),
            dir.path().join(format!("be{i}")).display().to_string(),
        ];
        backends.push(Proc::start(&format!("be{i}"), &node, &args, dir.path()));
        be_ports.push(port);
    }
    let broker_port = free_port();
    let broker_args: Vec<String> =
        vec!["broker".into(), "--listen-host".into(), "127.0.0.1".into(), "--port".into(), broker_port.to_string()];
    let _broker = Proc::start("broker", &node, &broker_args, dir.path());

    // Register everything through the SQL endpoint, as an operator would.
    let add_backends = format!(
        "ALTER SYSTEM ADD BACKEND {}",
        be_ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect::<Vec<_>>().join(", ")
    );
    let add_broker = format!("ALTER SYSTEM ADD BROKER hdfs_broker \"127.0.0.1:{broker_port}\"");
    for statement in [add_backends, add_broker, "CREATE DATABASE sales".to_string()] {
        eventually(BOUND, &format!("the FE to accept {statement}"), || {
            let statement = statement.clone();
            let fe_addr = fe_addr.clone();
            async move {
                let mut client = SqlClient::new(&fe_addr, RpcTimeouts::STATEMENT).ok()?;
                client.execute(&statement).await.ok()
            }
        })
        .await;
    }

    let all_alive = |statement: &'static str, key: &'static str, n: usize| {
        let fe_addr = fe_addr.clone();
        move || {
            let fe_addr = fe_addr.clone();
            async move {
                let rows = show(&fe_addr, statement, key).await?;
                (rows.len() == n && rows.iter().all(|(_, alive)| *alive)).then_some(rows)
            }
        }
    };
    let rows = eventually(BOUND, "three backends alive", all_alive("SHOW BACKENDS", "BackendId", 3)).await;
    let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
    eventually(BOUND, "the broker alive", all_alive("SHOW BROKER", "Name", 1)).await;

    // A BE that dies is shown dead.
    backends[0].kill();
    eventually(BOUND, "the killed backend shown dead", || {
        let fe_addr = fe_addr.clone();
        async move {
            let rows = show(&fe_addr, "SHOW BACKENDS", "BackendId").await?;
            (rows.iter().filter(|(_, alive)| !*alive).count() == 1).then_some(())
        }
    })
    .await;

    // Power loss of the FE: the journal brings membership back, ids and all.
    fe.kill();
    let _fe = Proc::start("fe-restarted", &node, &fe_args(fe_port, &meta), dir.path());
    let after = eventually(BOUND, "the restarted FE to list the same backends", || {
        let fe_addr = fe_addr.clone();
        async move { show(&fe_addr, "SHOW BACKENDS", "BackendId").await.filter(|rows| rows.len() == 3) }
    })
    .await;
    let after_ids: Vec<String> = after.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, after_ids, "backend ids changed across an FE restart");
    let mut client = SqlClient::new(&fe_addr, RpcTimeouts::STATEMENT).expect("client");
    let databases = client.execute("SHOW DATABASES").await.expect("SHOW DATABASES after restart");
    assert_eq!(
        databases,
        QueryOutput::Rows { columns: vec!["Database".into()], rows: vec![vec![Some("sales".into())]] },
        "the database created before the FE restart"
    );
    client.execute("USE sales").await.expect("USE an existing database");
    let missing = client.execute("USE nosuch").await.expect_err("USE of a missing database fails");
    assert!(missing.to_string().contains("ERROR 1049 (42000): Unknown database 'nosuch'"), "{missing}");
}

#[test]
fn standalone_answers_palo_sql_with_three_alive_backends() {
    let dir = TempDir::new("standalone");
    let (mut standalone, offset) = start_standalone(&dir, 20_000);
    let fe = format!("127.0.0.1:{}", 9020 + offset);
    let palo = binary("palo");

    let deadline = std::time::Instant::now() + BOUND;
    let table = loop {
        let out = Command::new(&palo).args(["sql", "--fe", &fe, "-e", "SHOW BACKENDS"]).output().expect("palo runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let alive_rows = text.lines().filter(|l| l.starts_with('|') && l.contains("| true ")).count();
        if out.status.success() && alive_rows == 3 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "palo sql never showed 3 alive backends; last output:\n{text}\n{}\nstandalone log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            standalone.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(table.contains("| BackendId |"), "MySQL-style header expected:\n{table}");
    assert!(table.contains("3 rows in set"), "{table}");

    // Ctrl-C stops the whole cluster cleanly.
    assert!(
        standalone.interrupt(Duration::from_secs(20)),
        "standalone did not exit cleanly on SIGINT:\n{}",
        standalone.log()
    );
}

/// `palo sql --fe <fe> <args>`, with nothing on standard input and no login from the environment.
fn palo_sql(fe: &str, args: &[&str]) -> Output {
    palo_sql_with(fe, args, &[], "")
}

/// `palo sql --fe <fe> <args>` with `env` set and `input` on standard input.
fn palo_sql_with(fe: &str, args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    let mut child = Command::new(binary("palo"))
        .args(["sql", "--fe", fe])
        .args(args)
        .env_remove("PALO_USER")
        .env_remove("PALO_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("palo runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write palo's input");
    }
    child.wait_with_output().expect("palo finishes")
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Waits until `palo sql` gets an answer from the standalone FE at `fe`.
/// Waits until `palo sql` gets an answer (`start_standalone` has waited for the standalone to
/// be up, members registered).
fn wait_for_sql(fe: &str, standalone: &Proc) {
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let output = palo_sql(fe, &["--timeout-secs", "5", "-e", "SHOW DATABASES"]);
        if output.status.success() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "palo sql never got an answer: {}\nstandalone log:\n{}",
            err(&output),
            standalone.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn palo_sql_logs_in_with_a_password_and_runs_with_the_users_privileges() {
    let dir = TempDir::new("login");
    let (standalone, offset) = start_standalone(&dir, 22_000);
    let fe = format!("127.0.0.1:{}", 9020 + offset);
    wait_for_sql(&fe, &standalone);

    let created = palo_sql(&fe, &["-e", "CREATE USER 'ops'@'%' IDENTIFIED BY 'pw1'"]);
    assert!(created.status.success(), "root creates a user: {}", err(&created));

    let wrong = palo_sql(&fe, &["-u", "ops", "-p", "wrong", "-e", "SHOW DATABASES"]);
    assert!(!wrong.status.success());
    assert!(
        err(&wrong).contains("ERROR 1045 (28000): Access denied for user 'ops'@'127.0.0.1' (using password: YES)"),
        "{}",
        err(&wrong)
    );
    let none = palo_sql(&fe, &["--user", "ops", "-e", "SHOW DATABASES"]);
    assert!(!none.status.success());
    assert!(err(&none).contains("Access denied for user 'ops'@'127.0.0.1' (using password: NO)"), "{}", err(&none));
    let nobody = palo_sql(&fe, &["-u", "nobody", "-p", "pw1", "-e", "SHOW DATABASES"]);
    assert!(err(&nobody).contains("ERROR 1045 (28000): Access denied for user 'nobody'"), "{}", err(&nobody));
    // root has no password: only the empty one is right.
    let root = palo_sql(&fe, &["-u", "root", "-p", "pw1", "-e", "SHOW DATABASES"]);
    assert!(err(&root).contains("Access denied for user 'root'@'127.0.0.1' (using password: YES)"), "{}", err(&root));

    let right = palo_sql(&fe, &["-u", "ops", "-ppw1", "-e", "SELECT CURRENT_USER()"]);
    assert!(right.status.success(), "the right password: {}", err(&right));
    assert!(out(&right).contains("| 'ops'@'%'      |"), "{}", out(&right));

    // The password from the environment; the statement runs as ops, who is no admin.
    let denied =
        palo_sql_with(&fe, &["-u", "ops", "-e", "ALTER SYSTEM ADD BACKEND \"h:1\""], &[("PALO_PASSWORD", "pw1")], "");
    assert!(!denied.status.success());
    assert!(
        err(&denied).contains("ERROR 1227 (42000): Access denied; you need (at least one of) the (ADMIN) privilege"),
        "{}",
        err(&denied)
    );
    let backends = palo_sql(&fe, &["-e", "SHOW BACKENDS"]);
    assert!(!out(&backends).contains("| h "), "the denied backend was added:\n{}", out(&backends));
}

#[test]
fn palo_sql_prints_rows_vertically_for_backslash_g() {
    let dir = TempDir::new("vertical");
    let (standalone, offset) = start_standalone(&dir, 24_000);
    let fe = format!("127.0.0.1:{}", 9020 + offset);
    wait_for_sql(&fe, &standalone);

    let vertical = "\
*************************** 1. row ***************************
CURRENT_USER(): 'root'@'%'
     VERSION(): ";
    // -e: statements ended by `\G` and by `;` in one script.
    let output = palo_sql(&fe, &["-e", "CREATE DATABASE sales; SELECT CURRENT_USER(), VERSION()\\G SHOW DATABASES"]);
    assert!(output.status.success(), "{}", err(&output));
    let text = out(&output);
    assert!(text.contains(vertical), "vertical rows expected:\n{text}");
    assert!(text.contains("\n1 row in set"), "{text}");
    assert!(text.contains("| Database |\n+----------+\n| sales    |"), "a table for `;`:\n{text}");

    // A script on standard input, a statement over two lines.
    let output = palo_sql_with(&fe, &[], &[], "SHOW DATABASES\n\\G\nSELECT CURRENT_USER();\n");
    assert!(output.status.success(), "{}", err(&output));
    let text = out(&output);
    assert!(
        text.contains("*************************** 1. row ***************************\nDatabase: sales\n1 row in set"),
        "{text}"
    );
    assert!(text.contains("| CURRENT_USER() |"), "{text}");
}

#[test]
fn a_file_repository_through_the_broker_is_marked_and_adopted() {
    let dir = TempDir::new("repository");
    let (standalone, offset) = start_standalone(&dir, 25_000);
    let fe = format!("127.0.0.1:{}", 9020 + offset);
    wait_for_sql(&fe, &standalone);
    let location = dir.path().join("backups");
    let location = format!("file://{}", location.display());

    let create = format!("CREATE REPOSITORY repo1 WITH BROKER local_broker ON LOCATION \"{location}\"");
    let output = palo_sql(&fe, &["-e", &create]);
    assert!(output.status.success(), "{}\n{}", err(&output), standalone.log());
    // Doris's layout: __palo_repository_<name>/__repo_info, JSON with the name and create time.
    let info_path = dir.path().join("backups/__palo_repository_repo1/__repo_info");
    let info = std::fs::read_to_string(&info_path).unwrap_or_else(|e| panic!("{}: {e}", info_path.display()));
    assert!(info.contains("\"name\":\"repo1\"") && info.contains("\"create_time\":"), "{info}");

    let output = palo_sql(&fe, &["-e", "SHOW REPOSITORIES\\G"]);
    let text = out(&output);
    assert!(
        text.contains("RepoName: repo1") && text.contains("Type: BROKER") && text.contains("ErrMsg: NULL"),
        "{text}"
    );

    // Dropped and created again: the repository at the location is adopted, create time and all.
    let created: String = text.lines().find(|l| l.trim_start().starts_with("CreateTime:")).unwrap_or_default().into();
    let output = palo_sql(&fe, &["-e", "DROP REPOSITORY repo1"]);
    assert!(output.status.success(), "{}", err(&output));
    assert!(info_path.exists(), "DROP REPOSITORY leaves the files");
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let output = palo_sql(&fe, &["-e", &create]);
    assert!(output.status.success(), "{}", err(&output));
    let text = out(&palo_sql(&fe, &["-e", "SHOW REPOSITORIES\\G"]));
    assert!(text.contains(created.trim()), "create time adopted ({created}):\n{text}");

    // A directly reached S3 repository without keys is refused with what to add.
    let output = palo_sql(
        &fe,
        &[
            "-e",
            "CREATE REPOSITORY s3r WITH S3 ON LOCATION \"s3://bucket/p\" PROPERTIES (\"s3.endpoint\" = \"http://127.0.0.1:1\")",
        ],
    );
    assert!(!output.status.success());
    assert!(err(&output).contains("s3.access_key and s3.secret_key are required"), "{}", err(&output));
}
