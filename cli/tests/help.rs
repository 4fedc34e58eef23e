//! `palo --help` and `palo sql` against an FE that is not there.

use std::process::Command;

#[test]
fn sql_help_explains_its_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_palo")).args(["sql", "--help"]).output().expect("palo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--fe", "--execute", "--timeout-secs"] {
        assert!(text.contains(flag), "palo sql --help lacks {flag}:\n{text}");
    }
}

#[test]
fn an_unreachable_fe_is_an_error_not_a_hang() {
    // Port 1 on loopback has no listener.
    let out = Command::new(env!("CARGO_BIN_EXE_palo"))
        .args(["sql", "--fe", "127.0.0.1:1", "--timeout-secs", "3", "-e", "SHOW BACKENDS"])
        .output()
        .expect("palo runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the FE at 127.0.0.1:1"), "{stderr}");
}
