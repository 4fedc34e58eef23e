//! `palo-node --help` explains every role and flag. (Also makes cargo build the binary that the
//! real-mode integration tests in `tests/` start as processes.)

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_palo-node")).args(args).output().expect("palo-node runs");
    assert!(out.status.success(), "palo-node {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn top_level_help_lists_the_four_roles() {
    let text = help(&["--help"]);
    for role in ["fe", "be", "broker", "standalone"] {
        assert!(text.contains(&format!("  {role}")), "role {role} missing from:\n{text}");
    }
}

#[test]
fn every_role_documents_its_flags() {
    let cases: [(&str, &[&str]); 4] = [
        ("fe", &["--config", "--grpc-port", "--meta-dir", "--advertise-host", "--heartbeat-interval-ms"]),
        ("be", &["--config", "--port", "--storage-root"]),
        ("broker", &["--config", "--port"]),
        ("standalone", &["--data", "--port-offset", "--backends"]),
    ];
    for (role, flags) in cases {
        let text = help(&[role, "--help"]);
        for flag in flags {
            assert!(text.contains(flag), "{role} --help lacks {flag}:\n{text}");
        }
    }
}

#[test]
fn a_config_file_with_a_typo_is_refused_with_the_key_named() {
    let dir = std::env::temp_dir().join(format!("palo-node-help-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("fe.toml");
    std::fs::write(&file, "grpc_prot = 9020\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_palo-node"))
        .args(["fe", "--config"])
        .arg(&file)
        .output()
        .expect("palo-node runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("grpc_prot"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
