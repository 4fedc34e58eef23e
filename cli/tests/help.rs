//! `palo sql --help` and `palo sql` against an FE that is not there.

use std::process::Command;

#[test]
fn sql_help_explains_its_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_palo")).args(["sql", "--help"]).output().expect("palo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--fe", "--execute", "--timeout-secs", "--user", "--password", "PALO_PASSWORD", "\\G", ".palo_history"]
    {
        assert!(text.contains(flag), "palo sql --help lacks {flag}:\n{text}");
    }
}

#[test]
fn help_does_not_show_the_password_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_palo"))
        .args(["sql", "--help"])
        .env("PALO_PASSWORD", "hunter2-secret")
        .output()
        .expect("palo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PALO_PASSWORD"), "{text}");
    assert!(!text.contains("hunter2-secret"), "the password leaked into --help:\n{text}");
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
