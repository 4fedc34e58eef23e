//! The real `mysql` client (Debian's default-mysql-client, installed by `.ci/run`) against
//! `palo-node standalone` on the MySQL protocol port.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use palo_tests::{TempDir, start_standalone};

fn mysql_available() -> bool {
    match Command::new("mysql").arg("--version").output() {
        Ok(out) => out.status.success(),
        Err(_) => {
            // CI installs the client, so there its absence is a failure, not a skip.
            assert!(std::env::var_os("CI").is_none(), "the mysql client is missing on CI (.ci/run installs it)");
            eprintln!("SKIPPED: no `mysql` client on this machine (apt-get install default-mysql-client)");
            false
        }
    }
}

fn mysql(port: u16, args: &[&str]) -> Output {
    Command::new("mysql")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "--connect-timeout=5"])
        .args(args)
        .output()
        .expect("mysql runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
